// SPDX-License-Identifier: GPL-2.0

//! Holds: folios requested from the device's pgmap on behalf of a holder, which a teardown asks
//! to give them back ([`Hold::revoke`]) before it waits for them.
//!
//! The revoke contract (`Documentation/api.rst`), and what keeps each rule:
//!
//! - A revoke is never called before the request has returned: the request arms the hold
//!   ([`UnarmedHold::arm`]) as the last thing before it returns, and a revoke waits for that.
//! - A revoke never begins once a release has begun: one atomic state orders the two, and the
//!   release tells whether a revoke began before it, so that the holder knows whether its
//!   revoke may still be running.
//! - A revoke never calls into a module that is not live: it takes a reference on the owner
//!   first, waiting while the owner's init runs, and gives up once the owner goes away. A module
//!   that goes away with holds still registered (a driver bug) has them released, not revoked
//!   ([`Hold::owner_going`]).
//! - A release, in any context, does only atomics and page puts.

use crate::{
    compat::{
        completion::Completion,
        delay::Backoff,
        drop_once::DropOnce,
        module::{self, LiveModule, ModuleRef},
        rcu,
    },
    delay_points::{delay_point, DelayPoint},
    ffi,
    pgmap::Folios,
};
use core::{
    fmt,
    sync::atomic::{AtomicPtr, AtomicU32, Ordering},
};
use kernel::{bindings, prelude::*, str::CStr, sync::Arc};

/// What a teardown asks of a holder.
pub trait Revoke: Send + Sync {
    /// Stop using the folios and release `hold` soon, from here or from any context later.
    /// Task context; may sleep.
    ///
    /// # Safety
    ///
    /// Only [`Hold::revoke`] calls it, which keeps the contract: at most once, after the request
    /// returned, never once a release began, and with a reference on the hold's owner.
    unsafe fn revoke(&self, hold: &Hold);
}

/// The name of the module that owns a hold, as the logs and debugfs show it.
#[derive(Clone, Copy)]
pub struct OwnerName {
    bytes: [u8; Self::MAX],
    len: usize,
}

impl OwnerName {
    /// `MODULE_NAME_LEN` less the terminating NUL.
    const MAX: usize = ffi::RUST_PGMAP_CONST_MODULE_NAME_LEN as usize - 1;

    /// The first `MAX` bytes of `name`.
    pub fn new(name: &CStr) -> Self {
        let name = name.as_bytes();
        let len = name.len().min(Self::MAX);
        let mut bytes = [0; Self::MAX];
        bytes[..len].copy_from_slice(&name[..len]);
        Self { bytes, len }
    }
}

impl fmt::Display for OwnerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Module names are ASCII; anything else would be printed as '?'.
        for &b in &self.bytes[..self.len] {
            let c = if b.is_ascii_graphic() { b as char } else { '?' };
            fmt::Write::write_char(f, c)?;
        }
        Ok(())
    }
}

/// The module that owns a hold.
///
/// # Invariants
///
/// While the hold is not released, `module` is null or a module that has not been freed:
/// [`Hold::owner_going`] clears it when the module goes away, before the module is freed. Once
/// the hold is released nothing clears it, and only its address may be used.
pub struct Owner {
    name: OwnerName,
    module: AtomicPtr<bindings::module>,
}

impl Owner {
    /// A module that requests through the API, and which is loaded while it does.
    ///
    /// # Safety
    ///
    /// `module` is a loaded module, and [`Hold::owner_going`] is called on every hold that
    /// names it when it goes away.
    pub unsafe fn module(module: *mut bindings::module) -> Self {
        // SAFETY: The caller guarantees a loaded module, whose name is a NUL-terminated string.
        let name = unsafe { CStr::from_char_ptr(ffi::rust_pgmap_module_name(module)) };
        // INVARIANT: Loaded now; the caller promises the clearing.
        Self {
            name: OwnerName::new(name),
            module: AtomicPtr::new(module),
        }
    }

