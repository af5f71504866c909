// SPDX-License-Identifier: GPL-2.0

//! Requests: the proof that a [`Pgmap`] is live ([`LiveGuard`]), and the references on the
//! folios that a request hands out ([`Folios`]).

use super::{Pgmap, PgmapOps, PgmapState, RefMode};
use crate::{
    compat::{
        mm::{FaultResult, VmFault},
        page::Page,
    },
    delay_points::{delay_point, DelayPoint},
};
use core::sync::atomic::Ordering;
use kernel::prelude::*;

impl<T: PgmapOps> Pgmap<T> {
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
    /// The head page of folio `offset`, valid while the guard is held; `ERANGE` beyond the
    /// pgmap.
    fn page(&self, offset: usize) -> Result<&Page> {
        self.check_range(offset, 1)?;
        // SAFETY: `offset < nr_folios`, and by the type invariants we hold the state lock with
        // the pgmap live for as long as the returned borrow of `self`.
        Ok(unsafe { self.pgmap.pagemap.folio(offset) })
    }

    /// Checks that `[offset, offset + nr)` is a non-empty range of the pgmap's folios.
    fn check_range(&self, offset: usize, nr: usize) -> Result {
        let end = offset.checked_add(nr).ok_or(EINVAL)?;
        if nr == 0 {
            return Err(EINVAL);
        }
        if end > self.pgmap.nr_folios() {
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

    /// Takes a reference on folio `offset`, to map it at its file offset: shares it if it is in
    /// use, hands it out if it is idle.
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
        // Busy when we looked. Its last put, its free (which marks it idle) and the reset of its
        // count to 1 may all come before `try_get()`, which then takes a page that nobody
        // requested. Once the reference is ours the page cannot be freed, so a second look at
        // the idle bit tells the two apart. It sees the bit if `try_get()` saw the reset: the
        // free sets the bit before it resets the count, and x86, the only target this module
        // builds for, keeps the two stores in order.
        delay_point(DelayPoint::FaultShare);
        if !page.try_get() {
            return Err(EAGAIN);
        }
        // INVARIANT: `try_get()` gave us one reference on the folio.
        let shared = Folios {
            first: page,
            nr: 1,
            order: self.pgmap.folio_size().order(),
        };
        if self.pgmap.pages.is_idle(offset) {
            // Freed meanwhile: put it back (to the idle 1), and let the retry request it.
            drop(shared);
            return Err(EAGAIN);
        }
        Ok(shared)
    }

    /// The request proper: adopts the idle reference of each of the `nr` idle folios from
    /// `offset`, which the caller checked.
    fn hand_out(&self, offset: usize, nr: usize) -> Folios {
        let pgmap = self.pgmap;
        let order = pgmap.folio_size().order();
        for i in offset..offset + nr {
            pgmap.pages.set_busy(i);
            // SAFETY: The range was checked by the caller, and we hold the state lock with the
            // pgmap live.
            let page = unsafe { pgmap.pagemap.folio(i) };
            // INVARIANT: The folio names `file_mapping`, which `pgmap` holds.
            // SAFETY: The folio was idle until just now, so it is mapped nowhere and nobody reads
            // its mapping; by the type invariants of `Pgmap` the mapping outlives the memmap.
            unsafe { page.set_file_mapping(pgmap.file_mapping.as_ptr(), i << order) };
        }
        pgmap.requested.fetch_add(nr as u64, Ordering::SeqCst);
        if pgmap.mode == RefMode::Folio {
            // INVARIANT: One reference of the pagemap's count for each busy page.
            // SAFETY: The pgmap is live under the state lock that we hold, so not unmapped.
            unsafe { pgmap.pagemap.get_refs(nr) };
        }
        // SAFETY: As above.
        let first = unsafe { pgmap.pagemap.folio(offset) };
        // INVARIANT: Each folio was idle at refcount 1, a reference that nobody owned: the
        // handle owns it now.
        Folios { first, nr, order }
    }
}

/// References on consecutive folios of a [`Pgmap`], put on drop.
///
/// The folios keep their pgmap from being unmapped, so the handle needs no lifetime.
///
/// # Invariants
///
/// `first` and the heads of the `nr - 1` folios after it in memory, each `1 << order` struct
/// pages on, are pgmap folios on which this handle owns one reference each. (A pgmap's memmap is
/// virtually contiguous: ZONE_DEVICE requires `SPARSEMEM_VMEMMAP`.)
#[must_use = "dropping the handle puts the folios at once"]
pub struct Folios {
    first: *const Page,
    nr: usize,
    order: u32,
}

// SAFETY: Page references can be put from any context.
unsafe impl Send for Folios {}
// SAFETY: `&Folios` only gives out `&Page`, which is `Sync`.
unsafe impl Sync for Folios {}

impl Folios {
    /// The head page of the `i`th folio of the handle.
    ///
    /// # Panics
    ///
    /// If `i` is not below [`Folios::count`].
    pub fn page(&self, i: usize) -> &Page {
        assert!(i < self.nr);
        // SAFETY: By the type invariants the folio is valid and referenced while `self` lives.
        unsafe { &*self.first.add(i << self.order) }
    }

    /// Number of folios held.
    pub fn count(&self) -> usize {
        self.nr
    }

    /// The order of the folios held: `log2` of their number of pages.
    pub fn order(&self) -> u32 {
        self.order
    }

    /// Hands the handle's one folio to the core's fault path, which maps it by PMD: its page
    /// `subpage` is the page of the fault.
    ///
    /// The folio is locked before `live`, the guard that the fault took the folio under, is
    /// dropped, so that a teardown that comes after can wait for the mapping
    /// ([`Pgmap::wait_for_faults`]) and zap it.
    ///
    /// # Panics
    ///
    /// If the handle holds more than one folio, or `subpage` is beyond the folio.
    pub fn into_fault_page<T: PgmapOps>(
        self,
        live: LiveGuard<'_, T>,
        vmf: &VmFault,
        subpage: usize,
    ) -> FaultResult {
        assert!(self.nr == 1 && subpage < 1 << self.order);
        // SAFETY: By the type invariants the folio is valid and referenced while `self` lives,
        // and the reference that we give the core below keeps it so; `subpage` is inside it.
        let (head, page) = unsafe { (&*self.first, &*self.first.add(subpage)) };
        let lock = head.lock_folio();
        drop(live);
        delay_point(DelayPoint::FaultMapPmd);
        // The core owns the handle's reference from now on.
        core::mem::forget(self);
        // SAFETY: The handle owned one reference on the folio, which it gave up just above. The
        // folio was handed out by a request, which named the shared mapping and the folio's
        // file offset; the mapping is an anonymous inode's (`noop_dirty_folio`), whose size the
        // device set to the region's.
        unsafe { vmf.set_page(page, lock) }
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
