// SPDX-License-Identifier: GPL-2.0

//! The free path: `page_free` counts a folio back, marks its page idle and, in
//! [`RefMode::Folio`], drops its pgmap reference; and the per-page idle and unsettled bits that
//! requests and the drain read.

use super::{Pgmap, PgmapOps, RefMode};
use crate::compat::{dev_pagemap::DevPagemap, page::Page};
use core::sync::atomic::{AtomicU64, Ordering};
use kernel::{alloc::KVVec, bindings, prelude::*};

impl<T: PgmapOps> Pgmap<T> {
    /// Whether folio `index`, whose head is `page`, is idle: its `page_free` has run since its
    /// last request, and its count is back at the idle 1.
    pub(super) fn is_idle(&self, index: usize, page: &Page) -> bool {
        self.pages.is_idle(index) && page.ref_count() == 1
    }

    pub(super) fn complete_if_drained(&self) {
        if self.mode == RefMode::Folio
            && self.dying.load(Ordering::SeqCst)
            && self.freed.load(Ordering::SeqCst) == self.requested.load(Ordering::SeqCst)
        {
            // INVARIANT: Dying and drained.
            self.drained.complete_all();
        }
    }

    /// # Safety
    ///
    /// `page` belongs to a pagemap created by [`Pgmap::new`] for this `T`, and its last
    /// reference was just put.
    pub(super) unsafe extern "C" fn page_free_callback(page: *mut bindings::page) {
        // SAFETY: The caller guarantees that `page` is one of ours, so its pgmap is the
        // `pagemap` field of a `Pgmap<T>`, found from the raw pointer that the page holds.
        // That `Pgmap<T>` is not freed before the caller's last access to the page: its
        // teardown waits until the page's count is back at 1, which `free_zone_device_folio()`
        // stores after we return, as the last thing it does; it reads the pgmap's type before
        // that, and x86, the only target this module builds for, orders the read before the
        // store.
        let this = unsafe {
            let pagemap = DevPagemap::from_raw(DevPagemap::pgmap_of(page));
            &*kernel::container_of!(pagemap, Self, pagemap)
        };
        // SAFETY: As above: the page is valid for the whole call.
        let page = unsafe { Page::from_raw(page) };
        let index = this.pagemap.folio_index_of(page);
        this.ops.page_free(index);
        if page.ref_count() != 0 {
            this.freed_live.fetch_add(1, Ordering::Relaxed);
        }
        // Only now may a request hand the page out again, once its count is back at 1.
        this.pages.set_freed(index);
        this.freed.fetch_add(1, Ordering::SeqCst);
        if this.mode == RefMode::Folio {
            // SAFETY: By the type invariants the page held one reference of the pagemap's
            // count since its request, which its free gives up.
            unsafe { this.pagemap.put_ref() };
        }
        this.complete_if_drained();
    }
}

/// Two bits per folio of a [`Pgmap`]: idle, and unsettled (freed, its count maybe not yet back
/// at 1).
///
/// # Invariants
///
/// - A page marked unsettled is marked idle too.
/// - Both bits are set together, by `page_free` in any context; the idle bit is cleared only by
///   a request, under the pgmap's state lock, and the unsettled bit by a request or by the
///   drain once it saw the page's count back at 1, under that lock too.
pub(super) struct PageStates {
    words: KVVec<AtomicU64>,
}

impl PageStates {
    const PAGES_PER_WORD: usize = 32;
    const IDLE: u64 = 0b01;
    const UNSETTLED: u64 = 0b10;
    /// The idle bit of every page of a word.
    const ALL_IDLE: u64 = 0x5555_5555_5555_5555;
    /// The unsettled bit of every page of a word.
    const ALL_UNSETTLED: u64 = 0xAAAA_AAAA_AAAA_AAAA;

    /// Every page starts idle and settled: `memremap_pages()` leaves GENERIC pages at 1. The
    /// bits of pages beyond the last, in the last word, stay idle too.
    pub(super) fn new(nr_pages: usize) -> Result<Self> {
        let nr_words = nr_pages.div_ceil(Self::PAGES_PER_WORD);
        let mut words = KVVec::with_capacity(nr_words, GFP_KERNEL)?;
        for _ in 0..nr_words {
            words.push(AtomicU64::new(Self::ALL_IDLE), GFP_KERNEL)?;
        }
        Ok(Self { words })
    }

    /// The word of page `index`, and the shift of its two bits.
    fn locate(index: usize) -> (usize, u32) {
        (
            index / Self::PAGES_PER_WORD,
            (2 * (index % Self::PAGES_PER_WORD)) as u32,
        )
    }

    /// Acquire: a page seen idle is seen with everything its `page_free` did.
    pub(super) fn is_idle(&self, index: usize) -> bool {
        let (word, shift) = Self::locate(index);
        self.words[word].load(Ordering::Acquire) >> shift & Self::IDLE != 0
    }

    pub(super) fn set_busy(&self, index: usize) {
        let (word, shift) = Self::locate(index);
        self.words[word].fetch_and(
            !((Self::IDLE | Self::UNSETTLED) << shift),
            Ordering::Relaxed,
        );
    }

    /// Release: pairs with [`PageStates::is_idle`].
    fn set_freed(&self, index: usize) {
        let (word, shift) = Self::locate(index);
        self.words[word].fetch_or((Self::IDLE | Self::UNSETTLED) << shift, Ordering::Release);
    }

    pub(super) fn clear_unsettled(&self, index: usize) {
        let (word, shift) = Self::locate(index);
        self.words[word].fetch_and(!(Self::UNSETTLED << shift), Ordering::Relaxed);
    }

    /// The first page from `from` on that is marked unsettled.
    pub(super) fn next_unsettled(&self, from: usize) -> Option<usize> {
        let (first, shift) = Self::locate(from);
        let mut mask = Self::ALL_UNSETTLED & (u64::MAX << shift);
        for word in first..self.words.len() {
            let bits = self.words[word].load(Ordering::Acquire) & mask;
            if bits != 0 {
                return Some(word * Self::PAGES_PER_WORD + bits.trailing_zeros() as usize / 2);
            }
            mask = Self::ALL_UNSETTLED;
        }
        None
    }

    /// Calls `f` with the index of each busy page, in order.
    pub(super) fn for_each_busy(&self, mut f: impl FnMut(usize)) {
        for (word, bits) in self.words.iter().enumerate() {
            let mut busy = !bits.load(Ordering::Acquire) & Self::ALL_IDLE;
            while busy != 0 {
                f(word * Self::PAGES_PER_WORD + busy.trailing_zeros() as usize / 2);
                busy &= busy - 1;
            }
        }
    }
}
