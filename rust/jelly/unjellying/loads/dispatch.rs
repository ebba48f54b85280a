//! The general dispatch: an item is a scalar, or a list whose tag decides
//! what it makes; a built-in tag known to need no check is told from its
//! bytes, any other goes through [`Frame::begin`] and its items are taken
//! as the frame asks (unjellied, as pairs, or raw).

use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::{Reader, Result, Value};
use crate::banana::decoder::{self, Limits, Token};
use crate::banana::error::{DecodeError, ErrorKind};
use crate::jelly::depth::{jelly_too_deep, Depth};
use crate::jelly::tags::Builtin;
use crate::jelly::unjellying::frame::{Frame, Mode};
use crate::jelly::unjellying::references::{dereference_building, is_not_known};
use crate::jelly::unjellying::values::{
    boolean, plain_date_or_time, plain_decimal, unicode, PLAIN_EXPONENT,
};

impl<'a, 'py> Reader<'a, 'py> {
    /// The next item, unjellied. Its first two words say at once what
    /// most items are (see [`Reader::shaped`]); the rest take the general
    /// way ([`Reader::short_scalar`], then [`Reader::value`]).
    #[inline(always)]
    pub(super) fn item(&mut self) -> Result<Value<'py>> {
        if self.shapes {
            let start = self.pos;
            let (first, second) = self.words_at(start);
            if let Some(value) = self.shaped(first, second, start) {
                return value;
            }
        }
        if let Some(scalar) = self.short_scalar() {
            return Ok(Value::Plain(scalar?));
        }
        self.value()
    }

    /// The next item, unjellied, the general way: what
    /// [`Reader::item`] does not read from its shape.
    fn value(&mut self) -> Result<Value<'py>> {
        let start = self.pos;
        if let Some((count, header)) = self.short_list(start) {
            self.pos += header;
            return self.expression(count, start);
        }
        match self.token()? {
            Token::List(count) => self.expression(count, start),
            scalar => Ok(Value::Plain(self.scalar(scalar, start)?)),
        }
    }

    /// The next item, unjellied, for anything but a dictionary or a list.
    pub(super) fn object(&mut self) -> Result<Bound<'py, PyAny>> {
        Ok(self.checked_object()?.0)
    }

    /// The next item, unjellied, for anything but a dictionary or a list,
    /// and whether it is a forward-reference placeholder.
    #[inline(always)]
    pub(super) fn checked_object(&mut self) -> Result<(Bound<'py, PyAny>, bool)> {
        Ok(match self.item()? {
            Value::Plain(object) => (object, false),
            Value::Ready(object) => {
                let unknown = is_not_known(&object, self.refs)?;
                (object, unknown)
            }
            Value::Building(_, index) => (self.me.placeholder(self.py, self.refs, index)?, true),
        })
    }

    /// The next item as the s-expression it is.
    pub(super) fn raw(&mut self) -> Result<Bound<'py, PyAny>> {
        let start = self.pos;
        if self.short_list(start).is_none() {
            if let Some((token, used)) = self.peek(start) {
                if !matches!(token, Token::List(_)) {
                    self.pos += used;
                    return self.scalar(token, start);
                }
            }
        }
        let limits = Limits {
            depth: self.limits.depth.saturating_sub(self.lists),
            ..self.limits
        };
        let value = decoder::decode_at(self.input, &mut self.pos, &mut self.scalars, &limits)?;
        Ok(value.into_bound(self.py))
    }

    /// Enter a list of `count` items that is a jelly expression: the depth
    /// limits, and the tag that every expression needs.
    #[inline(always)]
    pub(super) fn open(&mut self, count: u64, start: usize) -> Result<(Depth<'a>, usize)> {
        if self.lists >= self.limits.depth {
            let limit = self.limits.depth;
            return Err(DecodeError::new(start as u64, ErrorKind::TooDeep { limit }).into());
        }
        let Some(level) = Depth::enter(&self.me.depth, self.me.max_jelly_depth()) else {
            return Err(jelly_too_deep(self.py, self.refs, self.me.max_jelly_depth()).into());
        };
        if count == 0 {
            let message = "jelly expression [] has 0 items, needs at least 1";
            return Err(self.refs.insecure(self.py, message).into());
        }
        self.lists += 1;
        Ok((level, (count - 1) as usize))
    }

    /// A list of `count` items, the list header just read at `start`.
    fn expression(&mut self, count: u64, start: usize) -> Result<Value<'py>> {
        let stack = self.stack;
        stack.level(|| {
            let (_level, rest) = self.open(count, start)?;
            let value = self.tagged(rest);
            self.lists -= 1;
            value
        })
    }

    /// The tag and `rest` items of an expression.
    fn tagged(&mut self, rest: usize) -> Result<Value<'py>> {
        if let Some((builtin, used)) = self.container_tag() {
            self.pos += used;
            return self.builtin(builtin, rest);
        }
        if let Some((name, used)) = self.short_tag(self.pos) {
            if let Some(builtin) = self.me.known_builtin(name) {
                self.pos += used;
                return self.builtin(builtin, rest);
            }
            if let Some(builtin) = Builtin::named(name) {
                if self.me.check_builtin(self.py, self.refs, builtin)? {
                    self.pos += used;
                    return self.builtin(builtin, rest);
                }
            }
        }
        // The tag as Twisted's unjelly sees it: the s-expression item.
        let tag = self.raw()?;
        let frame = Frame::begin(self.slf, self.me, self.refs, &tag, self.capacity(rest))?;
        self.fill(frame, rest)
    }

    /// An expression with a built-in tag known to need no check.
    pub(super) fn builtin(&mut self, builtin: Builtin, rest: usize) -> Result<Value<'py>> {
        let py = self.py;
        let refs = self.refs;
        // The shapes jelly writes, read straight off the tokens; anything
        // else takes the general way below, with its checks and messages.
        match (builtin, rest) {
            (Builtin::None, 0) => return Ok(Value::Plain(py.None().into_bound(py))),
            (Builtin::Unicode, 1) => {
                if let Some((bytes, used)) = self.short_string(self.pos) {
                    self.pos += used;
                    return Ok(Value::Plain(unicode(py, bytes)?));
                }
            }
            (Builtin::Boolean, 1) => {
                if let Some((bytes, used)) = self.short_string(self.pos) {
                    self.pos += used;
                    return Ok(Value::Plain(boolean(py, refs, bytes)?));
                }
            }
            (Builtin::Dereference, 1) => {
                if let Some((value, used)) = self.numbered_at(self.pos) {
                    self.pos += used;
                    return Ok(value);
                }
                let id = self.raw()?;
                return Ok(match dereference_building(self.slf, refs, &id)? {
                    (object, Some(index)) => Value::Building(object, index),
                    (object, None) => Value::Ready(object),
                });
            }
            (Builtin::Reference, 2) => return self.reference(),
            (Builtin::List, _) => return self.fill_list(rest),
            (Builtin::Dictionary, _) => return self.fill_dict(PyDict::new(py), rest),
            (Builtin::Tuple, _) => return self.fill_tuple(rest),
            (Builtin::DateTime | Builtin::Date | Builtin::Time | Builtin::TimeDelta, 1) => {
                if let Some((field, used)) = self.short_string(self.pos) {
                    if let Some(made) = plain_date_or_time(py, builtin, field) {
                        self.pos += used;
                        return Ok(Value::Plain(made?));
                    }
                }
            }
            (Builtin::Decimal, 2) => {
                let start = self.pos;
                if let Some(((negative, magnitude), value)) = self.integer(start) {
                    if let Some(((exponent_negative, exponent), used)) = self.integer(start + value)
                    {
                        let exponent = i64::try_from(exponent)
                            .ok()
                            .filter(|exponent| *exponent < PLAIN_EXPONENT);
                        if let Some(exponent) = exponent {
                            self.pos = start + value + used;
                            let exponent = if exponent_negative {
                                -exponent
                            } else {
                                exponent
                            };
                            let made = plain_decimal(py, refs, negative, magnitude, exponent)?;
                            return Ok(Value::Plain(made));
                        }
                    }
                }
            }
            _ => {}
        }
        let tag = builtin.atom(refs).bind(py).clone().into_any();
        let frame = Frame::builtin(py, &tag, builtin, self.capacity(rest));
        self.fill(frame, rest)
    }

    /// The `rest` items of an expression, taken as `frame` asks, and the
    /// object they make.
    fn fill(&mut self, frame: Frame<'py>, rest: usize) -> Result<Value<'py>> {
        if let Frame::Dictionary(dict) = frame {
            return self.fill_dict(dict, rest);
        }
        // The frame's size hint was this capacity (no byte read since).
        let slots = self.capacity(rest);
        self.reserving(slots, |this| this.fill_frame(frame, rest, slots))
    }

    fn fill_frame(
        &mut self,
        mut frame: Frame<'py>,
        rest: usize,
        slots: usize,
    ) -> Result<Value<'py>> {
        let refs = self.refs;
        if let Frame::Sequence { .. } = frame {
            for index in 0..rest {
                let item = self.object()?;
                frame.push(item, refs)?;
                if index < slots {
                    self.filled();
                }
            }
            return Ok(Value::Ready(frame.finish(self.slf, refs)?));
        }
        // Pairs are a dictionary's, which [`Reader::fill`] fills itself.
        for index in 0..rest {
            let item = match frame.mode() {
                Mode::Raw => self.raw()?,
                Mode::Normal | Mode::Pairs => self.object()?,
            };
            frame.push(item, refs)?;
            if index < slots {
                self.filled();
            }
        }
        Ok(Value::Ready(frame.finish(self.slf, refs)?))
    }
}
