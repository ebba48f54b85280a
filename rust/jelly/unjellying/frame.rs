//! One jelly expression being made into an object: its tag checked (in the
//! order of Twisted's checks: taster, registries, built-in tags, classes),
//! its items taken as the tag asks, and the object made from them. The
//! recursive unjelly and the fused loads both go tag, items, finish
//! through a [`Frame`].
//!
//! Malformed expressions (missing items, wrong types where a tag needs a
//! byte string, unknown booleans) raise `InsecureJelly` saying what is wrong.

use crate::pybanana::errors::describe;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyFrozenSet, PyList, PySet, PyString, PyTuple};

use super::references::{dereference, is_not_known, resolve_reference};
use super::unjellier::{maybe_post_unjelly, Unjellier};
use super::values::{boolean, decimal, integer_fields, plain_date_or_time, unicode};
use crate::jelly::errors::malformed;
use crate::jelly::hooks::{bound_function, look_up, look_up_optional, Hook};
use crate::jelly::python_objects::PythonObjects;
use crate::jelly::tags::Builtin;
use crate::pybanana::text::str_from_utf8;

/// How the items after a tag are to be taken.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Unjellied, then given to the frame.
    Normal,
    /// As s-expressions: a hook or Twisted's method unjellies them.
    Raw,
    /// `[key, value]` pairs of a dictionary, both unjellied.
    Pairs,
}

#[derive(Clone, Copy)]
pub(crate) enum Sequence {
    List,
    Tuple,
    Set,
    FrozenSet,
}