    /// An owner inside this driver, which is never called back.
    pub fn internal(name: &CStr) -> Self {
        // INVARIANT: Null.
        Self {
            name: OwnerName::new(name),
            module: AtomicPtr::new(core::ptr::null_mut()),
        }
    }
}

/// Consecutive folios of the device's pgmap, held for a holder.
///
/// # Invariants
///
/// - `armed` is completed once the request returned the hold.
/// - `state` only gains bits: [`Self::REVOKING`] when a revoke begins, never after
///   [`Self::RELEASED`], which the release sets first.
/// - `folios` is dropped by the one release, or with the hold.
#[pin_data]
pub struct Hold {
    folios: DropOnce<Folios>,
    first_page: *mut bindings::page,
    folio_order: u32,
    offset: usize,
    nr: usize,
    owner: Owner,
    revoker: Option<KBox<dyn Revoke>>,
    state: AtomicU32,
    #[pin]
    armed: Completion,
    /// For the [`crate::compat::arc_stack::ArcStack`] of released holds.
    stack_link: AtomicPtr<Hold>,
}

// SAFETY: `first_page` is only handed out, never dereferenced here; the rest is `Send`.
unsafe impl Send for Hold {}
// SAFETY: As above; shared access goes through atomics, `DropOnce` and the completion.
unsafe impl Sync for Hold {}

// SAFETY: `stack_link` is the same field every time, and only `ArcStack` uses it.
unsafe impl crate::compat::arc_stack::ArcStackLink for Hold {
    fn stack_link(&self) -> &AtomicPtr<Self> {
        &self.stack_link
    }
}

/// A hold whose request has not returned yet: [`UnarmedHold::arm`] says that it did, and lets
/// revokes in. Dropped unarmed (the request failed after all), it releases the folios and lets
/// the revoke that waits for it find them released.
///
/// # Invariants
///
/// `Some` until [`UnarmedHold::arm`] takes the hold.
#[must_use = "a teardown waits for the hold to be armed before it revokes it"]
pub struct UnarmedHold(Option<Arc<Hold>>);

impl UnarmedHold {
    /// A hold on `folios`, the `nr` folios from `offset`, for `owner`, whom a teardown asks
    /// through `revoker`.
    pub fn new(
        folios: Folios,
        offset: usize,
        owner: Owner,
        revoker: Option<KBox<dyn Revoke>>,
    ) -> Result<Self> {
        let nr = folios.count();
        let first_page = folios.page(0).as_ptr();
        let folio_order = folios.order();
        let hold = Arc::pin_init(
            try_pin_init!(Hold {
                folios: DropOnce::new(folios),
                first_page,
                folio_order,
                offset,
                nr,
                owner,
                revoker,
                state: AtomicU32::new(0),
                armed <- Completion::new(),
                stack_link: AtomicPtr::new(core::ptr::null_mut()),
            }),
            GFP_KERNEL,
        )?;
        // INVARIANT: `Some`.
        Ok(Self(Some(hold)))
    }

    /// The hold, for the registry: it may not be revoked until armed.
    pub fn hold(&self) -> &Arc<Hold> {
        // By the type invariants, `arm` has not taken it.
        self.0.as_ref().unwrap_or_else(|| unreachable!())
    }

    /// Arms the hold: call it as the last thing before the request returns it.
    pub fn arm(mut self) -> Arc<Hold> {
        delay_point(DelayPoint::RequestReturn);
        // By the type invariants, not taken before.
        let hold = self.0.take().unwrap_or_else(|| unreachable!());
        hold.armed.complete_all();
        hold
    }
}

impl Drop for UnarmedHold {
    fn drop(&mut self) {
        if let Some(hold) = self.0.take() {
            // No revoke began: they wait for the arming, which comes only after this.
            let _ = hold.release();
            hold.armed.complete_all();
        }
    }
}

impl Hold {
    const REVOKING: u32 = 1 << 0;
    const RELEASED: u32 = 1 << 1;

