// SPDX-License-Identifier: GPL-2.0

//! ZONE_DEVICE page maps whose busy pages prove their pgmap alive.
//!
//! On 6.12, device-dax and fsdax pages idle at refcount 1 and gup holds the pgmap reference only
//! while it walks, so `memunmap_pages()` can return while a page is still pinned. A [`Pgmap`]
//! follows the rule the mm maintainers converged on instead: a folio that is handed out (the
//! request) proves the pgmap alive until its free path runs, and teardown blocks new requests,
//! then waits until every requested folio came back, and only then calls `memunmap_pages()`.
//!
//! Link: https://lore.kernel.org/r/166579181584.2236710.17813547487183983273.stgit@dwillia2-xfh.jf.intel.com
//!
//! The pages are `MEMORY_DEVICE_GENERIC`, device-dax's type: long-term pinnable, never migrated.
//! They idle at refcount 1, and a request adopts that reference: the holder owns it, and its
//! last put makes the 1->0 transition, on which `free_zone_device_folio()` calls our
//! `page_free` and then resets the count to 1. So every transition is seen:
//!
//! - The request ([`LiveGuard::request_folios`], [`LiveGuard::get_or_request_folio`]) takes an
//!   idle page, counts it in `requested`, and in [`RefMode::Folio`] takes one pgmap reference
//!   per folio (`dev_pagemap.ref`, one percpu operation per request).
//! - `page_free` counts it in `freed`, marks it idle, and in [`RefMode::Folio`] drops that
//!   pgmap reference.
//!
//! So the pgmap reference is taken in exactly one place and dropped in exactly one, and
//! `outstanding = requested - freed` counts the folios that hold one.
//!
//! A page is idle only once its `page_free` has run *and* its count is back at 1: the reset to
//! 1 comes after `page_free` returns. A request that trusted the refcount alone could hand out
//! a page whose free is still in flight, and a teardown that trusted `page_free` alone could
//! remove the memmap under that last store. The pgmap keeps two bits per page, idle and
//! unsettled, set by `page_free` and cleared by the request, as nouveau and `lib/test_hmm.c`
//! keep free lists; the teardown waits for the unsettled ones.
//!
//! C headers: [`include/linux/memremap.h`](srctree/include/linux/memremap.h).

use crate::compat::{
    completion::{IrqCompletion, WaitResult},
    delay::{msleep, msleep_interruptible},
    dev_pagemap::{dev_pagemap_ops, DevPagemap},
    page::Page,
    rcu,
    region::LegacyPmemRegion,
    shared_mapping::SharedMapping,
};
use core::{
    fmt,
    sync::atomic::{AtomicBool, AtomicU64, Ordering},
};
use kernel::{
    alloc::KVVec,
    bindings, new_mutex,
    prelude::*,
    sync::{Arc, Mutex},
    time::Ktime,
};

/// The first and the longest sleep between two polls of a page that a teardown waits for.
/// Nothing calls us when a page's count is back at 1, so the wait polls; doubling from 1 ms
/// keeps a short wait short, and the cap bounds how late it notices the last put.
const POLL_FIRST_SLEEP_MS: u32 = 1;
const POLL_MAX_SLEEP_MS: u32 = 16;

/// How a [`Pgmap`] keeps itself alive while its pages are in use: the thread's two answers.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RefMode {
    /// A pgmap reference per requested folio, dropped by its `page_free`; the drain waits until
    /// `page_free` has counted every requested folio.
    Folio,
    /// No reference per folio: the teardown sweeps every page until each is idle.
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
    /// Folios handed out by a request.
    pub requested: u64,
    /// Folios that came back through `page_free`.
    pub freed: u64,
    /// `page_free` calls that found their page in use again. Nonzero means a page was handed
    /// out before its free had finished.
    pub freed_live: u64,
}

impl PgmapCounters {
    /// Folios handed out and not yet freed: in [`RefMode::Folio`], those holding a pgmap
    /// reference.
    pub fn outstanding(&self) -> u64 {
        self.requested - self.freed
    }
}