/// Tags whose items are unjellied first and then make the object.
pub(crate) enum Finish<'py> {
    None,
    Unicode,
    Boolean,
    DateTime,
    Date,
    Time,
    TimeDelta,
    Decimal,
    Reference,
    Dereference,
    Factory(Bound<'py, PyAny>),
    Instance(Bound<'py, PyAny>),
    /// The blank instance of a class registered for the tag, on which
    /// `unjellyFor` is `RemoteCopy`'s stock method, received by a broker:
    /// it is given the state through `setCopyableState`.
    Copy(Bound<'py, PyAny>),
}

/// Tags whose items stay s-expressions for Python code to unjellify.
pub(crate) enum RawAction<'py> {
    /// A class (or function) registered with setUnjellyableForClass; with
    /// the blank instance made for it and what `unjellyFor` found on it, if
    /// they were made when the tag was met (see [`Frame::begin`]).
    Registered {
        class: Bound<'py, PyAny>,
        made: Option<(Bound<'py, PyAny>, Option<Bound<'py, PyAny>>)>,
    },
    /// Twisted's own `_unjelly_<name>` method, needing `arity` items.
    Twisted(&'static str, usize),
}

/// One jelly expression being made into an object: what its tag asked for,
/// and the items so far. The recursive unjelly and the fused loads both go
/// tag, items, finish through this.
pub(crate) enum Frame<'py> {
    Sequence {
        kind: Sequence,
        items: Vec<Bound<'py, PyAny>>,
        /// Twisted's holder list, made at the first forward reference: it and
        /// every later placeholder register with it, so that resolving them
        /// patches it.
        holder: Option<Bound<'py, PyList>>,
        count: usize,
    },
    Dictionary(Bound<'py, PyDict>),
    Items {
        tag: Bound<'py, PyAny>,
        finish: Finish<'py>,
        /// These tags use at most their first two items (Twisted ignores
        /// the rest): kept inline, the rest only counted.
        first: Option<Bound<'py, PyAny>>,
        second: Option<Bound<'py, PyAny>>,
        count: usize,
    },
    Raw {
        tag: Bound<'py, PyAny>,
        action: RawAction<'py>,
        items: Vec<Bound<'py, PyAny>>,
    },
}

impl<'py> Frame<'py> {
    /// Check `tag` against the taster and the registries and decide what
    /// the expression is, before any of its items is looked at (the order of
    /// Twisted's checks).
    /// `size_hint` is how many items the expression says it has.
    pub(crate) fn begin(
        slf: &Bound<'py, Unjellier>,
        me: &Unjellier,
        refs: &PythonObjects,
        tag: &Bound<'py, PyAny>,
        size_hint: usize,
    ) -> PyResult<Frame<'py>> {
        let py = slf.py();
        if let Some(builtin) = me.known_tag(tag) {
            return Ok(Frame::builtin(py, tag, builtin, size_hint));
        }
        if let Some(builtin) = me.plain_tag(py, refs, tag)? {
            return Ok(Frame::builtin(py, tag, builtin, size_hint));
        }
        let tag_bytes = if let Ok(bytes) = tag.cast::<PyBytes>() {
            bytes.clone()
        } else if let Ok(text) = tag.cast::<PyString>() {
            // Twisted's tasters and tag lookup accept a str tag as its UTF-8.
            PyBytes::new(py, text.to_str()?.as_bytes())
        } else {
            return Err(refs.insecure(
                py,
                format!("jelly type must be bytes, not {}", describe(tag)),
            ));
        };
        if !me.policy(py, refs).type_allowed(tag, &tag_bytes)? {
            return Err(refs.insecure_object(tag));
        }
        let raw = |action| Frame::Raw {
            tag: tag.clone(),
            action,
            items: Vec::new(),
        };
        let items = |finish| Frame::Items {
            tag: tag.clone(),
            finish,
            first: None,
            second: None,
            count: 0,
        };
        if let Some(class) = refs.unjellyable_registry.bind(py).get_item(tag)? {
            // Twisted makes the blank instance and finds its `unjellyFor`
            // here (`getattr(_createBlank(regClass), "unjellyFor",
            // regClass)`), before anything inside the expression is
            // unjellied. Where the hook is to get the expression as it is,
            // nothing runs in between: the blank is made once its items are
            // known to be there. Where it may be `RemoteCopy`'s stock
            // method, which gives the unjellied state to `setCopyableState`
            // (with a broker; without, it does something else, left to it),
            // the blank is made now and asked.
            let may_be_copy = !me.invoker(py).is_none()
                && class.is_instance_of::<pyo3::types::PyType>()
                && class
                    .getattr_opt(pyo3::intern!(py, "unjellyFor"))?
                    .is_some_and(|method| method.is(&refs.flavors.remote_copy_unjelly_for));
            if !may_be_copy {
                return Ok(raw(RawAction::Registered { class, made: None }));
            }
            me.forget_tags();
            me.materialize(py, refs)?;
            let stock = &refs.flavors.remote_copy_unjelly_for;
            let blank = refs.create_blank.bind(py).call1((&class,))?;
            let hook = match look_up_optional(&blank, pyo3::intern!(py, "unjellyFor"), stock, refs)?
            {
                Some(Hook::Stock) => return Ok(items(Finish::Copy(blank))),
                Some(Hook::Other(found)) => Some(found),
                None => None,
            };
            let made = Some((blank, hook));
            return Ok(raw(RawAction::Registered { class, made }));
        }
        if let Some(factory) = refs.factory_registry.bind(py).get_item(tag)? {
            return Ok(items(Finish::Factory(factory)));
        }
        let name = tag_bytes.as_bytes();
        if !name.is_ascii() {
            return Err(refs.insecure(py, format!("jelly type {} is not ASCII", describe(tag))));
        }
        if let Some(builtin) = Builtin::named(name) {
            return Ok(Frame::builtin(py, tag, builtin, size_hint));
        }
        Ok(match name {
            // Rare in traffic, and needing Python's import machinery or
            // warnings anyway: Twisted's own methods, given this unjellier
            // (they use only its public methods and attributes).
            b"module" => raw(RawAction::Twisted("module", 1)),
            b"class" => raw(RawAction::Twisted("class", 1)),
            b"function" => raw(RawAction::Twisted("function", 1)),
            b"persistent" => raw(RawAction::Twisted("persistent", 1)),
            b"instance" => raw(RawAction::Twisted("instance", 2)),
            b"unpersistable" => raw(RawAction::Twisted("unpersistable", 1)),
            b"method" => raw(RawAction::Twisted("method", 3)),
            _ => {
                // An instance of the class the tag names: the taster must
                // allow its module and the class.
                let text = String::from_utf8_lossy(name).into_owned();
                let module = text.rsplit_once('.').map_or("", |(module, _)| module);
                if !me.policy(py, refs).module_allowed(py, module)? {
                    return Err(
                        refs.insecure(py, format!("Module {module} not allowed (in type {text})."))
                    );
                }
                me.forget_tags();
                let class = refs.named_object.bind(py).call1((&text,))?;
                if !me.policy(py, refs).class_allowed(&class)? {
                    return Err(refs.insecure(py, format!("Class {text} not allowed.")));
                }
                items(Finish::Instance(class))
            }
        })
    }

    pub(crate) fn builtin(
        py: Python<'py>,
        tag: &Bound<'py, PyAny>,
        builtin: Builtin,
        size_hint: usize,
    ) -> Frame<'py> {
        let items = |finish| Frame::Items {
            tag: tag.clone(),
            finish,
            first: None,
            second: None,
            count: 0,
        };
        let sequence = |kind| Frame::Sequence {
            kind,
            items: reserved(size_hint),
            holder: None,
            count: 0,
        };
        match builtin {
            Builtin::None => items(Finish::None),
            Builtin::Unicode => items(Finish::Unicode),
            Builtin::Boolean => items(Finish::Boolean),
            Builtin::List => sequence(Sequence::List),
            Builtin::Tuple => sequence(Sequence::Tuple),
            Builtin::Set => sequence(Sequence::Set),
            Builtin::FrozenSet => sequence(Sequence::FrozenSet),
            Builtin::Dictionary => Frame::Dictionary(PyDict::new(py)),
            Builtin::Reference => items(Finish::Reference),
            Builtin::Dereference => items(Finish::Dereference),
            Builtin::DateTime => items(Finish::DateTime),
            Builtin::Date => items(Finish::Date),
            Builtin::Time => items(Finish::Time),
            Builtin::TimeDelta => items(Finish::TimeDelta),
            Builtin::Decimal => items(Finish::Decimal),
        }
    }

    /// How the next item is to be taken. Twisted's methods for these tags
    /// unjelly exactly the items they use and read the others as they are
    /// (an id, a field of digits), so the same items are unjellied here.
    pub(crate) fn mode(&self) -> Mode {
        match self {
            Frame::Raw { .. } => Mode::Raw,
            Frame::Dictionary(_) => Mode::Pairs,
            Frame::Sequence { .. } => Mode::Normal,
            Frame::Items { finish, count, .. } => match (finish, count) {
                (Finish::Reference, 1) => Mode::Normal,
                (Finish::Factory(_) | Finish::Instance(_) | Finish::Copy(_), 0) => Mode::Normal,
                _ => Mode::Raw,
            },
        }
    }

    /// The next item, taken as [`Frame::mode`] says.
    pub(crate) fn push(&mut self, value: Bound<'py, PyAny>, refs: &PythonObjects) -> PyResult<()> {
        match self {
            Frame::Sequence {
                items,
                holder,
                count,
                ..
            } => {
                let index = *count;
                *count += 1;
                let unknown = is_not_known(&value, refs)?;
                match holder {
                    None if !unknown => {
                        items.push(value);
                        return Ok(());
                    }
                    None => {
                        let mut all = std::mem::take(items);
                        all.push(value.clone());
                        *holder = Some(PyList::new(value.py(), all)?);
                    }
                    Some(list) => list.append(&value)?,
                }
                if unknown {
                    let holder = holder.as_ref().expect("made above");
                    value
                        .call_method1(pyo3::intern!(value.py(), "addDependant"), (holder, index))?;
                }
                Ok(())
            }
            Frame::Items {
                first,
                second,
                count,
                ..
            } => {
                match count {
                    0 => *first = Some(value),
                    1 => *second = Some(value),
                    _ => {}
                }
                *count += 1;
                Ok(())
            }
            Frame::Raw { items, .. } => {
                items.push(value);
                Ok(())
            }
            Frame::Dictionary(_) => {
                let (key, value) = unpack_pair(&value, refs)?;
                Frame::check_key_of(&key, refs)?;
                self.push_pair(key, value, refs)
            }
        }
    }

    /// A dictionary key, once its value is unjellied too (Twisted unjellies
    /// both, then stores the item: an error of the value's comes first):
    /// it is hashed when stored, which a placeholder cannot be. Twisted fails
    /// there with the placeholder's `AssertionError`; this is a
    /// `MalformedJelly` that is also an `AssertionError`.
    pub(crate) fn check_key_of(key: &Bound<'py, PyAny>, refs: &PythonObjects) -> PyResult<()> {
        if is_not_known(key, refs)? {
            return Err(forward_reference_key(key.py()));
        }
        Ok(())
    }

    /// A dictionary item. A value that is a forward reference is patched in
    /// when it resolves (Twisted routes this through a _DictKeyAndValue,
    /// which, the key being known, does the same).
    pub(crate) fn push_pair(
        &mut self,
        key: Bound<'py, PyAny>,
        value: Bound<'py, PyAny>,
        refs: &PythonObjects,
    ) -> PyResult<()> {
        let Frame::Dictionary(dict) = self else {
            return Err(refs.insecure(key.py(), "a [key, value] pair outside a dictionary"));
        };
        if is_not_known(&value, refs)? {
            value.call_method1(pyo3::intern!(key.py(), "addDependant"), (&*dict, &key))?;
        }
        dict.set_item(key, value)
    }

    /// The object, from a raw frame's own expression (hooks get the list
    /// they were written as).
    pub(crate) fn finish_expression(
        self,
        slf: &Bound<'py, Unjellier>,
        refs: &PythonObjects,
        expression: &Bound<'py, PyList>,
    ) -> PyResult<Bound<'py, PyAny>> {
        match self {
            Frame::Raw { action, .. } => finish_raw(slf, refs, action, expression),
            other => other.finish(slf, refs),
        }
    }

    /// The object the expression stands for.
    pub(crate) fn finish(
        self,
        slf: &Bound<'py, Unjellier>,
        refs: &PythonObjects,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        match self {
            Frame::Sequence {
                kind,
                items,
                holder,
                ..
            } => match (kind, holder) {
                (Sequence::List, Some(list)) => Ok(list.into_any()),
                (Sequence::List, None) => Ok(PyList::new(py, items)?.into_any()),
                (Sequence::Tuple, Some(list)) => refs.tuple_container.bind(py).call1((list,)),
                (Sequence::Tuple, None) => Ok(PyTuple::new(py, items)?.into_any()),
                (Sequence::Set, Some(list)) => refs
                    .container
                    .bind(py)
                    .call1((list, refs.set_type.bind(py))),
                (Sequence::Set, None) => Ok(PySet::new(py, items)?.into_any()),
                (Sequence::FrozenSet, Some(list)) => refs
                    .container
                    .bind(py)
                    .call1((list, refs.frozenset_type.bind(py))),
                (Sequence::FrozenSet, None) => Ok(PyFrozenSet::new(py, items)?.into_any()),
            },
            Frame::Dictionary(dict) => Ok(dict.into_any()),
            Frame::Raw { tag, action, items } => {
                let mut expression = vec![tag];
                expression.extend(items);
                finish_raw(slf, refs, action, &PyList::new(py, expression)?)
            }
            Frame::Items {
                tag,
                finish,
                first,
                second,
                count,
            } => finish_items(slf, refs, &tag, finish, first, second, count),
        }
    }
}

