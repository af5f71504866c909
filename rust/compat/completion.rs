// SPDX-License-Identifier: GPL-2.0

//! Completions: tasks wait until an event completes them.
//!
//! Upstream's `kernel::sync::Completion` (6.16) has `new`, `complete_all` and
//! `wait_for_completion`; this stand-in adds the timed and interruptible waits that a drain
//! needs, and [`IrqCompletion`], which may be completed in hard interrupt context, also on
//! PREEMPT_RT, and has no upstream counterpart.
//!
//! C headers: [`include/linux/completion.h`](srctree/include/linux/completion.h),
//! [`include/linux/irq_work.h`](srctree/include/linux/irq_work.h).

use crate::ffi;
use kernel::{bindings, prelude::*, time::msecs_to_jiffies, types::Opaque};

/// A `struct completion`.
///
/// # Invariants
///
/// `inner` was initialised with `init_completion()` and does not move.
#[pin_data]
pub struct Completion {
    #[pin]
    inner: Opaque<bindings::completion>,
}

// SAFETY: A completion's waits and wake-ups synchronise through its own wait queue lock.
unsafe impl Send for Completion {}
// SAFETY: As above.
unsafe impl Sync for Completion {}

/// How a wait for a [`Completion`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitResult {
    /// The completion was completed.
    Completed,
    /// The time ran out first.
    TimedOut,
}

impl Completion {
    /// A completion that nobody completed yet.
    pub fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            // INVARIANT: Initialised here, in place.
            inner <- Opaque::ffi_init(|slot| {
                // SAFETY: `slot` is valid for writes and does not move afterwards.
                unsafe { ffi::rust_pgmap_init_completion(slot) }
            }),
        })
    }

    /// Wakes every waiter, now and later. Not in hard interrupt context on PREEMPT_RT, where
    /// the wake-up runs under a lock that sleeps: use [`IrqCompletion`] there.
    pub fn complete_all(&self) {
        // SAFETY: By the type invariants the completion is initialised.
        unsafe { bindings::complete_all(self.inner.get()) };
    }

    /// Waits until the completion is completed. Task context.
    pub fn wait(&self) {
        // SAFETY: By the type invariants the completion is initialised; callers may sleep.
        unsafe { bindings::wait_for_completion(self.inner.get()) };
    }

    /// Waits until the completion is completed or `ms` milliseconds went by. Task context.
    pub fn wait_timeout(&self, ms: u32) -> WaitResult {
        // SAFETY: By the type invariants the completion is initialised; callers may sleep.
        let left = unsafe {
            bindings::wait_for_completion_timeout(self.inner.get(), msecs_to_jiffies(ms))
        };
        if left > 0 {
            WaitResult::Completed
        } else {
            WaitResult::TimedOut
        }
    }

    /// As [`Completion::wait_timeout`], but a signal ends the wait with `EINTR`.
    pub fn wait_interruptible_timeout(&self, ms: u32) -> Result<WaitResult> {
        // SAFETY: As above.
        let left = unsafe {
            bindings::wait_for_completion_interruptible_timeout(
                self.inner.get(),
                msecs_to_jiffies(ms),
            )
        };
        match left {
            left if left > 0 => Ok(WaitResult::Completed),
            0 => Ok(WaitResult::TimedOut),
            _ => Err(EINTR),
        }
    }
}

/// A [`Completion`] that may be completed from any context: from hard interrupt context it
/// queues an `irq_work`, which PREEMPT_RT runs in a thread, and completes from there.
///
/// # Invariants
///
/// `work` was initialised with `init_irq_work()` to run [`IrqCompletion::work_callback`] on
/// this object, which does not move, and the drop waits for it.
#[pin_data(PinnedDrop)]
pub struct IrqCompletion {
    #[pin]
    done: Completion,
    #[pin]
    work: Opaque<ffi::irq_work>,
}

// SAFETY: `done` is `Send`, and the `irq_work` is only queued and synchronised through the
// kernel's own atomics.
unsafe impl Send for IrqCompletion {}
// SAFETY: As above.
unsafe impl Sync for IrqCompletion {}

impl IrqCompletion {
    /// An `IrqCompletion` that nobody completed yet.
    pub fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            done <- Completion::new(),
            // INVARIANT: The callback expects exactly this field of a `Self`.
            work <- Opaque::ffi_init(|work| {
                // SAFETY: `work` is valid for writes and does not move afterwards.
                unsafe { ffi::rust_pgmap_init_irq_work(work, Some(Self::work_callback)) }
            }),
        })
    }

    /// Wakes every waiter, now and later; from any context.
    pub fn complete_all(&self) {
        if ffi::in_hardirq() {
            // SAFETY: By the type invariants `work` is initialised, and the drop waits for it.
            unsafe { ffi::irq_work_queue(self.work.get()) };
        } else {
            self.done.complete_all();
        }
    }

    /// The completion to wait for.
    pub fn completion(&self) -> &Completion {
        &self.done
    }

    /// # Safety
    ///
    /// `work` is the `work` field of a live `IrqCompletion`.
    unsafe extern "C" fn work_callback(work: *mut ffi::irq_work) {
        // SAFETY: The caller guarantees that `work` is the `work` field of an `IrqCompletion`,
        // which the drop keeps alive until this has run.
        let this = unsafe { &*kernel::container_of!(work, Self, work) };
        // An irq_work runs in a context where PREEMPT_RT allows the wake-up (lockdep checks it).
        this.done.complete_all();
    }
}

#[pinned_drop]
impl PinnedDrop for IrqCompletion {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: By the type invariants `work` is initialised.
        unsafe { ffi::irq_work_sync(self.work.get()) };
    }
}
