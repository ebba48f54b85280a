//! What the native path found absent from a broker's instance dict (every
//! method name of a path: see [`crate::broker::stock`]), kept for as long
//! as CPython can tell that the dict has not changed since, so that the
//! next message does not look each name up again.
//!
//! That is the dict's version tag on CPython 3.11 (see
//! [`instance_dict_tag`]); from 3.12 on nothing is kept and every name is
//! looked up each time.

use std::sync::Mutex;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use crate::pybanana::watched::{instance_dict_tag, lock};

/// Slots of the table: a dict's slot is taken from its address, and a dict
/// met in a taken slot replaces what was there (found again by looking its
/// names up).
const SLOTS: usize = 256;

/// Per slot: a dict's address, its tag when the paths were found, and
/// those paths (a bit each, the caller's).
static FOUND: Mutex<[(usize, u64, u8); SLOTS]> = Mutex::new([(0, 0, 0); SLOTS]);

fn slot(address: usize) -> usize {
    // Objects are 16-byte aligned: the bits above tell dicts apart.
    (address >> 4) % SLOTS
}

/// `dict`'s state now, for [`holds`] and [`found`] (`None`: nothing is
/// kept).
#[inline]
pub(crate) fn tag(dict: &Bound<'_, PyDict>) -> Option<u64> {
    instance_dict_tag(dict)
}

/// True if `dict`, now at `tag`, was found without any method name of the
/// paths in `paths` and has not changed since.
pub(crate) fn holds(dict: &Bound<'_, PyDict>, tag: Option<u64>, paths: u8) -> bool {
    let Some(tag) = tag else {
        return false;
    };
    let address = dict.as_ptr() as usize;
    let (known, known_tag, found) = lock(&FOUND)[slot(address)];
    // A tag is never given twice: the same tag is the same dict, unchanged.
    known == address && known_tag == tag && found & paths == paths
}

/// `dict` was found without any method name of the paths in `paths`, by
/// lookups made since it was at `tag`. A lookup may run a key's `__eq__`,
/// which may change the dict: then it is no longer at `tag`, and nothing is
/// kept.
pub(crate) fn found(dict: &Bound<'_, PyDict>, tag: Option<u64>, paths: u8) {
    let Some(tag) = tag.filter(|&tag| Some(tag) == instance_dict_tag(dict)) else {
        return;
    };
    let address = dict.as_ptr() as usize;
    let mut table = lock(&FOUND);
    let entry = &mut table[slot(address)];
    if entry.0 == address && entry.1 == tag {
        entry.2 |= paths;
    } else {
        *entry = (address, tag, paths);
    }
}

/// `dict[name] = value`, for a name the native path assigns itself, none of
/// any path's method names (the hook attributes, `currentRequestID`): what
/// was found absent from the dict still is after it, and is kept so where
/// it is certain that nothing else changed the dict meanwhile.
pub(crate) fn assign(
    dict: &Bound<'_, PyDict>,
    name: &Bound<'_, PyString>,
    value: &Bound<'_, PyAny>,
) -> PyResult<()> {
    if instance_dict_tag(dict).is_none() {
        return dict.set_item(name, value);
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
    // change): only `name` changed in it, and what was found of it at
    // `before` is kept at its new tag.
    if let (Some(stamp), Some(before), Some(after)) = (stamp, before, after) {
        if after == stamp.wrapping_add(1) {
            let address = dict.as_ptr() as usize;
            let mut table = lock(&FOUND);
            let entry = &mut table[slot(address)];
            if entry.0 == address && entry.1 == before {
                entry.1 = after;
            }
        }
    }
    Ok(())
}
