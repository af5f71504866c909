// SPDX-License-Identifier: GPL-2.0

//! ZONE_DEVICE page maps whose busy pages prove their pgmap alive.
//!
//! On 6.12, device-dax and fsdax pages idle at refcount 1 and gup holds the pgmap reference only
//! while it walks, so `memunmap_pages()` can return while a page is still pinned. A [`Pgmap`]
//! follows the rule the mm maintainers converged on instead:
//!
//! - A folio that leaves refcount 0 takes one pgmap reference: [`LiveGuard::request_folios`] and
//!   [`LiveGuard::get_or_request_folio`] do the 0->1 transition through
//!   `zone_device_page_init()`, which takes it with `percpu_ref_tryget_live()`.
//! - The 1->0 transition drops it: `free_zone_device_folio()` calls our `page_free` and then
//!   `put_dev_pagemap()`. `MEMORY_DEVICE_COHERENT` already has both on 6.12.
//! - Teardown blocks new users first ([`Pgmap::kill`]: requests, and so faults, fail with
//!   `ENXIO`), then waits until every requested folio came back through `page_free`
//!   ([`Pgmap::teardown`]), and only then calls `memunmap_pages()`.
//!
//! So the pgmap reference is taken in exactly two places (the two request paths) and dropped in
//! exactly one (the free path), and `outstanding = requested - freed` counts the folios that
//! still hold one.
//!
//! C headers: [`include/linux/memremap.h`](srctree/include/linux/memremap.h).

use crate::ffi;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use kernel::{
    bindings,
    init::{self, PinInit},
    new_mutex,
    prelude::*,
    sync::Mutex,
    time::{msecs_to_jiffies, Ktime},
    types::Opaque,
};

use crate::mm::Page;

/// How often a drain that is still waiting says so in the log.
const DRAIN_LOG_PERIOD_MS: u32 = 5000;

/// What the user of a [`Pgmap`] is told about its pages.
pub trait PgmapOps: Send + Sync + Sized {
    /// Called on a folio's 1->0 transition, wherever the last reference was put: in task,
    /// softirq or hard interrupt context (I/O completion). Must not sleep, allocate or take a
    /// lock that is not IRQ-safe.
    ///
    /// `index` is the page's offset in the pgmap.
    fn page_free(&self, index: usize);
}

/// Where a [`Pgmap`] is in its lifecycle.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PgmapState {
    /// Requests succeed.
    Live,
    /// Killed: requests fail, requested folios drain.
    Dying,
    /// Drained, and `memunmap_pages()` has returned.
    Dead,
}

/// A snapshot of a [`Pgmap`]'s counters.
#[derive(Clone, Copy, Debug)]
pub struct PgmapCounters {
    /// Where the pgmap is in its lifecycle.
    pub state: PgmapState,
    /// Folios that made the 0->1 transition.
    pub requested: u64,
    /// Folios that came back through `page_free`.
    pub freed: u64,
}

impl PgmapCounters {
    /// Folios that still hold a pgmap reference.
    pub fn outstanding(&self) -> u64 {
        self.requested - self.freed
    }
}

/// A `MEMORY_DEVICE_COHERENT` pgmap over a physical range.
///
/// Dropping it tears it down: it kills, waits for the drain without a time limit, and unmaps.
///
/// # Invariants
///
/// - `pagemap` was set up by `memremap_pages()` over `nr_pages` pages from `first_pfn`, and
///   `memunmap_pages()` has been called on it exactly when `state` is [`PgmapState::Dead`].
/// - `requested` only grows while `state` is [`PgmapState::Live`], under the `state` lock;
///   `freed` counts `page_free` calls, so `freed <= requested`.
/// - `dying` is true from the moment `state` leaves [`PgmapState::Live`].
/// - `drained` is completed once `dying` is set and `freed == requested`.
#[pin_data(PinnedDrop)]
pub struct Pgmap<T: PgmapOps> {
    #[pin]
    state: Mutex<PgmapState>,
    dying: AtomicBool,
    requested: AtomicU64,
    freed: AtomicU64,
    #[pin]
    drained: Opaque<bindings::completion>,
    first_pfn: usize,
    nr_pages: usize,
    ops: T,
    // Last, so that `page_free` can find every other field initialized.
    #[pin]
    pagemap: Opaque<bindings::dev_pagemap>,
}

