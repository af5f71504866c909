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
//! That is [`RefMode::Folio`], the default. [`RefMode::Scan`] is the other answer to the same
//! question, measured side by side: no per-folio reference at all, pages idle at refcount 1
//! (`MEMORY_DEVICE_GENERIC`, as device-dax's), and a teardown that, after the kill and the zap,
//! sweeps the pages until every one is idle before it calls `memunmap_pages()`.
//!
//! A page is idle only once its `page_free` has run, not when its refcount reaches 0:
//! `free_zone_device_folio()` calls `page_free` after the last put, so a request that trusted
//! the refcount could hand out a page whose free is still in flight, and `page_free` would then
//! run on a page that is in use again. The pgmap keeps an idle bit per page instead, set at the
//! end of `page_free` and cleared by the request, as nouveau and `lib/test_hmm.c` keep free
//! lists.
//!
//! C headers: [`include/linux/memremap.h`](srctree/include/linux/memremap.h).

use crate::{compat::shared_mapping::SharedMapping, ffi};
use core::{
    fmt,
    sync::atomic::{AtomicBool, AtomicU64, Ordering},
};
use kernel::{
    alloc::KVVec,
    bindings,
    init::{self, PinInit},
    new_mutex,
    page::PAGE_SIZE,
    prelude::*,
    sync::{Arc, Mutex},
    time::{msecs_to_jiffies, Ktime},
    types::Opaque,
};

use crate::compat::page::Page;

/// The first and the longest sleep between two polls of a [`RefMode::Scan`] sweep that waits
/// for a busy page. Nothing calls us when a page goes idle, so the sweep polls; doubling from
/// 1 ms keeps a short wait short, and the cap bounds how late the sweep notices the last put.
const SWEEP_FIRST_SLEEP_MS: u32 = 1;
const SWEEP_MAX_SLEEP_MS: u32 = 16;

/// How a [`Pgmap`] keeps itself alive while its pages are in use: the thread's two answers.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RefMode {
    /// `MEMORY_DEVICE_COHERENT`: pages idle at refcount 0, a request (0->1) takes a pgmap
    /// reference and `page_free` (1->0) drops it; the drain waits for `freed == requested`.
    Folio,
    /// `MEMORY_DEVICE_GENERIC`: pages idle at refcount 1 and hold no pgmap reference of their
    /// own (`memremap_pages()` takes one for all of them); nothing is called on the last put,
    /// so the teardown sweeps the pages, polling each busy one until it is idle.
    Scan,
}

impl RefMode {
    /// Parses the `refmode` module parameter.
    pub fn parse(name: &CStr) -> Option<Self> {
        match name.as_bytes() {
            b"folio" => Some(Self::Folio),
            b"scan" => Some(Self::Scan),
            _ => None,
        }
    }

    /// The name that `parse` takes.
    pub fn name(self) -> &'static str {
        match self {
            Self::Folio => "folio",
            Self::Scan => "scan",
        }
    }
}

/// How often a drain that is still waiting says so in the log.
///
/// The lifecycle lines (kill, draining, drained, unmapped) are `pr_info!`: there is one per
/// transition and one per period of a stuck drain, and they are what someone debugging a hung
/// unbind or rmmod has to go on. The request, fault and free paths log nothing.
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
    /// Folios that made the 0->1 transition ([`RefMode::Scan`]: the idle->busy one, 1->2).
    pub requested: u64,
    /// Folios that came back through `page_free` ([`RefMode::Scan`], which has no callback:
    /// `requested` minus the pages busy now, counted by a sweep).
    pub freed: u64,
    /// `page_free` calls that found their page in use again. Nonzero means a page was handed
    /// out before its free had finished.
    pub freed_live: u64,
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
/// - `drained` is completed once `dying` is set and `freed == requested`; `drained_work` is
///   initialised and completes it when it runs. Both are used in [`RefMode::Folio`] only.
/// - In [`RefMode::Scan`] every page has a refcount of at least 1 while the pagemap is mapped,
///   and `page_free` never runs; `freed` stays 0.
/// - A page is marked idle in `idle` exactly when it is not requested, or its `page_free` has
///   run since its last request; it is marked busy only under the `state` lock.
/// - A page's `mapping` is either NULL or `file_mapping`'s, which lives as long as `self`, so
///   longer than the memmap. ([`RefMode::Folio`]: `free_zone_device_folio()` also clears it
///   before `page_free`; [`RefMode::Scan`]: it stays set, as device-dax's does.)
#[pin_data(PinnedDrop)]
pub struct Pgmap<T: PgmapOps> {
    #[pin]
    state: Mutex<PgmapState>,
    dying: AtomicBool,
    requested: AtomicU64,
    freed: AtomicU64,
    freed_live: AtomicU64,
    idle: IdleMap,
    #[pin]
    drained: Opaque<bindings::completion>,
    // `complete_all()` must not run in hard interrupt context on PREEMPT_RT, where its waiters'
    // wake-up is unbounded under a raw lock; a free from I/O completion defers it to here.
    #[pin]
    drained_work: Opaque<ffi::irq_work>,
    first_pfn: usize,
    nr_pages: usize,
    ops: T,
    mode: RefMode,
    file_mapping: Option<Arc<SharedMapping>>,
    // Last, so that `page_free` can find every other field initialized.
    #[pin]
    pagemap: Opaque<bindings::dev_pagemap>,
}

