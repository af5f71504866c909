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
