//! Knowing, at the cost of a few loads, that Python dicts have not changed
//! since something was worked out from them.
//!
//! What a call of the codec depends on lives in dicts that any Python code
//! may change at any moment: the limits in `pbfast.banana`'s globals, a
//! taster's `allowedTypes`, jelly's two registries.
//! Reading them afresh at every call (and every time Python code has run
//! within a call) is what a small message spent most of its time on. A
//! [`Watched`] records which dicts a result came from and their state; the
//! result may be used again for as long as [`Watched::holds`] says they are
//! the same dicts, unchanged. Every way Python changes a dict is seen:
//! item assignment, deletion, `update`, `clear`, `setdefault`, `pop`, a
//! module global's assignment. Not an instance's attributes, which CPython
//! 3.13 may store past the instance's dict: they are not for watching.
//!
//! - Python 3.12 and later: a dict watcher (`PyDict_AddWatcher`), which
//!   CPython calls on every change to a watched dict (and when one is
//!   freed) and which counts changes. A dict recorded is watched from then
//!   on; a result holds while the count has not moved.
//! - Python 3.11: each dict's version tag (PEP 509), which CPython sets to a
//!   new, never reused value on every change; a result holds while the
//!   recorded dicts still carry the versions recorded.

#[cfg(not(Py_3_12))]
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// Where `N` dicts were, and their state then.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Watched<const N: usize> {
    dicts: [usize; N],
    #[cfg(Py_3_12)]
    changes: u64,
    #[cfg(not(Py_3_12))]
    versions: [u64; N],
}

