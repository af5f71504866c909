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
//! `outstanding = requested - freed` counts the folios handed out and not yet freed: in
//! [`RefMode::Folio`], those that hold one.
//!
//! A page is idle only once its `page_free` has run *and* its count is back at 1: the reset to
//! 1 comes after `page_free` returns. A request that trusted the refcount alone could hand out
//! a page whose free is still in flight, and a teardown that trusted `page_free` alone could
//! remove the memmap under that last store. The pgmap keeps two bits per page, idle and
//! unsettled, set by `page_free`; the request clears both, and the teardown's drain, which
//! waits for the unsettled ones, clears that bit once it saw the count back at 1 (as nouveau
//! and `lib/test_hmm.c` keep free lists). Seeing the count at 1 proves that
//! `free_zone_device_folio()` is done with the page because x86, the only target this module
//! builds for, keeps its accesses in order.
//!
//! C headers: [`include/linux/memremap.h`](srctree/include/linux/memremap.h).

mod diagnostics;
mod drain;
mod free;
mod request;

pub use diagnostics::{BusyPage, BusySummary, LogText};
pub use request::{Folios, LiveGuard};

use crate::compat::{
    completion::IrqCompletion,
    dev_pagemap::{dev_pagemap_ops, DevPagemap, FolioSize},
    page::Page,
    region::LegacyPmemRegion,
    shared_mapping::SharedMapping,
};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use free::PageStates;
use kernel::{
    new_mutex,
    prelude::*,
    sync::{Arc, Mutex},
    time::Ktime,
};

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

/// What the user of a [`Pgmap`] is told about its pages.
pub trait PgmapOps: Send + Sync + Sized {
    /// Called on a folio's 1->0 transition, wherever the last reference was put: in task,
    /// softirq or hard interrupt context (I/O completion). Must not sleep, allocate or take a
    /// lock that is not IRQ-safe.
    ///
    /// `index` is the folio's index in the pgmap (its first page's offset over the folio size).
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
        folio_size: FolioSize,
    ) -> Result<impl PinInit<Self, Error>> {
        let nr_pages = (region.range().size / kernel::page::PAGE_SIZE as u64) as usize;
        let pages = PageStates::new(nr_pages >> folio_size.order())?;
        // SAFETY: `page_free_callback` may be called with any page of the map, in any context:
        // it finds this `Pgmap<T>`, which the map's pages cannot outlive. The drop of `Pgmap`
        // unmaps the map before the map goes.
        let pagemap = unsafe { DevPagemap::new(region, &Self::OPS, folio_size)? };
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
            pagemap <- pagemap,
        }))
    }

    /// Number of pages in the pgmap.
    pub fn nr_pages(&self) -> usize {
        self.pagemap.nr_pages()
    }

    /// Number of folios in the pgmap: what requests, the counters and the drain count.
    pub fn nr_folios(&self) -> usize {
        self.pagemap.nr_folios()
    }

    /// The size of the pgmap's folios.
    pub fn folio_size(&self) -> FolioSize {
        self.pagemap.folio_size()
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

    /// Calls `memunmap_pages()` once, after the drain.
    fn unmap(&self) {
        let mut state = self.state.lock();
        if *state != PgmapState::Dying {
            return;
        }
        // SAFETY: We drained: every requested folio came back through `page_free`, every page's
        // count is back at 1 (so no free is still running), every CPU has taken an interrupt
        // since the zap (so no gup-fast walk still holds a page), and the pgmap is dying under
        // the state lock that we hold (so nothing takes a page again).
        unsafe { self.pagemap.unmap() };
        // INVARIANT: `memunmap_pages()` was called, and the state says so.
        *state = PgmapState::Dead;
        pr_info!(
            "unmapped pfn {:#x}-{:#x}\n",
            self.pagemap.first_pfn(),
            self.pagemap.first_pfn() + self.nr_pages() - 1
        );
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