// SAFETY: The C parts (`pagemap`, `drained`) are only touched through the kernel's own locking,
// and the rest are atomics, a mutex, plain numbers, and `T: Send`.
unsafe impl<T: PgmapOps> Send for Pgmap<T> {}
// SAFETY: Every `&self` method synchronises through the mutex, atomics or C-side locking, and
// `T: Sync`.
unsafe impl<T: PgmapOps> Sync for Pgmap<T> {}

impl<T: PgmapOps> Pgmap<T> {
    const OPS: bindings::dev_pagemap_ops = bindings::dev_pagemap_ops {
        page_free: Some(Self::page_free_callback),
        migrate_to_ram: None,
        memory_failure: None,
    };

    /// Creates the struct pages of `[start, start + size)` with `memremap_pages()`.
    ///
    /// The range must be device memory the caller owns (not System RAM), section aligned.
    pub fn new(start: u64, size: u64, ops: T) -> impl PinInit<Self, Error> {
        let page_size = bindings::PAGE_SIZE as u64;
        let first_pfn = (start / page_size) as usize;
        let nr_pages = (size / page_size) as usize;
        try_pin_init!(Self {
            state <- new_mutex!(PgmapState::Live),
            dying: AtomicBool::new(false),
            requested: AtomicU64::new(0),
            freed: AtomicU64::new(0),
            drained <- Opaque::ffi_init(|done| {
                // SAFETY: `done` points to memory for a `completion` that does not move.
                unsafe { crate::ffi::rust_pgmap_init_completion(done) }
            }),
            first_pfn,
            nr_pages,
            ops,
            pagemap <- Self::memremap(start, size),
        })
    }

    fn memremap(start: u64, size: u64) -> impl PinInit<Opaque<bindings::dev_pagemap>, Error> {
        // SAFETY: On success the closure has initialised the pagemap with `memremap_pages()`; on
        // failure `memremap_pages()` undid its own work and nothing needs dropping.
        unsafe {
            init::pin_init_from_closure(move |slot: *mut Opaque<bindings::dev_pagemap>| {
                let pagemap = Opaque::raw_get(slot);
                // SAFETY: All-zero is a valid `dev_pagemap`, and `slot` is valid for writes.
                pagemap.write(core::mem::zeroed());
                // SAFETY: Just initialised, and nobody else knows of it yet.
                let pm = &mut *pagemap;
                pm.type_ = bindings::memory_type_MEMORY_DEVICE_COHERENT;
                *pm.__bindgen_anon_1.range.as_mut() = bindings::range {
                    start,
                    end: start + size - 1,
                };
                pm.nr_range = 1;
                pm.ops = &Self::OPS;
                // Any unique cookie: it names who may migrate these pages, and nobody does.
                pm.owner = pagemap.cast();
                // SAFETY: The pagemap is fully set up, and `slot` is pinned, so it stays where
                // the memmap's `page->pgmap` will point until `memunmap_pages()`.
                let addr = bindings::memremap_pages(pagemap, bindings::NUMA_NO_NODE);
                kernel::error::from_err_ptr(addr).map(|_| ())
            })
        }
    }

    /// Number of pages in the pgmap.
    pub fn nr_pages(&self) -> usize {
        self.nr_pages
    }

    /// The operations given at creation.
    pub fn ops(&self) -> &T {
        &self.ops
    }

    /// Reads the counters.
    pub fn counters(&self) -> PgmapCounters {
        let state = *self.state.lock();
        // Read `freed` first so that `freed <= requested` holds in the snapshot.
        let freed = self.freed.load(Ordering::SeqCst);
        let requested = self.requested.load(Ordering::SeqCst);
        PgmapCounters {
            state,
            requested,
            freed,
        }
    }

