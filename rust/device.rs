// SPDX-License-Identifier: GPL-2.0

//! The pgmap device: the claimed region, its current pgmap, the `address_space` that user
//! mappings of it go through, and the holds that drivers (through the exported API) and the test
//! device have on its folios.
//!
//! A teardown kills the pgmap (requests fail), asks every live hold to give its folios back
//! ([`Hold::revoke`]), zaps the user mappings, waits for every requested folio, and unmaps.
//!
//! Lock order: `current`, then a pgmap's state lock, then `holds`. Releases take no lock, and
//! revokes and the drain's log lines run with none held.

use crate::{
    compat::{
        debugfs::{DebugfsShow, SeqWriter},
        dev_pagemap::FolioSize,
        region::LegacyPmemRegion,
        shared_mapping::SharedMapping,
    },
    ffi,
    hold::{Hold, Owner, Revoke, UnarmedHold},
    pgmap::{BusySummary, Pgmap, PgmapCounters, PgmapOps, PgmapState, RefMode},
};
use core::{
    fmt::{self, Write},
    sync::atomic::{AtomicU32, AtomicU64, Ordering},
};
use kernel::{
    alloc::KVec,
    new_mutex,
    prelude::*,
    rbtree::RBTree,
    sync::{Arc, Mutex},
};

/// What the driver learns from `page_free`.
#[derive(Default)]
pub struct FreeStats {
    in_irq: AtomicU64,
}

impl PgmapOps for FreeStats {
    fn page_free(&self, _index: usize) {
        // Counting the frees that I/O completion makes shows the free path is safe there.
        if !ffi::in_task() {
            self.in_irq.fetch_add(1, Ordering::Relaxed);
        }
    }
}

type DevicePgmap = Pgmap<FreeStats>;

/// The holds of a device that may still be live, by an id of their own.
///
/// Released holds leave lazily, in task context: a release may come from an interrupt, where
/// the mutex cannot be taken. An insertion prunes them once the tree has doubled since the last
/// prune, so that it stays within twice the live holds at an amortised O(1) per request.
struct HoldRegistry {
    next_id: u64,
    holds: RBTree<u64, Arc<Hold>>,
    len: usize,
    len_after_prune: usize,
}

impl HoldRegistry {
    /// Prunes below this many holds are not worth their walk.
    const MIN_PRUNE: usize = 16;

    fn insert(&mut self, hold: Arc<Hold>) -> Result {
        if self.len >= 2 * self.len_after_prune.max(Self::MIN_PRUNE) {
            // Best effort: a prune that cannot allocate is retried at the next insertion.
            let _ = self.prune();
        }
        let id = self.next_id;
        self.holds.try_create_and_insert(id, hold, GFP_KERNEL)?;
        self.next_id += 1;
        self.len += 1;
        Ok(())
    }

    fn prune(&mut self) -> Result {
        let mut released = KVec::new();
        for (id, hold) in self.holds.iter() {
            if hold.is_released() {
                released.push(*id, GFP_KERNEL)?;
            }
        }
        for id in &released {
            self.holds.remove(id);
        }
        self.len -= released.len();
        self.len_after_prune = self.len;
        Ok(())
    }

    /// The holds that were not released, for use outside the lock.
    fn live(&self) -> Result<KVec<Arc<Hold>>> {
        let mut live = KVec::new();
        for hold in self.holds.values().filter(|hold| !hold.is_released()) {
            live.push(hold.clone(), GFP_KERNEL)?;
        }
        Ok(live)
    }
}

/// The device: the claimed region and its current pgmap.
#[pin_data]
pub struct PgmapDevice {
    /// First to drop: a hold left at unload (which the module refcounts rule out) gives its
    /// folios back before the pgmap's drop waits for them.
    #[pin]
    holds: Mutex<HoldRegistry>,
    /// The live pgmap, or the last one after its teardown until ATTACH replaces it.
    #[pin]
    current: Mutex<Arc<DevicePgmap>>,
    /// Shared with every pgmap, whose mapped folios name it as their mapping.
    mapping: Arc<SharedMapping>,
    /// The same for every pgmap of the device.
    mode: RefMode,
    /// The same for every pgmap of the device.
    folio_size: FolioSize,
    generation: AtomicU32,
    /// Pages held by the test device's PIN, over all open files.
    pub(crate) pinned: AtomicU64,
    /// Pages held by the test device's REQUEST, over all open files.
    pub(crate) held: AtomicU64,
    /// Claimed for as long as a pgmap of it exists: each holds it too.
    region: Arc<LegacyPmemRegion>,
}