/// A pgmap over a claimed region whose requested folios prove it alive.
///
/// Dropping it tears it down: it kills, waits for the drain without a time limit, and unmaps.
///
/// # Invariants
///
/// - `memunmap_pages()` has been called on `pagemap` exactly when `state` is
///   [`PgmapState::Dead`].
/// - `requested` only grows while `state` is [`PgmapState::Live`], under the `state` lock;
///   `freed` counts `page_free` calls, so `freed <= requested`.
/// - `dying` is true from the moment `state` leaves [`PgmapState::Live`].
/// - `drained` is completed once `dying` is set and `freed == requested` ([`RefMode::Folio`]).
/// - A page is marked idle in `pages` exactly when it is not requested, or its `page_free` has
///   run since its last request; it is marked busy only under the `state` lock. An idle page is
///   marked unsettled from its `page_free` until somebody saw its count back at 1.
/// - In [`RefMode::Folio`] every busy page holds one reference of `pagemap`'s own count.
/// - A page's `mapping` is NULL or `file_mapping`'s, which lives as long as `self`, so longer
///   than the memmap; `free_zone_device_folio()` clears it before `page_free`.
#[pin_data(PinnedDrop)]
pub struct Pgmap<T: PgmapOps> {
    #[pin]
    state: Mutex<PgmapState>,
    dying: AtomicBool,
    requested: AtomicU64,
    freed: AtomicU64,
    freed_live: AtomicU64,
    pages: PageStates,
    // `page_free` may run in hard interrupt context (I/O completion), where PREEMPT_RT forbids
    // the wake-up of a plain completion.
    #[pin]
    drained: IrqCompletion,
    ops: T,
    mode: RefMode,
    file_mapping: Arc<SharedMapping>,
    // Last, so that `page_free` can find every other field initialized.
    #[pin]
    pagemap: DevPagemap,
}

impl<T: PgmapOps> Pgmap<T> {
    const OPS: dev_pagemap_ops = dev_pagemap_ops {
        page_free: Some(Self::page_free_callback),
        migrate_to_ram: None,
        memory_failure: None,
    };

    /// Creates the struct pages of `region` with `memremap_pages()`.
    ///
    /// Requested folios name `file_mapping` as their `folio->mapping`, at file page = pgmap
    /// offset, as device-dax's do: the lockless gup-fast walk takes only folios whose mapping
    /// it can vouch for, and falls back to the slow path, several times slower, on a NULL one.
    pub fn new(
        region: Arc<LegacyPmemRegion>,
        ops: T,
        mode: RefMode,
        file_mapping: Arc<SharedMapping>,
    ) -> Result<impl PinInit<Self, Error>> {
        let nr_pages = (region.range().size / kernel::page::PAGE_SIZE as u64) as usize;
        let pages = PageStates::new(nr_pages)?;
        Ok(try_pin_init!(Self {
            state <- new_mutex!(PgmapState::Live),
            dying: AtomicBool::new(false),
            requested: AtomicU64::new(0),
            freed: AtomicU64::new(0),
            freed_live: AtomicU64::new(0),
            pages,
            drained <- IrqCompletion::new(),
            ops,
            mode,
            file_mapping,
            pagemap <- DevPagemap::new(region, &Self::OPS),
        }))
    }

    /// Number of pages in the pgmap.
    pub fn nr_pages(&self) -> usize {
        self.pagemap.nr_pages()
    }

    /// The operations given at creation.
    pub fn ops(&self) -> &T {
        &self.ops
    }

    /// How busy pages keep this pgmap alive.
    pub fn mode(&self) -> RefMode {
        self.mode
    }

    /// Where the pgmap is in its lifecycle.
    pub fn state(&self) -> PgmapState {
        *self.state.lock()
    }

    /// Reads the counters.
    pub fn counters(&self) -> PgmapCounters {
        let state = self.state();
        // Read `freed` first so that `freed <= requested` holds in the snapshot.
        let freed = self.freed.load(Ordering::SeqCst);
        PgmapCounters {
            state,
            requested: self.requested.load(Ordering::SeqCst),
            freed,
            freed_live: self.freed_live.load(Ordering::Relaxed),
        }
    }

    /// Whether `page` is one of this pgmap's pages.
    pub fn owns(&self, page: &Page) -> bool {
        self.pagemap.owns(page)
    }

    /// Calls `f` with what holds each busy page (requested, its free not yet run), in offset
    /// order. A dead pgmap has none.
    pub fn for_each_busy(&self, mut f: impl FnMut(&BusyPage)) {
        // Held so that the memmap cannot be unmapped while we read it.
        let state = self.state.lock();
        if *state == PgmapState::Dead {
            return;
        }
        self.pages.for_each_busy(|index| {
            // SAFETY: `index < nr_pages`, and we hold the state lock with the pgmap not dead.
            let page = unsafe { self.pagemap.page(index) };
            f(&BusyPage {
                index,
                ref_count: page.ref_count(),
                dma_pinned: page.maybe_dma_pinned(),
                map_count: page.map_count(),
            });
        });
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
        // INVARIANT: We hold the state lock, and the state is live.
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
            self.counters().outstanding()
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
        if self.state() == PgmapState::Dead {
            return Err(ENXIO);
        }
        self.kill();
        let waited = self.drain(true, holders)?;
        self.unmap();
        Ok(waited)
    }