    /// Locks the pgmap against teardown for the duration of a request and its use.
    ///
    /// Fails with `ENXIO` once [`Pgmap::kill`] has run. Faults hold the guard across the
    /// insertion of the page, so that a kill either comes first (and the fault fails) or after
    /// (and its zap finds the new mapping).
    pub fn access(&self) -> Result<LiveGuard<'_, T>> {
        let guard = self.state.lock();
        if *guard != PgmapState::Live {
            return Err(ENXIO);
        }
        Ok(LiveGuard {
            pgmap: self,
            _state: guard,
        })
    }

    /// Blocks new users: from now on requests fail with `ENXIO`.
    ///
    /// Returns false if the pgmap was not live. Callers must then zap the user mappings of the
    /// pages, or the drain waits for their owners to unmap them.
    pub fn kill(&self) -> bool {
        let mut state = self.state.lock();
        if *state != PgmapState::Live {
            return false;
        }
        *state = PgmapState::Dying;
        self.dying.store(true, Ordering::SeqCst);
        drop(state);
        pr_info!(
            "kill: new requests fail, {} folios outstanding\n",
            self.outstanding()
        );
        self.complete_if_drained();
        true
    }

    /// Kills, waits until every requested folio was freed, then calls `memunmap_pages()`.
    ///
    /// The wait can be interrupted by a signal (`EINTR`); the pgmap then stays dying and a later
    /// call resumes the wait. Returns how long this call waited, or `ENXIO` if it was dead
    /// already.
    pub fn teardown(&self) -> Result<Ktime> {
        if self.counters().state == PgmapState::Dead {
            return Err(ENXIO);
        }
        self.kill();
        let waited = self.drain(true)?;
        self.unmap();
        Ok(waited)
    }

    fn outstanding(&self) -> u64 {
        self.counters().outstanding()
    }

    /// Waits for `drained`, logging every few seconds what is still out.
    fn drain(&self, interruptible: bool) -> Result<Ktime> {
        let start = Ktime::ktime_get();
        let outstanding = self.outstanding();
        if outstanding != 0 {
            pr_info!("draining: {} folios outstanding\n", outstanding);
        }
        loop {
            let timeout = msecs_to_jiffies(DRAIN_LOG_PERIOD_MS);
            // SAFETY: `drained` was initialised in `new` and lives as long as `self`.
            let ret: ffi::c_long = unsafe {
                if interruptible {
                    bindings::wait_for_completion_interruptible_timeout(self.drained.get(), timeout)
                } else {
                    bindings::wait_for_completion_timeout(self.drained.get(), timeout) as _
                }
            };
            if ret > 0 {
                break;
            }
            if ret < 0 {
                pr_info!(
                    "drain interrupted: {} folios outstanding\n",
                    self.outstanding()
                );
                return Err(EINTR);
            }
            pr_info!(
                "draining: still {} folios outstanding\n",
                self.outstanding()
            );
        }
        let waited = Ktime::ktime_get() - start;
        if outstanding != 0 {
            pr_info!("drained after {} ms\n", waited.to_ms());
        }
        Ok(waited)
    }

    /// Calls `memunmap_pages()` once, after the drain.
    fn unmap(&self) {
        let mut state = self.state.lock();
        if *state != PgmapState::Dying {
            return;
        }
        // SAFETY: By the type invariants the pagemap is mapped (state is not dead), and every
        // requested folio came back (we drained), so no page refers to it any more; the percpu
        // reference of the last `put_dev_pagemap()` is waited for by `memunmap_pages()` itself.
        unsafe { bindings::memunmap_pages(self.pagemap.get()) };
        *state = PgmapState::Dead;
        pr_info!(
            "unmapped pfn {:#x}-{:#x}\n",
            self.first_pfn,
            self.first_pfn + self.nr_pages - 1
        );
    }

    fn complete_if_drained(&self) {
        if self.dying.load(Ordering::SeqCst)
            && self.freed.load(Ordering::SeqCst) == self.requested.load(Ordering::SeqCst)
        {
            // SAFETY: `drained` was initialised in `new`; `complete_all` is IRQ-safe.
            unsafe { bindings::complete_all(self.drained.get()) };
        }
    }

    fn page(&self, index: usize) -> &Page {
        // SAFETY: `index < nr_pages` (checked by the callers), and the memmap of the range
        // exists while the pgmap is not dead, which the callers' `LiveGuard` ensures.
        unsafe { Page::from_raw(crate::ffi::rust_pgmap_pfn_to_page(self.first_pfn + index)) }
    }

    /// # Safety
    ///
    /// `page` belongs to a pagemap created by [`Pgmap::memremap`] for this `T`.
    unsafe extern "C" fn page_free_callback(page: *mut bindings::page) {
        // SAFETY: The caller guarantees that `page` is one of ours, so its pgmap is the
        // `pagemap` field of a `Pgmap<T>`. That `Pgmap<T>` cannot be freed before this returns:
        // its teardown waits for `freed == requested`, which only this call makes true, and
        // then `memunmap_pages()` waits for the `put_dev_pagemap()` that follows it.
        let this = unsafe {
            let pagemap = crate::ffi::rust_pgmap_page_pgmap(page);
            &*kernel::container_of!(pagemap, Self, pagemap)
        };
        // SAFETY: `page` is a valid struct page.
        let pfn = unsafe { crate::ffi::rust_pgmap_page_to_pfn(page) } as usize;
        this.ops.page_free(pfn - this.first_pfn);
        this.freed.fetch_add(1, Ordering::SeqCst);
        this.complete_if_drained();
    }
}