impl PgmapDevice {
    /// Creates the first pgmap over `region`.
    pub fn new(
        region: LegacyPmemRegion,
        mode: RefMode,
        folio_size: FolioSize,
    ) -> Result<impl PinInit<Self, Error>> {
        let region = Arc::new(region, GFP_KERNEL)?;
        let mapping = Arc::new(SharedMapping::new()?, GFP_KERNEL)?;
        mapping.set_size(region.range().size);
        let pgmap = Self::create_pgmap(&region, &mapping, mode, folio_size)?;
        Ok(try_pin_init!(Self {
            holds <- new_mutex!(HoldRegistry {
                next_id: 0,
                holds: RBTree::new(),
                len: 0,
                len_after_prune: 0,
            }),
            current <- new_mutex!(pgmap),
            mapping,
            mode,
            folio_size,
            generation: AtomicU32::new(1),
            pinned: AtomicU64::new(0),
            held: AtomicU64::new(0),
            region,
        }))
    }

    fn create_pgmap(
        region: &Arc<LegacyPmemRegion>,
        mapping: &Arc<SharedMapping>,
        mode: RefMode,
        folio_size: FolioSize,
    ) -> Result<Arc<DevicePgmap>> {
        Arc::pin_init(
            Pgmap::new(
                region.clone(),
                FreeStats::default(),
                mode,
                mapping.clone(),
                folio_size,
            )?,
            GFP_KERNEL,
        )
    }

    /// How the device's busy pages keep its pgmap alive.
    pub fn mode(&self) -> RefMode {
        self.mode
    }

    /// The size of the device's folios.
    pub fn folio_size(&self) -> FolioSize {
        self.folio_size
    }

    /// The claimed region.
    pub fn region(&self) -> &LegacyPmemRegion {
        &self.region
    }

    /// The current pgmap.
    pub(crate) fn pgmap(&self) -> Arc<DevicePgmap> {
        self.current.lock().clone()
    }

    /// The user mappings of the device.
    pub(crate) fn mapping(&self) -> &SharedMapping {
        &self.mapping
    }

    pub(crate) fn state(&self) -> PgmapState {
        self.pgmap().state()
    }

    /// Holds `nr` idle folios from `offset` for `owner`; `revoker` is asked to give them back
    /// when a teardown starts, once the caller armed the hold. The errors of
    /// [`crate::pgmap::LiveGuard::request_folios`].
    pub fn request_folios(
        &self,
        offset: usize,
        nr: usize,
        owner: Owner,
        revoker: Option<KBox<dyn Revoke>>,
    ) -> Result<UnarmedHold> {
        let pgmap = self.pgmap();
        let live = pgmap.access()?;
        let folios = live.request_folios(offset, nr)?;
        let hold = UnarmedHold::new(folios, offset, owner, revoker)?;
        // Registered before the state lock is dropped: a teardown's kill, which takes that lock,
        // comes either before the request (which then failed) or after the registration (and
        // its revoke finds the hold).
        self.holds.lock().insert(hold.hold().clone())?;
        drop(live);
        Ok(hold)
    }

    /// Calls `f` with each hold that was not released, under the registry's lock: `f` must not
    /// sleep long or take a lock that comes before it. Allocates nothing, so misses none.
    pub(crate) fn for_each_hold(&self, f: impl FnMut(&Arc<Hold>)) {
        self.holds
            .lock()
            .holds
            .values()
            .filter(|hold| !hold.is_released())
            .for_each(f);
    }

    /// Asks every live hold to give its folios back.
    fn revoke_holds(&self) -> Result {
        let live = self.holds.lock().live()?;
        for hold in &live {
            hold.revoke();
        }
        Ok(())
    }