// SAFETY: The C parts (`pagemap`, `drained`, `drained_work`) are only touched through the
// kernel's own locking, and the rest are atomics (the idle map too), a mutex, plain numbers, and
// `T: Send`.
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
    ///
    /// Pages that [`LiveGuard::get_or_request_folio`] hands out for user mappings name
    /// `file_mapping` as their `folio->mapping`, at file page = pgmap offset: the lockless
    /// gup-fast walk takes only folios whose mapping it can vouch for, and falls back to the slow
    /// path, several times slower, on a NULL one.
    pub fn new(
        start: u64,
        size: u64,
        ops: T,
        mode: RefMode,
        file_mapping: Option<Arc<SharedMapping>>,
    ) -> Result<impl PinInit<Self, Error>> {
        let page_size = PAGE_SIZE as u64;
        let first_pfn = (start / page_size) as usize;
        let nr_pages = (size / page_size) as usize;
        let idle = IdleMap::new(nr_pages)?;
        // The initializer sees the fields set before `pagemap` as references, not values.
        let memremap_mode = mode;
        Ok(try_pin_init!(Self {
            state <- new_mutex!(PgmapState::Live),
            dying: AtomicBool::new(false),
            requested: AtomicU64::new(0),
            freed: AtomicU64::new(0),
            freed_live: AtomicU64::new(0),
            idle,
            drained <- Opaque::ffi_init(|done| {
                // SAFETY: `done` points to memory for a `completion` that does not move.
                unsafe { ffi::rust_pgmap_init_completion(done) }
            }),
            drained_work <- Opaque::ffi_init(|work| {
                // SAFETY: `work` points to memory for an `irq_work` that does not move, and the
                // callback expects exactly this field of a `Self`.
                unsafe { ffi::rust_pgmap_init_irq_work(work, Some(Self::drained_work_callback)) }
            }),
            first_pfn,
            nr_pages,
            ops,
            mode,
            file_mapping,
            pagemap <- Self::memremap(start, size, memremap_mode),
        }))
    }

    fn memremap(
        start: u64,
        size: u64,
        mode: RefMode,
    ) -> impl PinInit<Opaque<bindings::dev_pagemap>, Error> {
        let init = move |slot: *mut Opaque<bindings::dev_pagemap>| {
            let pagemap = Opaque::raw_get(slot);
            // SAFETY: All-zero is a valid `dev_pagemap`: no ops, no ranges.
            let mut pm: bindings::dev_pagemap = unsafe { core::mem::zeroed() };
            pm.type_ = match mode {
                RefMode::Folio => bindings::memory_type_MEMORY_DEVICE_COHERENT,
                RefMode::Scan => bindings::memory_type_MEMORY_DEVICE_GENERIC,
            };
            // SAFETY: `nr_range` is 1, so the union holds `range`.
            let range = unsafe { pm.__bindgen_anon_1.range.as_mut() };
            *range = bindings::range {
                start,
                end: start + size - 1,
            };
            pm.nr_range = 1;
            // A GENERIC page never reaches refcount 0 unless its count is broken; without ops,
            // free_zone_device_folio() then warns instead of calling us.
            if mode == RefMode::Folio {
                pm.ops = &Self::OPS;
            }
            // Any unique cookie: it names who may migrate these pages, and nobody does.
            pm.owner = pagemap.cast();
            // SAFETY: `slot` is valid for writes.
            unsafe { pagemap.write(pm) };
            // SAFETY: The pagemap is fully set up, and `slot` is pinned, so it stays where the
            // memmap's `page->pgmap` will point until `memunmap_pages()`.
            let addr = unsafe { bindings::memremap_pages(pagemap, bindings::NUMA_NO_NODE) };
            // INVARIANT: On success the pagemap is mapped over `[start, start + size)`.
            kernel::error::from_err_ptr(addr).map(|_| ())
        };
        // SAFETY: On success the closure has initialised the pagemap with `memremap_pages()`; on
        // failure `memremap_pages()` undid its own work and nothing needs dropping.
        unsafe { init::pin_init_from_closure(init) }
    }

    /// Number of pages in the pgmap.
    pub fn nr_pages(&self) -> usize {
        self.nr_pages
    }

    /// The operations given at creation.
    pub fn ops(&self) -> &T {
        &self.ops
    }

    /// How busy pages keep this pgmap alive.
    pub fn mode(&self) -> RefMode {
        self.mode
    }

    /// Reads the counters. In [`RefMode::Scan`] this sweeps the pages.
    pub fn counters(&self) -> PgmapCounters {
        let guard = self.state.lock();
        let state = *guard;
        // Read `freed` first so that `freed <= requested` holds in the snapshot.
        let mut freed = self.freed.load(Ordering::SeqCst);
        let requested = self.requested.load(Ordering::SeqCst);
        if self.mode == RefMode::Scan {
            let busy = if state == PgmapState::Dead {
                0
            } else {
                (0..self.nr_pages)
                    // SAFETY: `i < nr_pages`, and we hold the state lock with the pgmap not
                    // dead.
                    .filter(|&i| self.is_busy(i, unsafe { self.page_unchecked(i) }))
                    .count() as u64
            };
            // A gup-fast walk that raced a zap holds a page for a moment without a request.
            freed = requested.saturating_sub(busy);
        }
        drop(guard);
        PgmapCounters {
            state,
            requested,
            freed,
            freed_live: self.freed_live.load(Ordering::Relaxed),
        }
    }

    /// Whether `page` is one of this pgmap's pages.
    pub fn owns(&self, page: &Page) -> bool {
        page.zone_device_pgmap() == self.pagemap.get()
    }

    /// Calls `f` with what holds each busy page (requested, its free not yet run), in offset
    /// order. A dead pgmap has none.
    pub fn for_each_busy(&self, mut f: impl FnMut(&BusyPage)) {
        // Held so that the memmap cannot be unmapped while we read it.
        let state = self.state.lock();
        if *state == PgmapState::Dead {
            return;
        }
        for index in 0..self.nr_pages {
            // SAFETY: `index < nr_pages`, and we hold the state lock with the pgmap not dead.
            let page = unsafe { self.page_unchecked(index) };
            if !self.is_busy(index, page) {
                continue;
            }
            f(&BusyPage {
                index,
                ref_count: page.ref_count(),
                dma_pinned: page.maybe_dma_pinned(),
                map_count: page.map_count(),
            });
        }
    }

    /// Counts the busy pages by what holds them.
    pub fn busy_summary(&self) -> BusySummary {
        let mut summary = BusySummary::default();
        self.for_each_busy(|page| summary.add(page));
        summary
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
    ///
    /// The drain's log lines end with what `holders` writes: who the wait is for.
    pub fn teardown(&self, holders: &dyn Fn(&mut LogText)) -> Result<Ktime> {
        if self.counters().state == PgmapState::Dead {
            return Err(ENXIO);
        }
        self.kill();
        let waited = self.drain(true, holders)?;
        self.unmap();
        Ok(waited)
    }

    fn outstanding(&self) -> u64 {
        self.counters().outstanding()
    }

    /// Waits for `drained`, logging every few seconds what is still out.
    fn drain(&self, interruptible: bool, holders: &dyn Fn(&mut LogText)) -> Result<Ktime> {
        let start = Ktime::ktime_get();
        if self.mode == RefMode::Scan {
            self.sweep(interruptible, holders)?;
            return Ok(Ktime::ktime_get() - start);
        }
        let outstanding = self.outstanding();
        if outstanding != 0 {
            pr_info!(
                "draining: {}{}\n",
                self.busy_summary(),
                LogText::of(holders)
            );
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
                "draining: still {}{}\n",
                self.busy_summary(),
                LogText::of(holders)
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
        if !self.dying.load(Ordering::SeqCst)
            || self.freed.load(Ordering::SeqCst) != self.requested.load(Ordering::SeqCst)
        {
            return;
        }
        if ffi::in_hardirq() {
            // SAFETY: `drained_work` was initialised in `new`, and `drop` waits for it.
            unsafe { ffi::irq_work_queue(self.drained_work.get()) };
        } else {
            // SAFETY: `drained` was initialised in `new`.
            unsafe { bindings::complete_all(self.drained.get()) };
        }
    }

    /// # Safety
    ///
    /// `work` is the `drained_work` field of a live `Self`.
    unsafe extern "C" fn drained_work_callback(work: *mut ffi::irq_work) {
        // SAFETY: The caller guarantees that `work` is the `drained_work` field of a `Self`,
        // which `drop` keeps alive until this has run.
        let this = unsafe { &*kernel::container_of!(work, Self, drained_work) };
        // SAFETY: `drained` was initialised in `new`. An irq_work runs in a context that
        // PREEMPT_RT threads (lockdep marks it so), where `complete_all()` is allowed.
        unsafe { bindings::complete_all(this.drained.get()) };
    }

    /// The struct page at `index`.
    ///
    /// Whether the page at `index` is in use: requested and its free not yet run
    /// ([`RefMode::Folio`]), or referenced by more than its idle count of 1 ([`RefMode::Scan`]).
    fn is_busy(&self, index: usize, page: &Page) -> bool {
        match self.mode {
            RefMode::Folio => !self.idle.is_idle(index),
            RefMode::Scan => page.ref_count() > 1,
        }
    }

    /// The drain of [`RefMode::Scan`]: sweeps the pages in offset order, and polls each busy one,
    /// sleeping [`SWEEP_FIRST_SLEEP_MS`] and doubling up to [`SWEEP_MAX_SLEEP_MS`], until it is
    /// idle. After the kill and the zap nothing can make an idle page busy again for longer than
    /// a gup-fast walk that raced the zap, which an RCU grace period waits out, so one pass
    /// suffices. Returns early if another teardown unmapped the pgmap meanwhile.
    fn sweep(&self, interruptible: bool, holders: &dyn Fn(&mut LogText)) -> Result<()> {
        let start = Ktime::ktime_get();
        let mut next_log = DRAIN_LOG_PERIOD_MS;
        let mut index = 0;
        let mut sleep_ms = SWEEP_FIRST_SLEEP_MS;
        let mut logged = false;
        loop {
            {
                let state = self.state.lock();
                if *state == PgmapState::Dead {
                    return Ok(());
                }
                while index < self.nr_pages {
                    // SAFETY: `index < nr_pages`, and we hold the state lock with the pgmap not
                    // dead.
                    let page = unsafe { self.page_unchecked(index) };
                    if self.is_busy(index, page) {
                        break;
                    }
                    index += 1;
                }
            }
            if index == self.nr_pages {
                // A gup-fast walk that read a PTE before the zap may still hold a page that the
                // sweep passed, for the moment before it sees the PTE changed and puts it back.
                // It runs with interrupts disabled, an RCU read-side section: after a grace
                // period every such walk is over.
                // SAFETY: Sleeping is allowed here: teardown runs in task context.
                unsafe { bindings::synchronize_rcu() };
                if logged {
                    pr_info!(
                        "drained after {} ms\n",
                        (Ktime::ktime_get() - start).to_ms()
                    );
                }
                return Ok(());
            }
            // The same lines as the folio drain's: a first summary, then one per period.
            let waited_ms = (Ktime::ktime_get() - start).to_ms();
            if !logged {
                logged = true;
                pr_info!(
                    "draining: {}{}\n",
                    self.busy_summary(),
                    LogText::of(holders)
                );
            } else if waited_ms >= i64::from(next_log) {
                next_log += DRAIN_LOG_PERIOD_MS;
                pr_info!(
                    "draining: still {}{}\n",
                    self.busy_summary(),
                    LogText::of(holders)
                );
            }
            if interruptible {
                // SAFETY: Sleeping is allowed here: teardown runs in task context.
                if unsafe { bindings::msleep_interruptible(sleep_ms) } != 0 {
                    pr_info!(
                        "drain interrupted: {} folios outstanding\n",
                        self.outstanding()
                    );
                    return Err(EINTR);
                }
            } else {
                // SAFETY: As above.
                unsafe { bindings::msleep(sleep_ms) };
            }
            sleep_ms = (sleep_ms * 2).min(SWEEP_MAX_SLEEP_MS);
        }
    }

    /// # Safety
    ///
    /// `index < nr_pages`, and the caller holds the state lock with the pgmap not dead (so that
    /// the memmap exists) for as long as it uses the page.
    unsafe fn page_unchecked(&self, index: usize) -> &Page {
        // SAFETY: The caller guarantees that the page is in the range, whose memmap exists.
        unsafe { Page::from_raw(ffi::rust_pgmap_pfn_to_page(self.first_pfn + index)) }
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
            let pagemap = ffi::rust_pgmap_page_pgmap(page);
            &*kernel::container_of!(pagemap, Self, pagemap)
        };
        // SAFETY: `page` is a valid struct page.
        let pfn = unsafe { ffi::rust_pgmap_page_to_pfn(page) } as usize;
        let index = pfn - this.first_pfn;
        this.ops.page_free(index);
        // SAFETY: The caller hands us a valid page of ours, whose memmap outlives this call.
        if unsafe { Page::from_raw(page) }.ref_count() != 0 {
            this.freed_live.fetch_add(1, Ordering::Relaxed);
        }
        // Only now may a request hand the page out again.
        this.idle.set_idle(index);
        this.freed.fetch_add(1, Ordering::SeqCst);
        this.complete_if_drained();
    }
}