impl<const N: usize> Watched<N> {
    /// The state of `dicts` now; `None` if they cannot be watched (no
    /// dict watcher left), in which case nothing may be kept.
    pub(crate) fn now(dicts: [&Bound<'_, PyDict>; N]) -> Option<Watched<N>> {
        #[cfg(Py_3_12)]
        {
            for dict in dicts {
                watcher::watch(dict)?;
            }
            Some(Watched {
                dicts: dicts.map(address),
                changes: watcher::changes(),
            })
        }
        #[cfg(not(Py_3_12))]
        {
            Some(Watched {
                dicts: dicts.map(address),
                versions: dicts.map(version),
            })
        }
    }

    /// True if `dicts` are the dicts recorded, and none has changed since.
    #[inline]
    pub(crate) fn holds(&self, dicts: [&Bound<'_, PyDict>; N]) -> bool {
        #[cfg(Py_3_12)]
        {
            // A watched dict that is freed counts as a change, so an
            // address recorded is never another dict's while this holds.
            self.changes == watcher::changes() && self.dicts == dicts.map(address)
        }
        #[cfg(not(Py_3_12))]
        {
            // Version tags are never reused, not even by another dict at
            // the same address.
            self.versions == dicts.map(version) && self.dicts == dicts.map(address)
        }
    }
}

fn address(dict: &Bound<'_, PyDict>) -> usize {
    dict.as_ptr() as usize
}

/// An instance dict's version tag, where it tells every change to the
/// instance's attributes: on CPython 3.11, where every change to a dict
/// gives it a new tag, never reused (not even by another dict at the same
/// address), and an instance dict once made (which
/// [`crate::pybanana::instance::instance_dict`] does) holds the instance's
/// attributes from then on. `None` from 3.12 on: 3.12 deprecates the tag
/// and 3.13 does not keep it for every change to an instance's attributes
/// (some are stored past the dict); there nothing read from an instance
/// dict is kept.
#[inline]
pub(crate) fn instance_dict_tag(dict: &Bound<'_, PyDict>) -> Option<u64> {
    #[cfg(not(Py_3_12))]
    {
        Some(version(dict))
    }
    #[cfg(Py_3_12)]
    {
        let _ = dict;
        None
    }
}

#[cfg(not(Py_3_12))]
pub(crate) fn version(dict: &Bound<'_, PyDict>) -> u64 {
    // SAFETY: `dict` is a live dict (or dict subclass) instance, whose
    // layout starts with PyDictObject; reading its version tag is a load.
    unsafe { (*dict.as_ptr().cast::<ffi::PyDictObject>()).ma_version_tag }
}

#[cfg(Py_3_12)]
mod watcher {
    use std::ffi::c_int;
    use std::sync::atomic::{AtomicU64, Ordering};

    use pyo3::ffi;
    use pyo3::prelude::*;
    use pyo3::sync::PyOnceLock;
    use pyo3::types::PyDict;

    /// Changes seen to watched dicts, all together.
    static CHANGES: AtomicU64 = AtomicU64::new(0);

    /// This module's dict watcher, or `None` if CPython had none left.
    static WATCHER: PyOnceLock<Option<c_int>> = PyOnceLock::new();

    type Callback = unsafe extern "C" fn(
        event: c_int,
        dict: *mut ffi::PyObject,
        key: *mut ffi::PyObject,
        new_value: *mut ffi::PyObject,
    ) -> c_int;

    extern "C" {
        // Not among pyo3-ffi's declarations; CPython 3.12's
        // `int PyDict_AddWatcher(PyDict_WatchCallback callback)`.
        fn PyDict_AddWatcher(callback: Callback) -> c_int;
    }

    /// Called by CPython, with the GIL held, on every change to a watched
    /// dict and when one is freed: counts it. Never fails, never calls back
    /// into Python.
    unsafe extern "C" fn changed(
        _event: c_int,
        _dict: *mut ffi::PyObject,
        _key: *mut ffi::PyObject,
        _new_value: *mut ffi::PyObject,
    ) -> c_int {
        CHANGES.fetch_add(1, Ordering::Relaxed);
        0
    }

    pub(super) fn changes() -> u64 {
        CHANGES.load(Ordering::Relaxed)
    }

    /// Watch `dict` from now on (watching it again changes nothing).
    pub(super) fn watch(dict: &Bound<'_, PyDict>) -> Option<()> {
        let py = dict.py();
        let watcher = (*WATCHER.get_or_init(py, || {
            // SAFETY: registering a callback with the GIL held; `changed`
            // has the signature CPython calls it with.
            let id = unsafe { PyDict_AddWatcher(changed) };
            if id < 0 {
                // All of CPython's dict watchers are taken: nothing is kept.
                // SAFETY: the GIL is held; the error is discarded.
                unsafe { ffi::PyErr_Clear() };
                return None;
            }
            Some(id)
        }))?;
        // SAFETY: `dict` is a live dict and `watcher` a registered watcher.
        if unsafe { ffi::PyDict_Watch(watcher, dict.as_ptr()) } < 0 {
            // SAFETY: the GIL is held; the error is discarded.
            unsafe { ffi::PyErr_Clear() };
            return None;
        }
        Some(())
    }
}

/// A cache shared by the threads of the interpreter: results worked out
/// from watched dicts, and what the native path found of classes and
/// instances. It is used only with the GIL held (every use takes a
/// `Python` token) and only to copy a result in or out, never while Python
/// code may run (which could release the GIL and switch threads).
///
/// With the GIL, that makes one thread at a time its only user: it is a
/// `RefCell` (whose borrow flag catches a use within a use, which the
/// callers never make, as a panic), with no atomic operation on the way
/// (a lock's two cost more than the lookups it saves on small calls). A
/// free-threaded build (no GIL) takes a mutex.
pub(crate) struct Cache<T> {
    #[cfg(not(Py_GIL_DISABLED))]
    cell: std::cell::RefCell<T>,
    #[cfg(Py_GIL_DISABLED)]
    cell: std::sync::Mutex<T>,
}

// SAFETY: with the GIL, only the thread holding it reaches `cell` (every
// use takes a `Python` token), and a borrow ends before any Python code
// runs, so the GIL is not given up while one lasts: the RefCell and what
// it holds are used by one thread at a time, as if by one thread. Its
// contents are `Send`, so that thread may be any.
#[cfg(not(Py_GIL_DISABLED))]
unsafe impl<T: Send> Sync for Cache<T> {}

impl<T> Cache<T> {
    pub(crate) const fn new(value: T) -> Self {
        Cache {
            #[cfg(not(Py_GIL_DISABLED))]
            cell: std::cell::RefCell::new(value),
            #[cfg(Py_GIL_DISABLED)]
            cell: std::sync::Mutex::new(value),
        }
    }
}

/// The cache's contents, for a stretch in which no Python code runs (see
/// [`Cache`]).
#[cfg(not(Py_GIL_DISABLED))]
pub(crate) fn lock<'a, T>(_py: Python<'_>, cache: &'a Cache<T>) -> std::cell::RefMut<'a, T> {
    cache.cell.borrow_mut()
}

/// The cache's contents, for a stretch in which no Python code runs (see
/// [`Cache`]). A panic elsewhere cannot leave a result half written.
#[cfg(Py_GIL_DISABLED)]
pub(crate) fn lock<'a, T>(_py: Python<'_>, cache: &'a Cache<T>) -> std::sync::MutexGuard<'a, T> {
    cache
        .cell
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
