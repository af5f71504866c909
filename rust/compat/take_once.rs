// SPDX-License-Identifier: GPL-2.0

//! A value that can be taken out once, from any context, without a lock: what a release that may
//! run in hard interrupt context needs. No upstream counterpart.

use core::{
    ptr,
    sync::atomic::{AtomicPtr, Ordering},
};
use kernel::prelude::*;

/// A boxed value that [`TakeOnce::take`] hands out at most once.
///
/// # Invariants
///
/// `ptr` is null, or comes from `KBox::into_raw` and is owned by this object.
pub struct TakeOnce<T> {
    ptr: AtomicPtr<T>,
}

// SAFETY: The value moves to whichever task takes it, so `T: Send` suffices.
unsafe impl<T: Send> Send for TakeOnce<T> {}
// SAFETY: `&TakeOnce` only lets one caller take the value, which `T: Send` allows.
unsafe impl<T: Send> Sync for TakeOnce<T> {}

impl<T> TakeOnce<T> {
    /// Holds `value` until it is taken.
    pub fn new(value: KBox<T>) -> Self {
        // INVARIANT: The pointer comes from `KBox::into_raw`, and we own it.
        Self {
            ptr: AtomicPtr::new(KBox::into_raw(value)),
        }
    }

    /// Takes the value; `None` if it was taken already.
    pub fn take(&self) -> Option<KBox<T>> {
        let value = self.ptr.swap(ptr::null_mut(), Ordering::AcqRel);
        if value.is_null() {
            return None;
        }
        // SAFETY: By the type invariants `value` comes from `KBox::into_raw`, and the swap gave
        // it to us alone.
        Some(unsafe { KBox::from_raw(value) })
    }

    /// Whether the value was taken.
    pub fn is_taken(&self) -> bool {
        self.ptr.load(Ordering::Acquire).is_null()
    }
}

impl<T> Drop for TakeOnce<T> {
    fn drop(&mut self) {
        drop(self.take());
    }
}