#[pinned_drop]
impl<T: PgmapOps> PinnedDrop for Pgmap<T> {
    fn drop(self: Pin<&mut Self>) {
        if self.counters().state != PgmapState::Dead {
            self.kill();
            // Unload cannot fail; the wait logs until the last holder lets go.
            let _ = self.drain(false, &|_| {});
            self.unmap();
        }
        // The last free may have queued the wake-up: it must have run before we go away.
        // SAFETY: `drained_work` was initialised in `new`.
        unsafe { ffi::irq_work_sync(self.drained_work.get()) };
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

impl<'a, T: PgmapOps> LiveGuard<'a, T> {
    /// The struct page at `offset`, valid while the guard is held; `ERANGE` beyond the pgmap.
    pub fn page(&self, offset: usize) -> Result<&Page> {
        self.check_range(offset, 1)?;
        // SAFETY: `offset < nr_pages`, and by the type invariants we hold the state lock with
        // the pgmap live for as long as the returned borrow of `self`.
        Ok(unsafe { self.pgmap.page_unchecked(offset) })
    }

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
        // Only requests mark pages busy, and only under the state lock that we hold, so an idle
        // page stays idle until we take it: the check and the requests below cannot race.
        for i in offset..offset + nr {
            if self.pgmap.is_busy(i, self.page(i)?) {
                return Err(EBUSY);
            }
        }
        // INVARIANT: Empty at first, and grown by one with each 0->1 transition we make, so
        // that an early return puts what was taken.
        let mut folios = Folios {
            first: self.page(offset)?,
            nr: 0,
        };
        for i in offset..offset + nr {
            self.request_idle(i, self.page(i)?);
            folios.nr += 1;
        }
        Ok(folios)
    }

    /// Takes a reference on the folio at `offset`, to map it at file page `offset`: shares it if
    /// it is in use, requests it (the 0->1 transition) if it is idle, and then names the pgmap's
    /// file mapping as the folio's (see [`Pgmap::new`]).
    ///
    /// `EAGAIN` if its last reference is gone but its `page_free` has not run yet: the caller
    /// retries (a fault by returning without a mapping, so that the access faults again).
    pub fn get_or_request_folio(&self, offset: usize) -> Result<Folios> {
        let page = self.page(offset)?;
        if self.pgmap.mode == RefMode::Scan {
            // Every page has a count of at least 1 here; only an idle one goes from 1 to 2, and
            // an idle page is mapped nowhere, so nobody reads its mapping meanwhile.
            if page.get_counting() == 2 {
                self.pgmap.requested.fetch_add(1, Ordering::SeqCst);
                self.set_file_mapping(offset, page);
            }
            // INVARIANT: `get_counting()` gave us one reference on the page.
            return Ok(Folios { first: page, nr: 1 });
        }
        if !page.try_get() {
            // Nothing but a request can raise a count of 0, and we hold the state lock: the
            // page stays unreferenced, and is either idle or on its way there.
            if !self.pgmap.idle.is_idle(offset) {
                return Err(EAGAIN);
            }
            self.request_idle(offset, page);
            self.set_file_mapping(offset, page);
        }
        // INVARIANT: Either `try_get()` or the request gave us one reference on the page.
        Ok(Folios { first: page, nr: 1 })
    }

    /// Names the pgmap's file mapping as the mapping of `page`, just requested at `offset`.
    fn set_file_mapping(&self, offset: usize, page: &Page) {
        if let Some(file_mapping) = &self.pgmap.file_mapping {
            // INVARIANT: The page names `file_mapping`, which `self.pgmap` holds.
            // SAFETY: The caller just made the page's idle->busy transition under the state
            // lock, and an idle page is mapped nowhere, so nobody else reads its mapping. By the
            // type invariants of `Pgmap` the mapping outlives the pagemap.
            unsafe {
                ffi::rust_pgmap_folio_set_file_mapping(
                    page.as_ptr(),
                    file_mapping.as_ptr(),
                    offset as _,
                )
            };
        }
    }

    /// Hands out the idle page `page`, at `index`.
    fn request_idle(&self, index: usize, page: &Page) {
        self.pgmap.requested.fetch_add(1, Ordering::SeqCst);
        if self.pgmap.mode == RefMode::Scan {
            // Idle at 1: the reference is ours, and no pgmap reference goes with it.
            page.get_counting();
            return;
        }
        self.pgmap.idle.set_busy(index);
        // SAFETY: The page is ours and idle: its refcount is 0 and its last `page_free` has
        // returned. The pgmap is live, so `zone_device_page_init()` finds its percpu reference
        // alive.
        unsafe { ffi::rust_pgmap_zone_device_folio_init(page.as_ptr()) };
    }
}

/// References on consecutive folios of a [`Pgmap`], put on drop.
///
/// The folios keep their pgmap from being unmapped, so the handle needs no lifetime.
///
/// # Invariants
///
/// `first` and the `nr - 1` struct pages after it in memory are pgmap pages on which this handle
/// owns one reference each. (A pgmap's memmap is virtually contiguous: ZONE_DEVICE requires
/// `SPARSEMEM_VMEMMAP`.)
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
    ///
    /// # Panics
    ///
    /// If `i` is not below [`Folios::count`].
    pub fn page(&self, i: usize) -> &Page {
        assert!(i < self.nr);
        // SAFETY: By the type invariants the page is valid and referenced while `self` lives.
        unsafe { &*self.first.add(i) }
    }