    /// Waits until no page of the pgmap is in use, logging every few seconds what is still out.
    ///
    /// [`RefMode::Folio`] waits until `page_free` counted every requested folio, and then for
    /// the pages whose count is not yet back at 1; [`RefMode::Scan`] sweeps every page until
    /// each is idle. Both end with an RCU grace period: a gup-fast walk that read a PTE before
    /// the zap may take a reference on a page that is idle already, for the moment before it
    /// sees the PTE changed and puts it back; gup-fast runs with interrupts disabled, an RCU
    /// read-side section, so after the grace period every such walk is over.
    fn drain(&self, interruptible: bool, holders: &dyn Fn(&mut LogText)) -> Result<Ktime> {
        let mut log = DrainLog::new(holders);
        if self.counters().outstanding() != 0 {
            log.begin(self);
        }
        if self.mode == RefMode::Folio {
            self.wait_drained(interruptible, &mut log)?;
        }
        self.wait_idle(self.mode == RefMode::Folio, interruptible, &mut log)?;
        rcu::synchronize_rcu();
        Ok(log.end())
    }

    /// Waits for `drained`.
    fn wait_drained(&self, interruptible: bool, log: &mut DrainLog<'_>) -> Result {
        let done = self.drained.completion();
        loop {
            let waited = if interruptible {
                done.wait_interruptible_timeout(DRAIN_LOG_PERIOD_MS)
                    .inspect_err(|_| log.interrupted(self))?
            } else {
                done.wait_timeout(DRAIN_LOG_PERIOD_MS)
            };
            if waited == WaitResult::Completed {
                return Ok(());
            }
            log.still(self);
        }
    }

    /// Polls the pages in offset order until each is idle: only those marked unsettled if
    /// `unsettled_only`, else all of them. Nothing makes an idle page busy again after the
    /// kill, so one pass suffices. Returns early if another teardown unmapped the pgmap.
    fn wait_idle(
        &self,
        unsettled_only: bool,
        interruptible: bool,
        log: &mut DrainLog<'_>,
    ) -> Result {
        let mut index = 0;
        let mut sleep_ms = POLL_FIRST_SLEEP_MS;
        loop {
            {
                let state = self.state.lock();
                if *state == PgmapState::Dead {
                    return Ok(());
                }
                loop {
                    index = match unsettled_only {
                        true => self.pages.next_unsettled(index),
                        false => Some(index).filter(|&i| i < self.nr_pages()),
                    }
                    .unwrap_or(self.nr_pages());
                    if index == self.nr_pages() {
                        return Ok(());
                    }
                    // SAFETY: `index < nr_pages`, and we hold the state lock with the pgmap not
                    // dead.
                    let page = unsafe { self.pagemap.page(index) };
                    if !self.is_idle(index, page) {
                        break;
                    }
                    self.pages.clear_unsettled(index);
                    index += 1;
                }
            }
            log.tick(self);
            if interruptible {
                msleep_interruptible(sleep_ms).inspect_err(|_| log.interrupted(self))?;
            } else {
                msleep(sleep_ms);
            }
            sleep_ms = (sleep_ms * 2).min(POLL_MAX_SLEEP_MS);
        }
    }

    /// Whether the page at `index` is idle: its `page_free` has run since its last request, and
    /// its count is back at the idle 1.
    fn is_idle(&self, index: usize, page: &Page) -> bool {
        self.pages.is_idle(index) && page.ref_count() == 1
    }

    /// Calls `memunmap_pages()` once, after the drain.
    fn unmap(&self) {
        let mut state = self.state.lock();
        if *state != PgmapState::Dying {
            return;
        }
        // SAFETY: We drained: every requested folio came back through `page_free`, every page's
        // count is back at 1 (so no free is still running), a grace period has passed since
        // the zap (so no gup-fast walk still holds a page), and the pgmap is dying under the
        // state lock that we hold (so nothing takes a page again).
        unsafe { self.pagemap.unmap() };
        // INVARIANT: `memunmap_pages()` was called, and the state says so.
        *state = PgmapState::Dead;
        pr_info!(
            "unmapped pfn {:#x}-{:#x}\n",
            self.pagemap.first_pfn(),
            self.pagemap.first_pfn() + self.nr_pages() - 1
        );
    }

