// SPDX-License-Identifier: GPL-2.0

//! The teardown's wait: until `page_free` has counted every requested folio ([`RefMode::Folio`]),
//! then until each page it waits for is idle (every page in [`RefMode::Scan`]: the sweep).

use super::{LogText, Pgmap, PgmapOps, PgmapState, RefMode};
use crate::compat::{
    completion::WaitResult, delay::Backoff, pinned_pages::wait_for_gup_fast_walks,
};
use kernel::{prelude::*, time::Ktime};

/// The longest sleep between two polls of a page that a teardown waits for: nothing calls us
/// when a page's count is back at 1, so the wait polls, and this bounds how late it notices.
const POLL_MAX_SLEEP_MS: u32 = 16;

/// How often a drain that is still waiting says so in the log.
///
/// The lifecycle lines (kill, draining, drained, unmapped) are `pr_info!`: there is one per
/// transition and one per period of a stuck drain, and they are what someone debugging a hung
/// unbind or rmmod has to go on. The request, fault and free paths log nothing.
const DRAIN_LOG_PERIOD_MS: u32 = 5000;

impl<T: PgmapOps> Pgmap<T> {
    /// Waits until every fault that took a large folio before the kill has mapped it, so that a
    /// zap after this returns finds the mapping. Returns whether the pgmap has large folios (a
    /// fault of a 4 KiB folio maps it before it drops the state lock that the kill takes).
    ///
    /// Such a fault locks the folio under the state lock ([`super::Folios::into_fault_page`]),
    /// and the core unlocks it once it has mapped it: locking each busy folio once waits for
    /// them all.
    pub fn wait_for_faults(&self) -> bool {
        if self.folio_size().order() == 0 {
            return false;
        }
        let state = self.state.lock();
        if *state == PgmapState::Dead {
            return true;
        }
        self.pages.for_each_busy(|index| {
            // SAFETY: `index < nr_folios`, and we hold the state lock with the pgmap not dead.
            let page = unsafe { self.pagemap.folio(index) };
            drop(page.lock_folio());
        });
        true
    }

    /// Waits until no page of the pgmap is in use, logging every few seconds what is still out.
    ///
    /// [`RefMode::Folio`] waits until `page_free` counted every requested folio, and then for
    /// the pages whose count is not yet back at 1; [`RefMode::Scan`] sweeps every page until
    /// each is idle. Both end by waiting for the gup-fast walks in flight: a walk that read a
    /// PTE before the zap may take a reference on a page that is idle already, for the moment
    /// before it sees the PTE changed and puts it back. Walks run with interrupts disabled, so
    /// once every CPU has taken an interrupt each such walk is over. (An RCU grace period would
    /// do too; it made a teardown 18 ms slower under TCG.)
    pub(super) fn drain(
        &self,
        interruptible: bool,
        holders: &dyn Fn(&mut LogText),
    ) -> Result<Ktime> {
        let mut log = DrainLog::new(holders);
        if self.counters().outstanding() != 0 {
            log.begin(self);
        }
        if self.mode == RefMode::Folio {
            self.wait_drained(interruptible, &mut log)?;
        }
        self.wait_idle(self.mode == RefMode::Folio, interruptible, &mut log)?;
        wait_for_gup_fast_walks();
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
        let mut backoff = Backoff::new(POLL_MAX_SLEEP_MS);
        loop {
            {
                let state = self.state.lock();
                if *state == PgmapState::Dead {
                    return Ok(());
                }
                loop {
                    index = match unsettled_only {
                        true => self.pages.next_unsettled(index),
                        false => Some(index).filter(|&i| i < self.nr_folios()),
                    }
                    .unwrap_or(self.nr_folios());
                    if index == self.nr_folios() {
                        return Ok(());
                    }
                    // SAFETY: `index < nr_folios`, and we hold the state lock with the pgmap not
                    // dead.
                    let page = unsafe { self.pagemap.folio(index) };
                    if !self.is_idle(index, page) {
                        break;
                    }
                    self.pages.clear_unsettled(index);
                    index += 1;
                }
            }
            log.tick(self);
            if interruptible {
                backoff
                    .sleep_interruptible()
                    .inspect_err(|_| log.interrupted(self))?;
            } else {
                backoff.sleep();
            }
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