    /// Number of folios held.
    pub fn count(&self) -> usize {
        self.nr
    }

    /// Takes and drops one more reference on each folio: the bare refcount cost of a request,
    /// for comparison.
    pub fn get_put_each(&self) {
        for i in 0..self.nr {
            let page = self.page(i);
            page.get_counting();
            // SAFETY: We took that reference just above; it is ours to put.
            unsafe { ffi::rust_pgmap_put_page(page.as_ptr()) };
        }
    }
}

impl Drop for Folios {
    fn drop(&mut self) {
        for i in 0..self.nr {
            // SAFETY: By the type invariants we own one reference on each page.
            unsafe { ffi::rust_pgmap_put_page(self.page(i).as_ptr()) };
        }
    }
}

/// One bit per page of a [`Pgmap`]: set while the page is idle.
///
/// Bits are set by `page_free` in any context, and cleared only under the pgmap's state lock.
struct IdleMap {
    words: KVVec<AtomicU64>,
}

impl IdleMap {
    /// Every page starts idle: `memremap_pages()` leaves ZONE_DEVICE pages at refcount 0.
    fn new(nr_pages: usize) -> Result<Self> {
        let nr_words = nr_pages.div_ceil(64);
        let mut words = KVVec::with_capacity(nr_words, GFP_KERNEL)?;
        for _ in 0..nr_words {
            words.push(AtomicU64::new(u64::MAX), GFP_KERNEL)?;
        }
        Ok(Self { words })
    }