/// A hook's or Twisted's method's turn: they unjelly the items themselves.
fn finish_raw<'py>(
    slf: &Bound<'py, Unjellier>,
    refs: &PythonObjects,
    action: RawAction<'py>,
    expression: &Bound<'py, PyList>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = slf.py();
    let me = slf.borrow();
    me.forget_tags();
    me.materialize(py, refs)?;
    drop(me);
    match action {
        RawAction::Registered { class, made } => {
            // Every registered class's encoding has its state after the tag;
            // hooks index it without checking.
            item(expression, 1, refs)?;
            let (blank, hook) = match made {
                Some(made) => made,
                None => {
                    let blank = refs.create_blank.bind(py).call1((&class,))?;
                    let hook = blank.getattr_opt(pyo3::intern!(py, "unjellyFor"))?;
                    (blank, hook)
                }
            };
            let substitutes = refs.flavors.substitutes.bind(py);
            let result = match hook {
                Some(method) => match bound_function(&method, &blank, refs) {
                    Some(function) => match substitutes.get_item(function)? {
                        Some(fixed) => fixed.call1((&blank, slf, expression))?,
                        None => method.call1((slf, expression))?,
                    },
                    None => method.call1((slf, expression))?,
                },
                None => match substitutes.get_item(&class)? {
                    Some(fixed) => fixed.call1((slf, expression))?,
                    None => class.call1((slf, expression))?,
                },
            };
            maybe_post_unjelly(slf, result)
        }
        RawAction::Twisted(name, arity) => {
            // Twisted's methods index the items they use, and nothing else:
            // without a persistentLoad, `persistent` reads none.
            let needs_none =
                name == "persistent" && !slf.borrow().persistent_load(py).is_truthy()?;
            if !needs_none {
                item(expression, arity, refs)?;
            }
            let rest = expression.get_slice(1, expression.len());
            let method = refs
                .twisted_unjellier
                .bind(py)
                .getattr(format!("_unjelly_{name}").as_str())?;
            method.call1((slf, rest))
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn finish_items<'py>(
    slf: &Bound<'py, Unjellier>,
    refs: &PythonObjects,
    tag: &Bound<'py, PyAny>,
    finish: Finish<'py>,
    first: Option<Bound<'py, PyAny>>,
    second: Option<Bound<'py, PyAny>>,
    count: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let py = slf.py();
    let missing_items = |needs: usize| {
        let tag = describe(tag);
        missing(py, refs, &tag, count + 1, needs + 1)
    };
    if let Finish::None = finish {
        return Ok(py.None().into_bound(py));
    }
    let Some(first) = first else {
        return Err(missing_items(1));
    };
    match finish {
        Finish::None => unreachable!("handled above"),
        Finish::Unicode => match first.cast::<PyBytes>() {
            Ok(data) => unicode(py, data.as_bytes()),
            Err(_) => Err(refs.insecure(py, "unicode expression must hold bytes")),
        },
        Finish::Boolean => match first.cast::<PyBytes>() {
            Ok(data) => boolean(py, refs, data.as_bytes()),
            Err(_) => boolean(py, refs, b""),
        },
        Finish::DateTime | Finish::Date | Finish::Time | Finish::TimeDelta => {
            let kind = match finish {
                Finish::DateTime => Builtin::DateTime,
                Finish::Date => Builtin::Date,
                Finish::Time => Builtin::Time,
                _ => Builtin::TimeDelta,
            };
            if let Ok(field) = first.cast::<PyBytes>() {
                if let Some(made) = plain_date_or_time(py, kind, field.as_bytes()) {
                    return made;
                }
            }
            let fields = integer_fields(&first, refs)?;
            let class = match finish {
                Finish::DateTime => &refs.datetime,
                Finish::Date => &refs.date,
                Finish::Time => &refs.time,
                _ => {
                    if fields.len() != 3 {
                        return Err(refs.insecure(py, "timedelta expression must hold 3 fields"));
                    }
                    &refs.timedelta
                }
            };
            class.bind(py).call1(PyTuple::new(py, fields)?)
        }
        Finish::Decimal => {
            let Some(exponent) = second else {
                return Err(missing_items(2));
            };
            decimal(slf, refs, first, exponent)
        }
        Finish::Reference => {
            let Some(value) = second else {
                return Err(missing_items(2));
            };
            resolve_reference(slf, refs, &first, value)
        }
        Finish::Dereference => dereference(slf, refs, &first),
        Finish::Factory(factory) => {
            slf.borrow().forget_tags();
            slf.borrow().materialize(py, refs)?;
            let made = factory.call1((&first,))?;
            maybe_post_unjelly(slf, made)
        }
        Finish::Instance(class) => {
            slf.borrow().forget_tags();
            slf.borrow().materialize(py, refs)?;
            let instance = refs.new_instance.bind(py).call1((&class, &first))?;
            maybe_post_unjelly(slf, instance)
        }
        Finish::Copy(copy) => {
            slf.borrow().forget_tags();
            slf.borrow().materialize(py, refs)?;
            set_copyable_state(refs, &copy, first)?;
            maybe_post_unjelly(slf, copy)
        }
    }
}

/// The error for a dictionary key that is a forward reference (see
/// [`Frame::check_key_of`]).
#[cold]
pub(crate) fn forward_reference_key(py: Python<'_>) -> PyErr {
    malformed(
        py,
        pyo3::exceptions::PyAssertionError::new_err(
            "a dictionary key cannot be a forward reference",
        ),
    )
}

/// Item `index` of a jelly expression, or InsecureJelly naming what is
/// missing.
pub(crate) fn item<'py>(
    expression: &Bound<'py, PyList>,
    index: usize,
    refs: &PythonObjects,
) -> PyResult<Bound<'py, PyAny>> {
    expression.get_item(index).map_err(|_| {
        let tag = expression
            .get_item(0)
            .ok()
            .map(|tag| describe(&tag))
            .unwrap_or_else(|| "?".to_string());
        missing(expression.py(), refs, &tag, expression.len(), index + 1)
    })
}

