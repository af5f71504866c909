// SPDX-License-Identifier: GPL-2.0

//! A borrowed view of a struct page, with the accessors that ZONE_DEVICE page lifetimes need.
//!
//! Upstream's `kernel::page::Page` (6.12 already) owns the page it wraps and has none of these
//! accessors; this type takes no reference of its own and only looks at pages that somebody else
//! keeps alive. It has no upstream counterpart.
//!
//! C header: [`include/linux/mm.h`](srctree/include/linux/mm.h).

use crate::ffi;
use kernel::{bindings, types::Opaque};

/// How many pages at the start of a large ZONE_DEVICE folio have a struct page of their own:
/// those in the head's page of the memmap. The vmemmap optimisation that `vmemmap_shift` turns
/// on maps the memmap of later tails to pages that the folio's tails share, so their fields,
/// such as `_mapcount`, alias (`Documentation/mm/vmemmap_dedup.rst`).
pub const PAGES_WITH_OWN_STRUCT_PAGE: usize =
    kernel::page::PAGE_SIZE / core::mem::size_of::<bindings::page>();

/// A struct page that somebody else keeps alive; this type takes no reference of its own.
///
/// # Invariants
///
/// The wrapped struct page is valid while the `&Page` is.
#[repr(transparent)]
pub struct Page(Opaque<bindings::page>);

// SAFETY: A struct page is shared by the whole kernel; every method uses atomic accessors.
unsafe impl Sync for Page {}

impl Page {
    /// # Safety
    ///
    /// `ptr` is a valid struct page for the lifetime `'a`.
    pub unsafe fn from_raw<'a>(ptr: *mut bindings::page) -> &'a Self {
        // SAFETY: `Page` is a transparent wrapper, and the caller guarantees validity.
        unsafe { &*ptr.cast() }
    }

    /// The struct page.
    pub fn as_ptr(&self) -> *mut bindings::page {
        self.0.get()
    }

    /// The page's reference count.
    pub fn ref_count(&self) -> i32 {
        // SAFETY: The page is valid by the type invariants.
        unsafe { ffi::rust_pgmap_page_count(self.as_ptr()) }
    }

    /// Takes a reference unless the count is zero; on true, the caller owns it.
    #[must_use = "on true the caller owns a reference, which it must put"]
    pub fn try_get(&self) -> bool {
        // SAFETY: The page is valid by the type invariants.
        unsafe { ffi::rust_pgmap_get_page_unless_zero(self.as_ptr()) }
    }

    /// Takes one more reference, which the caller then owns.
    ///
    /// # Safety
    ///
    /// The caller owns a reference on the page, so that its count is above zero.
    pub unsafe fn get(&self) {
        // SAFETY: The page is valid by the type invariants; a count above zero may be raised.
        unsafe { ffi::rust_pgmap_page_ref_inc(self.as_ptr()) };
    }

    /// Puts a reference; the last one frees the page (for ZONE_DEVICE pages: calls the pgmap's
    /// `page_free`). Any context.
    ///
    /// # Safety
    ///
    /// The caller owns a reference on the page, which it gives up.
    pub unsafe fn put(&self) {
        // SAFETY: The page is valid, and the caller gives up a reference it owns.
        unsafe { ffi::rust_pgmap_put_page(self.as_ptr()) };
    }

    /// The page frame number.
    pub fn pfn(&self) -> usize {
        // SAFETY: The page is valid by the type invariants.
        unsafe { ffi::rust_pgmap_page_to_pfn(self.as_ptr()) as usize }
    }

    /// Names `mapping` and the file page `index` as the folio's, as a page cache folio names
    /// its file's.
    ///
    /// # Safety
    ///
    /// Nobody else reads or writes the folio's `mapping` and `index` meanwhile (for example: it
    /// was just handed out, and is mapped nowhere yet), and `mapping` outlives every use of the
    /// folio that may read it.
    pub unsafe fn set_file_mapping(&self, mapping: *mut bindings::address_space, index: usize) {
        // SAFETY: The page is valid by the type invariants; the caller guarantees the rest.
        unsafe { ffi::rust_pgmap_folio_set_file_mapping(self.as_ptr(), mapping, index as _) };
    }

    /// Whether its folio may be pinned for DMA (`folio_maybe_dma_pinned()`).
    pub fn maybe_dma_pinned(&self) -> bool {
        // SAFETY: The page is valid by the type invariants.
        unsafe { ffi::rust_pgmap_page_maybe_dma_pinned(self.as_ptr()) }
    }

    /// How many page tables map its folio.
    pub fn map_count(&self) -> i32 {
        // SAFETY: The page is valid by the type invariants.
        unsafe { ffi::rust_pgmap_page_mapcount(self.as_ptr()) }
    }

    /// The pgmap of a ZONE_DEVICE page, or null for any other page. Only compared, never
    /// dereferenced.
    pub fn zone_device_pgmap(&self) -> *mut bindings::dev_pagemap {
        // SAFETY: The page is valid by the type invariants.
        unsafe { ffi::rust_pgmap_page_zone_device_pgmap(self.as_ptr()) }
    }
}

/// The lock of a folio (`folio_lock()`), held until the guard drops.
///
/// # Invariants
///
/// The folio of `page` is locked, by this guard.
#[must_use = "dropping the guard unlocks the folio at once"]
pub struct FolioLock<'a> {
    page: &'a Page,
}

impl Page {
    /// Locks the page's folio, sleeping until it can.
    pub fn lock_folio(&self) -> FolioLock<'_> {
        // SAFETY: The page is valid by the type invariants; the caller may sleep.
        unsafe { ffi::rust_pgmap_folio_lock(self.as_ptr()) };
        // INVARIANT: We just locked the folio.
        FolioLock { page: self }
    }
}

impl Drop for FolioLock<'_> {
    fn drop(&mut self) {
        // SAFETY: By the type invariants we locked the folio, and nobody else unlocks it.
        unsafe { ffi::rust_pgmap_folio_unlock(self.page.as_ptr()) };
    }
}
