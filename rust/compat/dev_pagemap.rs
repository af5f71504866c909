// SPDX-License-Identifier: GPL-2.0

//! A ZONE_DEVICE page map over a claimed region: `memremap_pages()` creates the struct pages of
//! the range, `memunmap_pages()` removes them. No upstream counterpart (6.18 has none).
//!
//! C header: [`include/linux/memremap.h`](srctree/include/linux/memremap.h).

use crate::{
    compat::{
        page::Page,
        region::{LegacyPmemRegion, PhysRange},
    },
    ffi,
};
use core::sync::atomic::{AtomicBool, Ordering};
use kernel::{
    bindings,
    init::{self, PinInit},
    page::PAGE_SIZE,
    prelude::*,
    sync::Arc,
    types::Opaque,
};

pub use bindings::dev_pagemap_ops;

/// The size of a map's folios.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FolioSize {
    /// One page each: device-dax's `-a 4K`.
    Base,
    /// 2 MiB each, mappable by one PMD: device-dax's default alignment. The memmap is built of
    /// compound pages (`vmemmap_shift`), whose tails the vmemmap optimisation shares.
    Pmd,
}

impl FolioSize {
    /// Parses the `folio_size` module parameter: `4K` or `2M`.
    pub fn parse(name: &kernel::str::CStr) -> Option<Self> {
        match name.as_bytes() {
            b"4K" | b"4k" => Some(Self::Base),
            b"2M" | b"2m" => Some(Self::Pmd),
            _ => None,
        }
    }

    /// The name that [`FolioSize::parse`] takes.
    pub fn name(self) -> &'static str {
        match self {
            Self::Base => "4K",
            Self::Pmd => "2M",
        }
    }

    /// Whether this kernel can map folios of this size into user space: by PTE always, by PMD
    /// only with `CONFIG_TRANSPARENT_HUGEPAGE`, which 6.12 does not offer with `PREEMPT_RT`.
    pub fn mappable(self) -> bool {
        match self {
            Self::Base => true,
            // SAFETY: A plain query of a CPU feature; no preconditions.
            Self::Pmd => unsafe { ffi::rust_pgmap_has_pmd_mappings() },
        }
    }

    /// The folio order: `log2` of its number of pages.
    pub fn order(self) -> u32 {
        match self {
            Self::Base => 0,
            Self::Pmd => bindings::PMD_SHIFT - bindings::PAGE_SHIFT,
        }
    }

    /// The number of pages in a folio.
    pub fn pages(self) -> usize {
        1 << self.order()
    }

    /// The size of a folio in bytes.
    pub fn bytes(self) -> usize {
        PAGE_SIZE << self.order()
    }

    /// Whether `range` is made of whole folios: starts and ends on a folio boundary.
    pub fn divides(self, range: &PhysRange) -> bool {
        let bytes = self.bytes() as u64;
        range.start % bytes == 0 && range.size % bytes == 0
    }
}

/// A `MEMORY_DEVICE_GENERIC` `struct dev_pagemap` over a claimed region, with its memmap.
///
/// Its pages idle at refcount 1 (`memmap_init_zone_device()`), and `memremap_pages()` takes
/// one reference of the map's own count (`dev_pagemap.ref`) for each of them, which
/// `memunmap_pages()` drops. [`DevPagemap::get_refs`] and [`DevPagemap::put_ref`] take and drop
/// more, which `memunmap_pages()` waits for.
///
/// # Invariants
///
/// - `inner` was set up by `memremap_pages()` over `region`'s range, whose pages are the
///   `nr_pages` from `first_pfn`, with the `ops` given to [`DevPagemap::new`], in folios of
///   `folio_size`, of which `nr_pages` and `first_pfn` are multiples; it does not move.
/// - `unmapped` is set once, by the one call that then runs `memunmap_pages()` on it.
/// - Its owner calls [`DevPagemap::unmap`] before it drops it (the rule of
///   [`DevPagemap::new`]): the memmap points to `inner`, which goes with the drop.
#[pin_data(PinnedDrop)]
pub struct DevPagemap {
    // The region stays claimed as long as its pages exist.
    region: Arc<LegacyPmemRegion>,
    first_pfn: usize,
    nr_pages: usize,
    folio_size: FolioSize,
    unmapped: AtomicBool,
    // Last: `memremap_pages()` runs when the rest is set.
    #[pin]
    inner: Opaque<bindings::dev_pagemap>,
}