fn missing(py: Python<'_>, refs: &PythonObjects, tag: &str, has: usize, needs: usize) -> PyErr {
    refs.insecure(
        py,
        format!("jelly expression {tag} has {has} items, needs at least {needs}"),
    )
}

/// `for k, v in lst` unpacks any two-item iterable: a `[key, value]` list
/// as jelly writes it, but also what Twisted would unpack.
pub(crate) fn unpack_pair<'py>(
    pair: &Bound<'py, PyAny>,
    refs: &PythonObjects,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    if let Ok(list) = pair.cast_exact::<PyList>() {
        if list.len() == 2 {
            return Ok((list.get_item(0)?, list.get_item(1)?));
        }
    }
    let items = pair
        .try_iter()
        .and_then(|items| items.collect::<PyResult<Vec<_>>>())
        .ok()
        .filter(|items| items.len() == 2)
        .ok_or_else(|| refs.insecure(pair.py(), "dictionary items must be [key, value] pairs"))?;
    let mut items = items.into_iter();
    Ok((items.next().expect("two"), items.next().expect("two")))
}

/// `copy.setCopyableState(state)`, looked up on the instance; the stock
/// method's work done here: a dict's keys that are bytes decoded as UTF-8
/// into a new dict, which becomes the instance dict (an empty state, an
/// empty dict).
fn set_copyable_state<'py>(
    refs: &PythonObjects,
    copy: &Bound<'py, PyAny>,
    state: Bound<'py, PyAny>,
) -> PyResult<()> {
    let py = copy.py();
    let name = pyo3::intern!(py, "setCopyableState");
    let stock = look_up(copy, name, &refs.flavors.set_copyable_state, refs)?;
    let items = match (stock, state.cast_exact::<PyDict>()) {
        (Hook::Stock, Ok(items)) => items,
        (Hook::Stock, Err(_)) => {
            copy.call_method1(name, (state,))?;
            return Ok(());
        }
        (Hook::Other(hook), _) => {
            hook.call1((state,))?;
            return Ok(());
        }
    };
    let dict = PyDict::new(py);
    for (key, value) in items.iter() {
        // `x.decode("utf8") if isinstance(x, bytes) else x`: a subclass's
        // own `decode` is called.
        match key.cast_exact::<PyBytes>() {
            Ok(bytes) => dict.set_item(str_from_utf8(py, bytes.as_bytes())?, value)?,
            Err(_) if key.is_instance_of::<PyBytes>() => {
                let decoded = key.call_method1(pyo3::intern!(py, "decode"), ("utf8",))?;
                dict.set_item(decoded, value)?
            }
            Err(_) => dict.set_item(key, value)?,
        }
    }
    copy.setattr(pyo3::intern!(py, "__dict__"), dict)
}

/// An empty vector with room for `capacity` items if the allocator grants
/// it (the hint is bounded by the bytes received; pushes grow it anyway).
fn reserved<T>(capacity: usize) -> Vec<T> {
    let mut items = Vec::new();
    let _ = items.try_reserve_exact(capacity);
    items
}
