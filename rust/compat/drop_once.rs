// SPDX-License-Identifier: GPL-2.0

//! A value that is dropped in place at most once, by whichever caller comes first, from any
//! context, without a lock or a free: what a release that may run in hard interrupt context
//! needs. No upstream counterpart.

use core::{
    cell::UnsafeCell,
    mem::ManuallyDrop,
    sync::atomic::{AtomicBool, Ordering},
};

/// A value that [`DropOnce::drop_once`] drops at most once.
///
/// # Invariants
///
/// `value` is initialised while `dropped` is false; the caller that set `dropped` dropped it.
pub struct DropOnce<T> {
    dropped: AtomicBool,
    value: UnsafeCell<ManuallyDrop<T>>,
}

// SAFETY: Only the one caller that wins the swap touches the value, to drop it where it runs,
// so `T: Send` suffices.
unsafe impl<T: Send> Send for DropOnce<T> {}
// SAFETY: As above: `&DropOnce` lets exactly one caller drop the value, and nobody read it.
unsafe impl<T: Send> Sync for DropOnce<T> {}

impl<T> DropOnce<T> {
    /// Holds `value` until it is dropped.
    pub fn new(value: T) -> Self {
        // INVARIANT: Initialised, not dropped.
        Self {
            dropped: AtomicBool::new(false),
            value: UnsafeCell::new(ManuallyDrop::new(value)),
        }
    }

    /// Drops the value, unless that happened already; returns whether this call did.
    pub fn drop_once(&self) -> bool {
        if self.dropped.swap(true, Ordering::AcqRel) {
            return false;
        }
        // SAFETY: By the type invariants the value is initialised, and the swap made us the one
        // caller that may touch it; nobody reads it afterwards.
        unsafe { ManuallyDrop::drop(&mut *self.value.get()) };
        true
    }
}

impl<T> Drop for DropOnce<T> {
    fn drop(&mut self) {
        self.drop_once();
    }
}
