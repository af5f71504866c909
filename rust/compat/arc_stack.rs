// SPDX-License-Identifier: GPL-2.0

//! A lock-free stack of `Arc`s: where code in any context, hard interrupt included, leaves a
//! reference for task context to drop later, since dropping the last one frees, which
//! PREEMPT_RT forbids in hard interrupt context. C's `llist` does the same; upstream Rust has
//! no counterpart.

use core::{
    ptr,
    sync::atomic::{AtomicPtr, Ordering},
};
use kernel::sync::Arc;

/// An object that an [`ArcStack`] can hold: it carries the link to the next one.
///
/// # Safety
///
/// [`ArcStackLink::stack_link`] returns the same field of `self` each time, and nothing but
/// [`ArcStack`] uses it.
pub unsafe trait ArcStackLink: Sized {
    /// The link field.
    fn stack_link(&self) -> &AtomicPtr<Self>;
}

/// A stack of `Arc<T>` that any context may push onto, and task context empties.
///
/// # Invariants
///
/// `head` is null or the first of a chain, linked through [`ArcStackLink::stack_link`], of
/// pointers from `Arc::into_raw`, each owned by the stack.
pub struct ArcStack<T: ArcStackLink> {
    head: AtomicPtr<T>,
}

// SAFETY: The stack moves `Arc<T>`s between contexts, which `T: Send + Sync` allows.
unsafe impl<T: ArcStackLink + Send + Sync> Send for ArcStack<T> {}
// SAFETY: `&ArcStack` only pushes and takes with atomics.
unsafe impl<T: ArcStackLink + Send + Sync> Sync for ArcStack<T> {}

impl<T: ArcStackLink> ArcStack<T> {
    /// An empty stack.
    pub const fn new() -> Self {
        Self {
            head: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// Pushes `item`, without a lock, a free or an allocation. An object must not be on the
    /// stack twice: the second push would overwrite its link.
    pub fn push(&self, item: Arc<T>) {
        let raw = Arc::into_raw(item).cast_mut();
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            // SAFETY: `raw` is valid: we own its reference, and nothing else uses its link.
            unsafe { (*raw).stack_link().store(head, Ordering::Relaxed) };
            // INVARIANT: The chain gains `raw`, whose reference the stack now owns.
            match self
                .head
                .compare_exchange(head, raw, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(current) => head = current,
            }
        }
    }

    /// Takes every item off the stack, most recent first. Dropping them may free: task context
    /// only. Items the iterator did not yield when it is dropped are dropped with it.
    pub fn take_all(&self) -> Taken<T> {
        // INVARIANT: The swap gave us the whole chain and its references.
        Taken {
            next: self.head.swap(ptr::null_mut(), Ordering::Acquire),
        }
    }
}

/// The items that [`ArcStack::take_all`] took.
///
/// # Invariants
///
/// `next` is null or the first of a chain of pointers from `Arc::into_raw`, each owned by this
/// object.
pub struct Taken<T: ArcStackLink> {
    next: *mut T,
}

impl<T: ArcStackLink> Iterator for Taken<T> {
    type Item = Arc<T>;

    fn next(&mut self) -> Option<Arc<T>> {
        if self.next.is_null() {
            return None;
        }
        // SAFETY: By the type invariants `next` came from `Arc::into_raw`, and its reference is
        // ours.
        let item = unsafe { Arc::from_raw(self.next) };
        // INVARIANT: The rest of the chain, still ours.
        self.next = item.stack_link().load(Ordering::Relaxed);
        Some(item)
    }
}

impl<T: ArcStackLink> Drop for Taken<T> {
    fn drop(&mut self) {
        for item in self.by_ref() {
            drop(item);
        }
    }
}

impl<T: ArcStackLink> Default for ArcStack<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: ArcStackLink> Drop for ArcStack<T> {
    fn drop(&mut self) {
        drop(self.take_all());
    }
}
