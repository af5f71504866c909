// SPDX-License-Identifier: GPL-2.0

//! Sleeping for a while, in task context.
//!
//! Upstream's `kernel::time::delay::fsleep()` (6.15) takes a `Delta`; these stand-ins take
//! milliseconds, as the C calls they wrap do.
//!
//! C header: [`include/linux/delay.h`](srctree/include/linux/delay.h).

use kernel::{bindings, prelude::*};

/// Sleeps for at least `ms` milliseconds. Task context only.
pub fn msleep(ms: u32) {
    // SAFETY: Any value is valid; callers run in task context, where sleeping is allowed.
    unsafe { bindings::msleep(ms) };
}

/// Sleeps for at least `ms` milliseconds unless a signal comes first: then `EINTR`. Task
/// context only.
pub fn msleep_interruptible(ms: u32) -> Result {
    // SAFETY: As for `msleep`.
    if unsafe { bindings::msleep_interruptible(ms) } != 0 {
        return Err(EINTR);
    }
    Ok(())
}

/// The sleeps between polls of a condition that nothing signals: 1 ms first, then doubling up to
/// a cap, so that a short wait stays short and a long one notices the change within the cap.
/// Upstream's counterpart is the sleep of `read_poll_timeout()` (`kernel::io::poll`, 6.17),
/// which keeps one period.
pub struct Backoff {
    next_ms: u32,
    max_ms: u32,
}

impl Backoff {
    /// Sleeps of 1 ms, then doubling, at most `max_ms`.
    pub fn new(max_ms: u32) -> Self {
        Self { next_ms: 1, max_ms }
    }

    /// Sleeps for the next period.
    pub fn sleep(&mut self) {
        msleep(self.next_ms);
        self.grow();
    }

    /// Sleeps for the next period unless a signal comes first: then `EINTR`.
    pub fn sleep_interruptible(&mut self) -> Result {
        let slept = msleep_interruptible(self.next_ms);
        self.grow();
        slept
    }

    fn grow(&mut self) {
        self.next_ms = (self.next_ms * 2).min(self.max_ms);
    }
}
