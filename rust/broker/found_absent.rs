//! What the native path found of a broker's instance dict: every method
//! name of a path absent (see [`crate::broker::stock`]), a hook attribute
//! `None` (see `crate::broker::calls`). Kept for as long as CPython can
//! tell that the dict has not changed since, so that the next message does
//! not look each name up again.
//!
//! That is the dict's version tag on CPython 3.11 (see
//! [`instance_dict_tag`]); from 3.12 on nothing is kept and every name is
//! looked up each time.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use crate::pybanana::watched::{instance_dict_tag, lock, Cache};

/// Slots of the table: a dict's slot is taken from its address, and a dict
/// met in a taken slot replaces what was there (found again by looking its
/// names up).
const SLOTS: usize = 256;

/// What was found of one dict at one tag.
#[derive(Clone, Copy)]
struct Found {
    dict: usize,
    tag: u64,
    /// The paths whose method names it was found without (a bit each, the
    /// caller's).
    absent: u8,
    /// The names found to hold `None` (a bit each, the caller's).
    nones: u8,
}

const NOTHING: Found = Found {
    dict: 0,
    tag: 0,
    absent: 0,
    nones: 0,
};

static FOUND: Cache<[Found; SLOTS]> = Cache::new([NOTHING; SLOTS]);

/// What is known of a dict as it is now: its tag, and what was found of
/// it at that tag (nothing where no tag tells its changes).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Known {
    pub(crate) tag: Option<u64>,
    pub(crate) absent: u8,
    pub(crate) nones: u8,
}

/// `dict`'s tag now (`None`: nothing is kept).
#[inline]
pub(crate) fn tag(dict: &Bound<'_, PyDict>) -> Option<u64> {
    instance_dict_tag(dict)
}

/// What is known of `dict` now.
pub(crate) fn known(dict: &Bound<'_, PyDict>) -> Known {
    let tag = instance_dict_tag(dict);
    let mut known = Known {
        tag,
        absent: 0,
        nones: 0,
    };
    if let Some(tag) = tag {
        let address = dict.as_ptr() as usize;
        let found = lock(dict.py(), &FOUND)[slot(address)];
        // A tag is never given twice: the same tag is the same dict,
        // unchanged.
        if found.dict == address && found.tag == tag {
            known.absent = found.absent;
            known.nones = found.nones;
        }
    }
    known
}

fn slot(address: usize) -> usize {
    // Fibonacci hashing: the product's top bits depend on all of the
    // address's (dicts a page apart must not meet in one slot).
    ((address as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - SLOTS.trailing_zeros())) as usize
}

/// `dict`, at `tag` before the lookups that found it so, was found without
/// any method name of the paths in `absent`, and with `None` in the names
/// in `nones`. A lookup may run a key's `__eq__`, which may change the
/// dict: then it is no longer at `tag`, and nothing is kept.
pub(crate) fn found(dict: &Bound<'_, PyDict>, tag: Option<u64>, absent: u8, nones: u8) {
    let Some(tag) = tag.filter(|&tag| Some(tag) == instance_dict_tag(dict)) else {
        return;
    };
    let address = dict.as_ptr() as usize;
    let mut table = lock(dict.py(), &FOUND);
    let entry = &mut table[slot(address)];
    if entry.dict != address || entry.tag != tag {
        *entry = Found {
            dict: address,
            tag,
            ..NOTHING
        };
    }
    entry.absent |= absent;
    entry.nones |= nones;
}

/// `dict[name] = value`, for a name the native path assigns itself, none of
/// any path's method names (the hook attributes, `currentRequestID`): what
/// was found of the dict still holds after it (but of `name` itself, whose
/// bit among the `None` names is `none_bit`, or 0), and is kept so where it
/// is certain that nothing else changed the dict meanwhile. The dict's tag
/// after it, where what was found was kept.
pub(crate) fn assign(
    dict: &Bound<'_, PyDict>,
    name: &Bound<'_, PyString>,
    value: &Bound<'_, PyAny>,
    none_bit: u8,
) -> PyResult<Option<u64>> {
    if instance_dict_tag(dict).is_none() {
        dict.set_item(name, value)?;
        return Ok(None);
    }
    // The stamp first: making its dict may run a garbage collection (and
    // Python code), before the dict's tag is read.
    let stamp = instance_dict_tag(&PyDict::new(dict.py()));
    let before = instance_dict_tag(dict);
    dict.set_item(name, value)?;
    let after = instance_dict_tag(dict);
    // Every change to any dict, and every new dict, takes the next tag. If
    // the dict's tag now is the one after the stamp's, the assignment was
    // the first change to any dict since the stamp, and nothing changed the
    // dict after it (a key's `__eq__` run by the lookup would have changed
    // it before; a value let go of is let go of after CPython tags the
    // change): only `name` changed in it, to `value`, and what was found
    // of it at `before` is kept at its new tag.
    let (Some(stamp), Some(before), Some(after)) = (stamp, before, after) else {
        return Ok(None);
    };
    if after != stamp.wrapping_add(1) {
        return Ok(None);
    }
    let address = dict.as_ptr() as usize;
    let mut table = lock(dict.py(), &FOUND);
    let entry = &mut table[slot(address)];
    if entry.dict != address || entry.tag != before {
        return Ok(None);
    }
    entry.tag = after;
    if value.is_none() {
        entry.nones |= none_bit;
    } else {
        entry.nones &= !none_bit;
    }
    Ok(Some(after))
}