    /// Puts the folios, unless a release did already: then `None`. Otherwise tells whether a
    /// revoke began before: it may still be running, and the holder's data must outlive it.
    /// Any context: only atomics and page puts.
    #[must_use = "whether a revoke may still be running decides when the holder's data may go"]
    pub fn release(&self) -> Option<bool> {
        let before = self.state.fetch_or(Self::RELEASED, Ordering::AcqRel);
        if before & Self::RELEASED != 0 {
            return None;
        }
        self.folios.drop_once();
        Some(before & Self::REVOKING != 0)
    }

    /// Whether a release began: the folios are put, or about to be.
    pub fn is_released(&self) -> bool {
        self.state.load(Ordering::Acquire) & Self::RELEASED != 0
    }

    /// Asks the holder to release, once, unless it released already. Task context; sleeps until
    /// the request returned and, while the owner's init runs, until it finished.
    pub fn revoke(&self) {
        let Some(revoker) = &self.revoker else {
            return;
        };
        self.armed.wait();
        let Some(_owner) = self.pin_owner() else {
            return;
        };
        let mut state = self.state.load(Ordering::Acquire);
        loop {
            if state & (Self::RELEASED | Self::REVOKING) != 0 {
                return;
            }
            match self.state.compare_exchange(
                state,
                state | Self::REVOKING,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(now) => state = now,
            }
        }
        delay_point(DelayPoint::RevokeCall);
        // SAFETY: This is `Hold::revoke`: it set REVOKING once, after the request returned
        // (`armed`) and before any release (the exchange saw no RELEASED), and holds `_owner`.
        unsafe { revoker.revoke(self) };
    }

    /// A reference on the owner while it is live; `None` once the hold is released or the
    /// owner is going away. Polls while the owner's init runs: a reference taken then would not
    /// keep it loaded if the init failed.
    fn pin_owner(&self) -> Option<ModuleRef> {
        let mut backoff = Backoff::new(16);
        loop {
            {
                let rcu = rcu::read_lock();
                // Inside the read-side section: an owner that released the hold may unload, and
                // its notifier skips released holds, so their pointer may outlive the module.
                // A release seen here came first; one not seen cannot be followed by the
                // module's free before the section ends, as `free_module()` waits for a grace
                // period after the module began to go away.
                if self.is_released() {
                    return None;
                }
                let owner = self.owner.module.load(Ordering::Acquire);
                if owner.is_null() {
                    return None;
                }
                // SAFETY: By the type invariants of `Owner` (the hold was not released when the
                // section began) the module is not freed before the section ends.
                match unsafe { module::try_get_live(owner, &rcu) } {
                    LiveModule::Pinned(owner) => return Some(owner),
                    LiveModule::Going => return None,
                    LiveModule::Coming => {}
                }
            }
            backoff.sleep();
        }
    }

    /// The owner `module` is going away: it will not be called any more. Returns true if this
    /// call released the hold, which the module left behind.
    pub fn owner_going(&self, module: *mut bindings::module) -> bool {
        // INVARIANT: Cleared before the module is freed: the notifier runs before that.
        if self
            .owner
            .module
            .compare_exchange(
                module,
                core::ptr::null_mut(),
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .is_err()
        {
            return false;
        }
        self.release().is_some()
    }

    /// Whether a teardown asked for the folios back.
    pub fn is_revoked(&self) -> bool {
        self.state.load(Ordering::Acquire) & Self::REVOKING != 0
    }

    /// The first folio's struct page, for the C API; the rest follow it in the memmap.
    pub fn first_page(&self) -> *mut bindings::page {
        self.first_page
    }

    /// The order of the held folios: the head of folio `i` is `i << folio_order` pages after
    /// [`Hold::first_page`].
    pub fn folio_order(&self) -> u32 {
        self.folio_order
    }

    /// The offset of the first folio in the region, in pages.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// How many folios the hold has.
    pub fn count(&self) -> usize {
        self.nr
    }

    /// The module that requested the hold.
    pub fn owner(&self) -> &OwnerName {
        &self.owner.name
    }
}
