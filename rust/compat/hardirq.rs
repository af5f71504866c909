// SPDX-License-Identifier: GPL-2.0

//! Runs a closure in hard interrupt context, from an hrtimer in `HRTIMER_MODE_HARD`, which stays
//! a hard interrupt on PREEMPT_RT. For testing code that a device's completion interrupt runs.
//!
//! Upstream Rust gained `kernel::time::hrtimer` in 6.15; this would then be a hard-mode timer
//! whose handler runs the closure.
//!
//! C header: [`include/linux/hrtimer.h`](srctree/include/linux/hrtimer.h).

use crate::ffi;

/// Calls `f` once in hard interrupt context and returns when it has run. Sleeps, so only from
/// task context.
pub fn call_in_hardirq<F: FnOnce() + Send>(f: F) {
    let mut slot = Some(f);
    // SAFETY: `trampoline::<F>` expects `data` to be an `Option<F>`, which `slot` is; the helper
    // waits until the call has returned, so `slot` outlives it.
    unsafe {
        ffi::rust_pgmap_call_in_hardirq(Some(trampoline::<F>), core::ptr::addr_of_mut!(slot).cast())
    };
}

/// # Safety
///
/// `data` points to an `Option<F>` that nothing else uses during the call.
unsafe extern "C" fn trampoline<F: FnOnce()>(data: *mut ffi::c_void) {
    // SAFETY: The caller guarantees that `data` is an exclusive `Option<F>`.
    let slot = unsafe { &mut *data.cast::<Option<F>>() };
    if let Some(f) = slot.take() {
        f();
    }
}