// SAFETY: The C part is only changed by `memremap_pages()` and `memunmap_pages()`, and its
// percpu count is updated with atomics; the rest is plain data and an `Arc`.
unsafe impl Send for DevPagemap {}
// SAFETY: As above: `&self` methods use the kernel's own synchronisation.
unsafe impl Sync for DevPagemap {}

impl DevPagemap {
    /// Creates the struct pages of `region` in folios of `folio_size`, whose last put calls
    /// `ops.page_free`. `EINVAL` if the region is not aligned to the folio size.
    ///
    /// # Safety
    ///
    /// `ops.page_free` may be called with any page of the map, in any context, until
    /// [`DevPagemap::unmap`] returns; and the caller calls that before it drops the map.
    pub unsafe fn new(
        region: Arc<LegacyPmemRegion>,
        ops: &'static dev_pagemap_ops,
        folio_size: FolioSize,
    ) -> Result<impl PinInit<Self, Error>> {
        let range = region.range();
        if !folio_size.divides(&range) {
            return Err(EINVAL);
        }
        let first_pfn = (range.start / PAGE_SIZE as u64) as usize;
        let nr_pages = (range.size / PAGE_SIZE as u64) as usize;
        // The macro below shadows each field's name with a reference to the field.
        let memmap_folio_size = folio_size;
        Ok(try_pin_init!(Self {
            region,
            first_pfn,
            nr_pages,
            folio_size,
            unmapped: AtomicBool::new(false),
            inner <- Self::memremap(range.start, range.size, ops, memmap_folio_size),
        }))
    }

    fn memremap(
        start: u64,
        size: u64,
        ops: &'static dev_pagemap_ops,
        folio_size: FolioSize,
    ) -> impl PinInit<Opaque<bindings::dev_pagemap>, Error> {
        let init = move |slot: *mut Opaque<bindings::dev_pagemap>| {
            let pagemap = Opaque::raw_get(slot);
            // SAFETY: All-zero is a valid `dev_pagemap`: no ops, no ranges.
            let mut pm: bindings::dev_pagemap = unsafe { core::mem::zeroed() };
            pm.type_ = bindings::memory_type_MEMORY_DEVICE_GENERIC;
            // SAFETY: `nr_range` is 1, so the union holds `range`.
            let range = unsafe { pm.__bindgen_anon_1.range.as_mut() };
            // A claimed region is never empty (the type invariants of `LegacyPmemRegion`).
            *range = bindings::range {
                start,
                end: start + size - 1,
            };
            pm.nr_range = 1;
            pm.ops = ops;
            pm.vmemmap_shift = folio_size.order() as _;
            // SAFETY: `slot` is valid for writes.
            unsafe { pagemap.write(pm) };
            // SAFETY: The pagemap is set up, and `slot` is pinned, so it stays where the
            // memmap's `page->pgmap` will point until `memunmap_pages()`; the range is a region
            // that the caller claimed, so nobody else maps it.
            let addr = unsafe { bindings::memremap_pages(pagemap, bindings::NUMA_NO_NODE) };
            // INVARIANT: On success the pagemap is mapped over the region with `ops`.
            kernel::error::from_err_ptr(addr).map(|_| ())
        };
        // SAFETY: On success the closure has initialised the pagemap with `memremap_pages()`; on
        // failure `memremap_pages()` undid its own work and nothing needs dropping.
        unsafe { init::pin_init_from_closure(init) }
    }

    /// The number of pages.
    pub fn nr_pages(&self) -> usize {
        self.nr_pages
    }

    /// The number of folios.
    pub fn nr_folios(&self) -> usize {
        self.nr_pages >> self.folio_size.order()
    }

    /// The size of the folios.
    pub fn folio_size(&self) -> FolioSize {
        self.folio_size
    }

