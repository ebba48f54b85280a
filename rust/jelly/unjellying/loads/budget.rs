//! Slot budgets: how many more items the bytes left can hold. A container
//! reserves a slot per announced item, capped by what the rest of the input
//! could hold, so that a hostile count allocates nothing beyond the input's
//! own size; and the room left for one more expression in both limits.

use super::{Reader, Result};
use crate::banana::error::{DecodeError, ErrorKind};

impl<'a, 'py> Reader<'a, 'py> {
    /// How many more items the bytes left can hold beyond those the open
    /// containers made to size (lists, tuples, frames) still expect: each
    /// item takes a byte at least, and each such container's current item
    /// is the one being read (counted in its reservation and read now).
    /// Reserving no more than this keeps what nested containers reserve,
    /// all together, within the bytes received.
    pub(super) fn room(&self) -> usize {
        (self.input.len() - self.pos + self.reserving).saturating_sub(self.reserved)
    }

    /// Items announced, capped by the [`Reader::room`] left.
    pub(super) fn capacity(&self, items: usize) -> usize {
        items.min(self.room())
    }

    /// Run `fill` for a container of `slots` reserved slots; `fill` calls
    /// [`Reader::filled`] for each of the first `slots` items it reads.
    pub(super) fn reserving<T>(
        &mut self,
        slots: usize,
        fill: impl FnOnce(&mut Self) -> Result<T>,
    ) -> Result<T> {
        let mark = self.reserved;
        self.reserved += slots;
        self.reserving += 1;
        let result = fill(self);
        self.reserved = mark;
        self.reserving -= 1;
        result
    }

    /// One reserved slot filled.
    #[inline(always)]
    pub(super) fn filled(&mut self) {
        self.reserved -= 1;
    }

    /// Room for one more expression inside the open ones, in both limits'
    /// terms (past them, the general way reports it).
    #[inline(always)]
    pub(super) fn room_for(&self, levels: usize) -> bool {
        self.lists + levels <= self.limits.depth
            && self.me.depth.get() + levels <= self.me.max_jelly_depth()
    }

    /// `rest` items need at least `rest` bytes, beyond those the open
    /// containers still expect ([`Reader::room`]): fewer left is truncated
    /// input, whatever the items are (checked before anything is sized by
    /// `rest`).
    pub(super) fn check_room(&self, rest: usize) -> Result<()> {
        if rest > self.room() {
            let what = "list";
            return Err(
                DecodeError::new(self.input.len() as u64, ErrorKind::Truncated { what }).into(),
            );
        }
        Ok(())
    }

    /// True if a dictionary item's list and its key's fit in the limits
    /// and [`crate::banana::shapes`] apply: [`Reader::text_pair_key`] may read it.
    #[inline(always)]
    pub(super) fn pair_room(&self) -> bool {
        self.shapes && self.room_for(2)
    }
}
