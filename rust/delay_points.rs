// SPDX-License-Identifier: GPL-2.0

//! Delay points: where a test can make the module sleep, to force an order of two racing paths
//! that is otherwise too rare to see, as `fail-nth` forces an allocation to fail.
//!
//! `/sys/kernel/debug/rust_pgmap/delay` takes `<point> <ms>` (0 turns the point off) and lists
//! each point with its delay and how many times it was passed, so that a test can wait until a
//! path is sleeping there. Nothing sleeps unless a test asked.

use crate::compat::{
    debugfs::{two_words, DebugfsShow, SeqWriter},
    delay::msleep,
};
use core::{
    fmt::{self, Write},
    sync::atomic::{AtomicU32, AtomicU64, Ordering},
};
use kernel::prelude::*;

/// A place where a test may ask for a sleep.
#[derive(Clone, Copy)]
pub enum DelayPoint {
    /// A request has registered its hold, and has not returned it to its caller yet.
    RequestReturn,
    /// A teardown is about to call a holder's `revoke`.
    RevokeCall,
    /// A fault found its page in use, and is about to share it.
    FaultShare,
    /// A fault has taken and locked a large folio and dropped the state lock; the core has not
    /// mapped the folio yet.
    FaultMapPmd,
}

impl DelayPoint {
    const ALL: [DelayPoint; 4] = [
        DelayPoint::RequestReturn,
        DelayPoint::RevokeCall,
        DelayPoint::FaultShare,
        DelayPoint::FaultMapPmd,
    ];

    fn name(self) -> &'static str {
        match self {
            DelayPoint::RequestReturn => "request_return",
            DelayPoint::RevokeCall => "revoke_call",
            DelayPoint::FaultShare => "fault_share",
            DelayPoint::FaultMapPmd => "fault_map_pmd",
        }
    }
}

/// The longest delay a test may ask for: long enough for TCG, short of the hung task timeout.
const MAX_DELAY_MS: u32 = 10_000;

static DELAY_MS: [AtomicU32; DelayPoint::ALL.len()] =
    [const { AtomicU32::new(0) }; DelayPoint::ALL.len()];
static PASSED: [AtomicU64; DelayPoint::ALL.len()] =
    [const { AtomicU64::new(0) }; DelayPoint::ALL.len()];

/// Counts a pass through `point`, then sleeps as long as a test asked. Task context only.
pub fn delay_point(point: DelayPoint) {
    let i = point as usize;
    PASSED[i].fetch_add(1, Ordering::Relaxed);
    let ms = DELAY_MS[i].load(Ordering::Relaxed);
    if ms != 0 {
        msleep(ms);
    }
}

/// The debugfs file that sets and lists the delay points.
pub struct DelayPoints;

impl DebugfsShow for DelayPoints {
    const WRITABLE: bool = true;

    fn show(&self, out: &mut SeqWriter<'_>) -> fmt::Result {
        for point in DelayPoint::ALL {
            let i = point as usize;
            writeln!(
                out,
                "{} {} {}",
                point.name(),
                DELAY_MS[i].load(Ordering::Relaxed),
                PASSED[i].load(Ordering::Relaxed)
            )?;
        }
        Ok(())
    }

    fn store(&self, input: &[u8]) -> Result {
        let (name, ms) = two_words(input)?;
        let ms: u32 = ms.parse().map_err(|_| EINVAL)?;
        let point = DelayPoint::ALL
            .into_iter()
            .find(|point| point.name() == name)
            .ok_or(EINVAL)?;
        if ms > MAX_DELAY_MS {
            return Err(ERANGE);
        }
        DELAY_MS[point as usize].store(ms, Ordering::Relaxed);
        Ok(())
    }
}