    /// The first page frame number.
    pub fn first_pfn(&self) -> usize {
        self.first_pfn
    }

    /// The map whose `dev_pagemap` is `pgmap`, as a raw pointer derived from `pgmap`: its
    /// container can then find itself without narrowing the pointer to this field, as a
    /// reference would.
    ///
    /// # Safety
    ///
    /// `pgmap` is the `dev_pagemap` of a `DevPagemap`.
    pub unsafe fn from_raw(pgmap: *mut bindings::dev_pagemap) -> *const Self {
        // SAFETY: The caller guarantees that `pgmap` is the `inner` field of a `Self`, so the
        // subtraction stays inside it.
        unsafe { kernel::container_of!(pgmap, Self, inner) }
    }

    /// The `dev_pagemap` of a page of ours.
    ///
    /// # Safety
    ///
    /// `page` is a valid struct page of a ZONE_DEVICE map.
    pub unsafe fn pgmap_of(page: *mut bindings::page) -> *mut bindings::dev_pagemap {
        // SAFETY: The caller guarantees a ZONE_DEVICE page, whose `pgmap` field is set.
        unsafe { ffi::rust_pgmap_page_pgmap(page) }
    }

    /// The index of the folio of `page`, a page of this map.
    pub fn folio_index_of(&self, page: &Page) -> usize {
        (page.pfn() - self.first_pfn) >> self.folio_size.order()
    }

    /// Whether `page` is one of this map's pages.
    pub fn owns(&self, page: &Page) -> bool {
        page.zone_device_pgmap() == self.inner.get()
    }

    /// The head page of folio `index`.
    ///
    /// # Safety
    ///
    /// `index < nr_folios`, and the map is not unmapped while the borrow lives.
    pub unsafe fn folio(&self, index: usize) -> &Page {
        let pfn = self.first_pfn + (index << self.folio_size.order());
        // SAFETY: The caller guarantees that the page is in the range, whose memmap exists.
        unsafe { Page::from_raw(ffi::rust_pgmap_pfn_to_page(pfn)) }
    }

    /// Takes `nr` references of the map's own count, which `memunmap_pages()` then waits for.
    ///
    /// # Safety
    ///
    /// The map is not unmapped, and is not unmapped during the call.
    pub unsafe fn get_refs(&self, nr: usize) {
        // SAFETY: By the type invariants and the caller's promise, the percpu count is
        // initialised and not exited.
        unsafe { ffi::rust_pgmap_pgmap_ref_get_many(self.inner.get(), nr as _) };
    }

    /// Drops one reference taken with [`DevPagemap::get_refs`]. Any context.
    ///
    /// # Safety
    ///
    /// The caller owns a reference from [`DevPagemap::get_refs`], which it gives up.
    pub unsafe fn put_ref(&self) {
        // SAFETY: The reference keeps `memunmap_pages()` from exiting the percpu count.
        unsafe { ffi::rust_pgmap_pgmap_ref_put(self.inner.get()) };
    }

    /// Calls `memunmap_pages()`, which waits for the references of [`DevPagemap::get_refs`]
    /// and removes the memmap. Returns false, doing nothing, if that happened already.
    ///
    /// # Safety
    ///
    /// Nothing uses a page of the map any more, nor will: every page is back at its idle
    /// refcount of 1, no free of one is still running, and no new reference can be taken.
    pub unsafe fn unmap(&self) -> bool {
        if self.unmapped.swap(true, Ordering::AcqRel) {
            return false;
        }
        // SAFETY: The map is mapped (we were first to set `unmapped`), and the caller
        // guarantees that its pages are unused.
        unsafe { bindings::memunmap_pages(self.inner.get()) };
        true
    }
}

#[pinned_drop]
impl PinnedDrop for DevPagemap {
    fn drop(self: Pin<&mut Self>) {
        // By the type invariants the owner unmapped the map first; this catches an owner that
        // broke the rule of `new`, which nothing here can repair.
        if !self.unmapped.load(Ordering::Acquire) {
            pr_err!("a pgmap was dropped without memunmap_pages(): its region stays claimed\n");
            core::mem::forget(self.region.clone());
        }
    }
}