    pub(crate) fn status(&self) -> ffi::rust_pgmap_status {
        let pgmap = self.pgmap();
        let counters = pgmap.counters();
        ffi::rust_pgmap_status {
            state: match counters.state {
                PgmapState::Live => ffi::RUST_PGMAP_STATE_LIVE,
                PgmapState::Dying => ffi::RUST_PGMAP_STATE_DYING,
                PgmapState::Dead => ffi::RUST_PGMAP_STATE_DEAD,
            },
            generation: self.generation.load(Ordering::Relaxed),
            nr_pages: pgmap.nr_pages() as u64,
            requested: counters.requested,
            freed: counters.freed,
            outstanding: counters.outstanding(),
            pinned: self.pinned.load(Ordering::Relaxed),
            held: self.held.load(Ordering::Relaxed),
            freed_in_irq: pgmap.ops().in_irq.load(Ordering::Relaxed),
            freed_live: counters.freed_live,
        }
    }

    /// Kill, revoke every hold, zap every user mapping, drain, unmap.
    pub(crate) fn teardown(&self) -> Result<ffi::rust_pgmap_teardown> {
        let pgmap = self.pgmap();
        let before: PgmapCounters = pgmap.counters();
        pgmap.kill();
        // After the kill no request can add a hold, so one pass asks them all.
        self.revoke_holds()?;
        // After the kill no fault can take a page again. A fault that took a large folio before
        // maps it after it dropped the state lock: the second zap, after those faults, finds it.
        self.mapping.zap_all();
        if pgmap.wait_for_faults() {
            self.mapping.zap_all();
        }
        let waited = pgmap.teardown(&|text| {
            // Truncated text is still worth logging.
            let _ = write!(text, "{}", LiveHolds(self));
        })?;
        Ok(ffi::rust_pgmap_teardown {
            outstanding: before.outstanding(),
            waited_ns: waited.to_ns() as u64,
        })
    }

    /// Replaces a dead pgmap with a new one over the same region.
    pub(crate) fn attach(&self) -> Result {
        let mut current = self.current.lock();
        // Checked again under the lock: another ATTACH may have come first.
        if current.state() != PgmapState::Dead {
            return Err(EBUSY);
        }
        *current = Self::create_pgmap(&self.region, &self.mapping, self.mode, self.folio_size)?;
        let generation = self
            .generation
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_add(1);
        pr_info!(
            "attach: generation {}, {} pages\n",
            generation,
            current.nr_pages()
        );
        Ok(())
    }
}

/// The live holds of a device, as the drain log names them: `; holds: <owner> holds <nr> at
/// <offset> [(revoked)], ...`, or nothing without any. Takes the registry lock: format it into
/// a [`LogText`] before logging, never in a log call.
struct LiveHolds<'a>(&'a PgmapDevice);

impl fmt::Display for LiveHolds<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let live = self.0.holds.lock().live().map_err(|_| fmt::Error)?;
        for (i, hold) in live.iter().enumerate() {
            write!(
                f,
                "{}{} holds {} at {}{}",
                if i == 0 { "; holds: " } else { ", " },
                hold.owner(),
                hold.count(),
                hold.offset(),
                if hold.is_revoked() { " (revoked)" } else { "" }
            )?;
        }
        Ok(())
    }
}

/// `/sys/kernel/debug/rust_pgmap/outstanding`: what holds each busy page of the current pgmap,
/// so that a user whose teardown waits can see why.
pub struct OutstandingPages(pub Arc<PgmapDevice>);

impl DebugfsShow for OutstandingPages {
    fn show(&self, out: &mut SeqWriter<'_>) -> fmt::Result {
        // A snapshot, taken before the pgmap's state lock: requests take the two the other way.
        let holds = self.0.holds.lock().live().map_err(|_| fmt::Error)?;
        let holder = |index: usize| {
            holds
                .iter()
                .find(|h| (h.offset()..h.offset() + h.count()).contains(&index))
                .map(|h| *h.owner())
        };
        let pgmap = self.0.pgmap();
        let mut summary = BusySummary::default();
        let mut result = writeln!(out, "offset refcount pinned mapcount holder");
        pgmap.for_each_busy(|page| {
            summary.add(page);
            if result.is_ok() {
                result = match holder(page.index) {
                    Some(owner) => writeln!(
                        out,
                        "{} {} {} {} {}",
                        page.index, page.ref_count, page.dma_pinned as u8, page.map_count, owner
                    ),
                    None => writeln!(
                        out,
                        "{} {} {} {} -",
                        page.index, page.ref_count, page.dma_pinned as u8, page.map_count
                    ),
                };
            }
        });
        result?;
        writeln!(
            out,
            "total {} ({} pinned, {} mapped, {} other)",
            summary.total, summary.pinned, summary.mapped, summary.other
        )
    }
}
