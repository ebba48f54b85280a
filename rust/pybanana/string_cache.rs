//! Caches of recently decoded short strings (jelly tags, dict keys, short
//! str values), one of text and one of bytes per thread, so that equal
//! strings in a message share one object.

use pyo3::prelude::*;

use super::errors::BuildError;
use crate::banana::words::padded_word;

/// Strings up to this many bytes are shared with equal recent ones.
const RECENT_BYTES: usize = 24;

/// Slots of each cache of recent strings (a power of two).
const RECENT_SLOTS: usize = 512;

struct RecentEntry {
    /// The bytes as zero-padded little-endian words, and their length.
    words: [u64; RECENT_BYTES / 8],
    len: usize,
    object: Py<PyAny>,
}

type RecentSlots = Box<[Option<RecentEntry>; RECENT_SLOTS]>;

thread_local! {
    static RECENT_TEXTS: std::cell::Cell<Option<RecentSlots>> = const { std::cell::Cell::new(None) };
    static RECENT_BYTES_OBJECTS: std::cell::Cell<Option<RecentSlots>> =
        const { std::cell::Cell::new(None) };
}

/// Recently decoded short strings, by a hash of their bytes: jelly tags
/// and dict keys repeat all through a message (a thousand records with the
/// same field names) and from one message to the next. Strings and bytes
/// are immutable, so sharing one object between equal ones changes nothing
/// but the allocations, and the shared object keeps its hash for every dict
/// (or registry lookup) it goes into.
///
/// One cache of each kind per thread; a decode takes it for its duration
/// (so that each string costs no thread-local lookup) and gives it back
/// when dropped. A decode nested in a hook gets an empty one.
pub(crate) struct StringCache {
    /// Given back to the thread when dropped (see [`StringCache::drop`]).
    slots: std::mem::ManuallyDrop<RecentSlots>,
    /// Text (dict keys) or bytes.
    text: bool,
}

impl StringCache {
    fn take(text: bool) -> StringCache {
        let store = if text {
            &RECENT_TEXTS
        } else {
            &RECENT_BYTES_OBJECTS
        };
        let slots = store.with(|cache| cache.take()).unwrap_or_else(|| {
            // Made on the heap (not moved there from the stack: a 20 KiB
            // array is too much for a small thread stack).
            let mut slots = Vec::with_capacity(RECENT_SLOTS);
            slots.resize_with(RECENT_SLOTS, || None);
            slots
                .into_boxed_slice()
                .try_into()
                .unwrap_or_else(|_| unreachable!("RECENT_SLOTS slots"))
        });
        StringCache {
            slots: std::mem::ManuallyDrop::new(slots),
            text,
        }
    }

    /// This thread's cache of text dict keys.
    pub(crate) fn texts() -> StringCache {
        StringCache::take(true)
    }

    /// This thread's cache of byte strings.
    pub(crate) fn bytes() -> StringCache {
        StringCache::take(false)
    }

    /// The str whose UTF-8 is `bytes` (or the bytes object, for a cache of
    /// bytes), shared with the equal one decoded last if it is short.
    #[inline]
    pub(crate) fn get<'py>(
        &mut self,
        py: Python<'py>,
        bytes: &[u8],
    ) -> Result<Bound<'py, PyAny>, BuildError> {
        if bytes.len() > RECENT_BYTES {
            return Ok(self.make(py, bytes)?);
        }
        let words = [
            padded_word(bytes, 0),
            padded_word(bytes, 8),
            padded_word(bytes, 16),
        ];
        self.lookup(py, bytes, words)
    }

    /// [`StringCache::get`] for at most 8 bytes, whose little-endian word (zero
    /// past them) the caller has read already.
    #[inline(always)]
    pub(crate) fn get_short<'py>(
        &mut self,
        py: Python<'py>,
        bytes: &[u8],
        word: u64,
    ) -> Result<Bound<'py, PyAny>, BuildError> {
        debug_assert!(bytes.len() <= 8 && word == padded_word(bytes, 0));
        let words = [word, 0, 0];
        let index = slot(&words, bytes.len());
        if let Some(entry) = &self.slots[index] {
            // An entry of the same length (at most 8) has zero past its
            // first word, as `words` has: that word says if it is equal.
            if entry.len == bytes.len() && entry.words[0] == word {
                return Ok(entry.object.bind(py).clone());
            }
        }
        self.miss(py, bytes, words, index)
    }

    #[inline(always)]
    fn lookup<'py>(
        &mut self,
        py: Python<'py>,
        bytes: &[u8],
        words: [u64; RECENT_BYTES / 8],
    ) -> Result<Bound<'py, PyAny>, BuildError> {
        let index = slot(&words, bytes.len());
        if let Some(entry) = &self.slots[index] {
            if entry.len == bytes.len() && entry.words == words {
                return Ok(entry.object.bind(py).clone());
            }
        }
        self.miss(py, bytes, words, index)
    }

    #[inline(never)]
    fn miss<'py>(
        &mut self,
        py: Python<'py>,
        bytes: &[u8],
        words: [u64; RECENT_BYTES / 8],
        index: usize,
    ) -> Result<Bound<'py, PyAny>, BuildError> {
        let object = self.make(py, bytes)?;
        self.slots[index] = Some(RecentEntry {
            words,
            len: bytes.len(),
            object: object.clone().unbind(),
        });
        Ok(object)
    }

    #[inline]
    fn make<'py>(&self, py: Python<'py>, bytes: &[u8]) -> PyResult<Bound<'py, PyAny>> {
        if self.text {
            return super::text::str_from_utf8(py, bytes);
        }
        super::text::bytes_object(py, bytes)
    }
}

/// The slot of the bytes of length `len` whose (zero-padded) words are
/// `words`.
#[inline(always)]
fn slot(words: &[u64; RECENT_BYTES / 8], len: usize) -> usize {
    let mixed = (words[0] ^ words[1].rotate_left(21) ^ words[2].rotate_left(42) ^ len as u64)
        .wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (mixed >> 40) as usize & (RECENT_SLOTS - 1)
}

impl Drop for StringCache {
    /// The slots go back to the thread, unless a decode nested in this one
    /// (in a hook) gave its own back already: those are kept.
    fn drop(&mut self) {
        // SAFETY: `slots` is taken once, here, and not used after.
        let slots = unsafe { std::mem::ManuallyDrop::take(&mut self.slots) };
        let store = if self.text {
            &RECENT_TEXTS
        } else {
            &RECENT_BYTES_OBJECTS
        };
        store.with(|cache| {
            let kept = cache.take().unwrap_or(slots);
            cache.set(Some(kept));
        });
    }
}