    fn bit(index: usize) -> (usize, u64) {
        (index / 64, 1 << (index % 64))
    }

    /// Acquire: a page seen idle is seen with everything its `page_free` did.
    fn is_idle(&self, index: usize) -> bool {
        let (word, bit) = Self::bit(index);
        self.words[word].load(Ordering::Acquire) & bit != 0
    }

    fn set_busy(&self, index: usize) {
        let (word, bit) = Self::bit(index);
        self.words[word].fetch_and(!bit, Ordering::Relaxed);
    }

    /// Release: pairs with [`IdleMap::is_idle`].
    fn set_idle(&self, index: usize) {
        let (word, bit) = Self::bit(index);
        self.words[word].fetch_or(bit, Ordering::Release);
    }
}

/// What holds a busy page, read without locking the page: a snapshot, not a guarantee.
#[derive(Clone, Copy, Debug)]
pub struct BusyPage {
    /// Offset of the page in the pgmap.
    pub index: usize,
    /// Its reference count.
    pub ref_count: i32,
    /// Whether it may be pinned for DMA (`folio_maybe_dma_pinned()`).
    pub dma_pinned: bool,
    /// How many page tables map it.
    pub map_count: i32,
}

/// Busy pages counted by what holds them: a DMA pin first, else a mapping, else any other
/// reference (a pipe buffer, I/O in flight, a request).
#[derive(Clone, Copy, Debug, Default)]
pub struct BusySummary {
    /// All busy pages.
    pub total: usize,
    /// Those that may be pinned for DMA.
    pub pinned: usize,
    /// Those not pinned, but mapped.
    pub mapped: usize,
    /// The rest.
    pub other: usize,
    first: [usize; Self::FIRST],
}