    fn complete_if_drained(&self) {
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
    unsafe extern "C" fn page_free_callback(page: *mut bindings::page) {
        // SAFETY: The caller guarantees that `page` is one of ours, so its pgmap is the
        // `pagemap` field of a `Pgmap<T>`. That `Pgmap<T>` is not freed before the caller's
        // last access to the page: its teardown waits until the page's count is back at 1,
        // which `free_zone_device_folio()` stores after we return, as the last thing it does.
        let this = unsafe {
            let pagemap = DevPagemap::from_raw(DevPagemap::pgmap_of(page));
            &*kernel::container_of!(pagemap, Self, pagemap)
        };
        // SAFETY: As above: the page is valid for the whole call.
        let page = unsafe { Page::from_raw(page) };
        let index = this.pagemap.index_of(page);
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

#[pinned_drop]
impl<T: PgmapOps> PinnedDrop for Pgmap<T> {
    fn drop(self: Pin<&mut Self>) {
        if self.state() != PgmapState::Dead {
            self.kill();
            // Unload cannot fail; the wait logs until the last holder lets go.
            let _ = self.drain(false, &|_| {});
            self.unmap();
        }
    }
}

/// The lines that a drain logs: a first summary, then one per period while it waits, and how
/// long it took.
struct DrainLog<'a> {
    holders: &'a dyn Fn(&mut LogText),
    start: Ktime,
    logged: bool,
    next_ms: i64,
}

impl<'a> DrainLog<'a> {
    fn new(holders: &'a dyn Fn(&mut LogText)) -> Self {
        Self {
            holders,
            start: Ktime::ktime_get(),
            logged: false,
            next_ms: i64::from(DRAIN_LOG_PERIOD_MS),
        }
    }

    fn begin<T: PgmapOps>(&mut self, pgmap: &Pgmap<T>) {
        self.logged = true;
        pr_info!(
            "draining: {}{}\n",
            pgmap.busy_summary(),
            LogText::of(self.holders)
        );
    }

    fn still<T: PgmapOps>(&mut self, pgmap: &Pgmap<T>) {
        self.logged = true;
        self.next_ms = (Ktime::ktime_get() - self.start).to_ms() + i64::from(DRAIN_LOG_PERIOD_MS);
        pr_info!(
            "draining: still {}{}\n",
            pgmap.busy_summary(),
            LogText::of(self.holders)
        );
    }

    /// Logs another summary once a period went by since the start or the last one.
    fn tick<T: PgmapOps>(&mut self, pgmap: &Pgmap<T>) {
        if (Ktime::ktime_get() - self.start).to_ms() >= self.next_ms {
            self.still(pgmap);
        }
    }

    fn interrupted<T: PgmapOps>(&self, pgmap: &Pgmap<T>) {
        pr_info!(
            "drain interrupted: {} folios outstanding\n",
            pgmap.counters().outstanding()
        );
    }

    /// Logs how long the drain waited, if it said it was waiting; returns that time.
    fn end(self) -> Ktime {
        let waited = Ktime::ktime_get() - self.start;
        if self.logged {
            pr_info!("drained after {} ms\n", waited.to_ms());
        }
        waited
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
    fn page(&self, offset: usize) -> Result<&Page> {
        self.check_range(offset, 1)?;
        // SAFETY: `offset < nr_pages`, and by the type invariants we hold the state lock with
        // the pgmap live for as long as the returned borrow of `self`.
        Ok(unsafe { self.pgmap.pagemap.page(offset) })
    }

    /// Checks that `[offset, offset + nr)` is a non-empty range of the pgmap.
    fn check_range(&self, offset: usize, nr: usize) -> Result {
        let end = offset.checked_add(nr).ok_or(EINVAL)?;
        if nr == 0 {
            return Err(EINVAL);
        }
        if end > self.pgmap.nr_pages() {
            return Err(ERANGE);
        }
        Ok(())
    }

    /// Hands out the `nr` idle folios from `offset`, and returns a handle on them whose drop
    /// puts them.
    ///
    /// Fails with `EBUSY`, taking nothing, if any of them is in use (or its free is still in
    /// flight); `EINVAL` if `nr` is zero or the range overflows; `ERANGE` if it ends beyond the
    /// pgmap.
    pub fn request_folios(&self, offset: usize, nr: usize) -> Result<Folios> {
        self.check_range(offset, nr)?;
        // Only requests mark pages busy, and only under the state lock that we hold, so an idle
        // page stays idle until we take it: the check and the requests below cannot race.
        for i in offset..offset + nr {
            if !self.pgmap.is_idle(i, self.page(i)?) {
                return Err(EBUSY);
            }
        }
        Ok(self.hand_out(offset, nr))
    }

    /// Takes a reference on the folio at `offset`, to map it at file page `offset`: shares it if
    /// it is in use, hands it out if it is idle.
    ///
    /// `EAGAIN` if its free is still in flight, or a gup-fast walk that raced a zap holds it for
    /// a moment: the caller retries (a fault by returning without a mapping, so that the access
    /// faults again).
    pub fn get_or_request_folio(&self, offset: usize) -> Result<Folios> {
        let page = self.page(offset)?;
        if self.pgmap.pages.is_idle(offset) {
            if page.ref_count() != 1 {
                return Err(EAGAIN);
            }
            return Ok(self.hand_out(offset, 1));
        }
        // Busy: its count is above 0 until its last put, after which the free marks it idle.
        if !page.try_get() {
            return Err(EAGAIN);
        }
        // INVARIANT: `try_get()` gave us one reference on the page.
        Ok(Folios { first: page, nr: 1 })
    }

    /// The request proper: adopts the idle reference of each of the `nr` idle folios from
    /// `offset`, which the caller checked.
    fn hand_out(&self, offset: usize, nr: usize) -> Folios {
        let pgmap = self.pgmap;
        for i in offset..offset + nr {
            pgmap.pages.set_busy(i);
            // SAFETY: The range was checked by the caller, and we hold the state lock with the
            // pgmap live.
            let page = unsafe { pgmap.pagemap.page(i) };
            // INVARIANT: The page names `file_mapping`, which `pgmap` holds.
            // SAFETY: The page was idle until just now, so it is mapped nowhere and nobody reads
            // its mapping; by the type invariants of `Pgmap` the mapping outlives the memmap.
            unsafe { page.set_file_mapping(pgmap.file_mapping.as_ptr(), i) };
        }
        pgmap.requested.fetch_add(nr as u64, Ordering::SeqCst);
        if pgmap.mode == RefMode::Folio {
            // INVARIANT: One reference of the pagemap's count for each busy page.
            // SAFETY: The pgmap is live under the state lock that we hold, so not unmapped.
            unsafe { pgmap.pagemap.get_refs(nr) };
        }
        // SAFETY: As above.
        let first = unsafe { pgmap.pagemap.page(offset) };
        // INVARIANT: Each page was idle at refcount 1, a reference that nobody owned: the
        // handle owns it now.
        Folios { first, nr }
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
#[must_use = "dropping the handle puts the folios at once"]
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
            // SAFETY: By the type invariants we own a reference on the page.
            unsafe { page.get() };
            // SAFETY: We took that reference just above; it is ours to put.
            unsafe { page.put() };
        }
    }
}

impl Drop for Folios {
    fn drop(&mut self) {
        for i in 0..self.nr {
            // SAFETY: By the type invariants we own one reference on each page.
            unsafe { self.page(i).put() };
        }
    }
}

/// Two bits per page of a [`Pgmap`]: idle, and unsettled (freed, its count maybe not yet back
/// at 1).
///
/// Bits are set by `page_free` in any context, and cleared under the pgmap's state lock.
struct PageStates {
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
    fn new(nr_pages: usize) -> Result<Self> {
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
    fn is_idle(&self, index: usize) -> bool {
        let (word, shift) = Self::locate(index);
        self.words[word].load(Ordering::Acquire) >> shift & Self::IDLE != 0
    }

    fn set_busy(&self, index: usize) {
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

    fn clear_unsettled(&self, index: usize) {
        let (word, shift) = Self::locate(index);
        self.words[word].fetch_and(!(Self::UNSETTLED << shift), Ordering::Relaxed);
    }

    /// The first page from `from` on that is marked unsettled.
    fn next_unsettled(&self, from: usize) -> Option<usize> {
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
    fn for_each_busy(&self, mut f: impl FnMut(usize)) {
        for (word, bits) in self.words.iter().enumerate() {
            let mut busy = !bits.load(Ordering::Acquire) & Self::ALL_IDLE;
            while busy != 0 {
                f(word * Self::PAGES_PER_WORD + busy.trailing_zeros() as usize / 2);
                busy &= busy - 1;
            }
        }
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
