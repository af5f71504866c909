// SPDX-License-Identifier: GPL-2.0

//! RCU read-side sections.
//!
//! Upstream's `kernel::sync::rcu` (6.13) has [`read_lock`] returning a `Guard`.
//!
//! C header: [`include/linux/rcupdate.h`](srctree/include/linux/rcupdate.h).

use crate::ffi;
use core::marker::PhantomData;

/// An RCU read-side section, ended on drop.
///
/// # Invariants
///
/// The section was begun by [`read_lock`] on this CPU and task, and the guard ends it.
#[must_use = "the section ends when the guard is dropped"]
pub struct Guard {
    // The section belongs to this task: not `Send`.
    _not_send: PhantomData<*mut ()>,
}

/// Begins an RCU read-side section. Any context.
pub fn read_lock() -> Guard {
    // SAFETY: `rcu_read_lock()` may be called in any context.
    unsafe { ffi::rust_pgmap_rcu_read_lock() };
    // INVARIANT: Just begun here.
    Guard {
        _not_send: PhantomData,
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        // SAFETY: By the type invariants this task and CPU are in the section that we end.
        unsafe { ffi::rust_pgmap_rcu_read_unlock() };
    }
}