impl BusySummary {
    /// How many offsets the summary names.
    const FIRST: usize = 8;

    /// Counts one more busy page.
    pub fn add(&mut self, page: &BusyPage) {
        if self.total < Self::FIRST {
            self.first[self.total] = page.index;
        }
        self.total += 1;
        if page.dma_pinned {
            self.pinned += 1;
        } else if page.map_count > 0 {
            self.mapped += 1;
        } else {
            self.other += 1;
        }
    }
}

impl fmt::Display for BusySummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} folios outstanding: {} pinned, {} mapped, {} other; first offsets",
            self.total, self.pinned, self.mapped, self.other
        )?;
        for index in &self.first[..self.total.min(Self::FIRST)] {
            write!(f, " {index}")?;
        }
        Ok(())
    }
}

/// Text formatted ahead of a log line: printk formats its arguments with interrupts disabled,
/// so what takes locks to describe itself writes here first. Truncated at its capacity.
pub struct LogText {
    buf: [u8; Self::CAPACITY],
    len: usize,
}

impl LogText {
    const CAPACITY: usize = 256;

    /// What `write` writes.
    pub fn of(write: &dyn Fn(&mut LogText)) -> Self {
        let mut text = Self {
            buf: [0; Self::CAPACITY],
            len: 0,
        };
        write(&mut text);
        text
    }
}

impl fmt::Write for LogText {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // Whole characters only, so that the text stays valid UTF-8.
        for c in s.chars() {
            let mut utf8 = [0; 4];
            let bytes = c.encode_utf8(&mut utf8).as_bytes();
            let Some(dst) = self.buf.get_mut(self.len..self.len + bytes.len()) else {
                return Err(fmt::Error);
            };
            dst.copy_from_slice(bytes);
            self.len += bytes.len();
        }
        Ok(())
    }
}

impl fmt::Display for LogText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Only `write_str` fills the buffer, with whole characters.
        f.write_str(core::str::from_utf8(&self.buf[..self.len]).unwrap_or("?"))
    }
}