#[pinned_drop]
impl<T: PgmapOps> PinnedDrop for Pgmap<T> {
    fn drop(self: Pin<&mut Self>) {
        if self.counters().state == PgmapState::Dead {
            return;
        }
        self.kill();
        // Unload cannot fail; the wait logs until the last holder lets go.
        let _ = self.drain(false);
        self.unmap();
    }
}

/// Proof that a [`Pgmap`] is live, held while requesting folios and using them.
///
/// # Invariants
///
/// `_state` locks `pgmap.state`, which is [`PgmapState::Live`].
pub struct LiveGuard<'a, T: PgmapOps> {
    pgmap: &'a Pgmap<T>,
    _state: kernel::sync::lock::Guard<'a, PgmapState, kernel::sync::lock::mutex::MutexBackend>,
}

impl<T: PgmapOps> LiveGuard<'_, T> {
    /// Checks that `[offset, offset + nr)` is a non-empty range of the pgmap.
    fn check_range(&self, offset: usize, nr: usize) -> Result {
        let end = offset.checked_add(nr).ok_or(EINVAL)?;
        if nr == 0 {
            return Err(EINVAL);
        }
        if end > self.pgmap.nr_pages {
            return Err(ERANGE);
        }
        Ok(())
    }

    /// Makes the 0->1 transition of `nr` idle folios from `offset`, each taking one pgmap
    /// reference, and returns a handle whose drop puts them.
    ///
    /// Fails with `EBUSY`, taking nothing, if any of them is in use; `EINVAL` if `nr` is zero or
    /// the range overflows; `ERANGE` if it ends beyond the pgmap.
    pub fn request_folios(&self, offset: usize, nr: usize) -> Result<Folios> {
        self.check_range(offset, nr)?;
        // Only this type makes 0->1 transitions, and only under the state lock, so an idle page
        // stays idle until we take it: the check and the requests below cannot race.
        if (offset..offset + nr).any(|i| self.pgmap.page(i).ref_count() != 0) {
            return Err(EBUSY);
        }
        for i in offset..offset + nr {
            self.request_idle(i);
        }
        Ok(Folios {
            first: self.pgmap.page(offset),
            nr,
        })
    }

    /// Takes a reference on the folio at `offset`: shares it if it is in use, requests it (the
    /// 0->1 transition) if it is idle.
    pub fn get_or_request_folio(&self, offset: usize) -> Result<Folios> {
        self.check_range(offset, 1)?;
        let page = self.pgmap.page(offset);
        if !page.try_get() {
            self.request_idle(offset);
        }
        Ok(Folios { first: page, nr: 1 })
    }

    fn request_idle(&self, index: usize) {
        self.pgmap.requested.fetch_add(1, Ordering::SeqCst);
        // SAFETY: The page is ours and idle (refcount 0), and the pgmap is live, so
        // `zone_device_page_init()` finds its percpu reference alive.
        unsafe { crate::ffi::rust_pgmap_zone_device_folio_init(self.pgmap.page(index).as_ptr()) };
    }
}

/// References on consecutive folios of a [`Pgmap`], put on drop.
///
/// The folios keep their pgmap from being unmapped, so the handle needs no lifetime.
///
/// # Invariants
///
/// `first` and the `nr - 1` pages after it are pgmap pages on which this handle owns one
/// reference each.
pub struct Folios {
    first: *const Page,
    nr: usize,
}

// SAFETY: Page references can be put from any context.
unsafe impl Send for Folios {}
// SAFETY: `&Folios` only gives out `&Page`, which is `Sync`.
unsafe impl Sync for Folios {}

impl Folios {
    /// The `i`th page of the handle.
    pub fn page(&self, i: usize) -> &Page {
        assert!(i < self.nr);
        // SAFETY: By the type invariants the page is valid and referenced while `self` lives.
        unsafe { &*self.first.add(i) }
    }

    /// Number of folios held.
    pub fn count(&self) -> usize {
        self.nr
    }
}

impl Drop for Folios {
    fn drop(&mut self) {
        for i in 0..self.nr {
            // SAFETY: By the type invariants we own one reference on each page.
            unsafe { crate::ffi::rust_pgmap_put_page(self.page(i).as_ptr()) };
        }
    }
}
