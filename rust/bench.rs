// SPDX-License-Identifier: GPL-2.0

//! `/sys/kernel/debug/rust_pgmap_bench/request_release`: the cost of a request and its release,
//! timed inside the kernel so that no syscall is in the loop.
//!
//! Writing `NR CYCLES` requests the last `NR` pages of the pgmap and releases them, over and
//! over until at least `CYCLES` folios went through a request and a release; then, holding them,
//! takes and drops one more reference on each as many times: the bare `folio_get()` /
//! `folio_put()` pair on the same pages. Reading gives the last result as one line of
//! `key=value` pairs. This is what `make compare` uses to weigh the two refmodes.

use crate::{
    compat::debugfs::{two_words, DebugfsShow, SeqWriter},
    device::PgmapDevice,
    ffi,
};
use core::{
    fmt::{self, Write},
    sync::atomic::{AtomicU64, Ordering},
};
use kernel::{prelude::*, sync::Arc, time::Ktime};

/// The most folios one write may ask for: enough for tens of seconds under TCG.
const MAX_CYCLES: u64 = 100_000_000;

/// The result of one run.
struct BenchResult {
    nr: usize,
    cycles: u64,
    request_release_ns: i64,
    get_put_ns: i64,
}

/// The benchmark's debugfs file. Nothing serialises runs: a second run while one is going
/// requests the same pages and fails with `EBUSY`. The last result is kept in atomics, so a
/// read while a run stores its result may mix two runs' fields.
pub struct RequestBench {
    device: Arc<PgmapDevice>,
    /// `nr`, `cycles`, `request_release_ns`, `get_put_ns` of the last run; `cycles` is 0 before
    /// the first.
    last: [AtomicU64; 4],
}

impl RequestBench {
    /// The benchmark over `device`'s current pgmap.
    pub fn new(device: Arc<PgmapDevice>) -> Self {
        Self {
            device,
            last: Default::default(),
        }
    }

    fn run(&self, nr: usize, cycles: u64) -> Result<BenchResult> {
        let pgmap = self.device.pgmap();
        let offset = pgmap.nr_folios().checked_sub(nr).ok_or(EINVAL)?;
        let loops = cycles.div_ceil(nr as u64);

        let start = Ktime::ktime_get();
        for i in 0..loops {
            let folios = pgmap.access()?.request_folios(offset, nr)?;
            drop(folios);
            if i % 256 == 0 {
                ffi::cond_resched();
            }
        }
        let request_release = Ktime::ktime_get() - start;

        let folios = pgmap.access()?.request_folios(offset, nr)?;
        let start = Ktime::ktime_get();
        for i in 0..loops {
            folios.get_put_each();
            if i % 256 == 0 {
                ffi::cond_resched();
            }
        }
        let get_put = Ktime::ktime_get() - start;
        Ok(BenchResult {
            nr,
            cycles: loops * nr as u64,
            request_release_ns: request_release.to_ns(),
            get_put_ns: get_put.to_ns(),
        })
    }
}

/// Nanoseconds per folio, with two decimals, without floating point.
struct PerFolio(i64, u64);

impl fmt::Display for PerFolio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let centi = (self.0 as u64).saturating_mul(100) / self.1.max(1);
        write!(f, "{}.{:02}", centi / 100, centi % 100)
    }
}

impl DebugfsShow for RequestBench {
    const WRITABLE: bool = true;

    fn show(&self, out: &mut SeqWriter<'_>) -> fmt::Result {
        let [nr, cycles, request_release_ns, get_put_ns] =
            self.last.each_ref().map(|v| v.load(Ordering::Relaxed));
        if cycles == 0 {
            return writeln!(out, "no run yet: write \"NR CYCLES\"");
        }
        let r = BenchResult {
            nr: nr as usize,
            cycles,
            request_release_ns: request_release_ns as i64,
            get_put_ns: get_put_ns as i64,
        };
        writeln!(
            out,
            "bench=request_release refmode={} nr={} cycles={} request_release_ns_per_folio={} \
             get_put_ns_per_folio={}",
            self.device.mode().name(),
            r.nr,
            r.cycles,
            PerFolio(r.request_release_ns, r.cycles),
            PerFolio(r.get_put_ns, r.cycles)
        )
    }

    fn store(&self, input: &[u8]) -> Result {
        let (nr, cycles) = two_words(input)?;
        let nr: usize = nr.parse().map_err(|_| EINVAL)?;
        let cycles: u64 = cycles.parse().map_err(|_| EINVAL)?;
        if nr == 0 || cycles == 0 || cycles > MAX_CYCLES {
            return Err(EINVAL);
        }
        let r = self.run(nr, cycles)?;
        let values = [
            r.nr as u64,
            r.cycles,
            r.request_release_ns as u64,
            r.get_put_ns as u64,
        ];
        for (slot, value) in self.last.iter().zip(values) {
            slot.store(value, Ordering::Relaxed);
        }
        Ok(())
    }
}
