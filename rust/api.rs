// SPDX-License-Identifier: GPL-2.0

//! The API that other kernel modules use: the C entry points of `include/linux/rust_pgmap.h`,
//! which `exports.c` exports with `EXPORT_SYMBOL_GPL`.
//!
//! A `struct rust_pgmap_dev *` is a reference on the [`PgmapDevice`] (an `Arc`), and a
//! `struct rust_pgmap_hold *` one on a [`Hold`], handed out with `Arc::into_raw` and taken back
//! by the matching put or release.

use crate::{
    compat::{
        arc_stack::ArcStack,
        module::{GoingModule, ModuleGoing, ModuleRef},
    },
    device::PgmapDevice,
    ffi,
    hold::{Hold, Owner, Revoke},
};
use core::{
    ptr,
    sync::atomic::{AtomicPtr, Ordering},
};
use kernel::{
    bindings,
    prelude::*,
    sync::{Arc, ArcBorrow},
};

/// The device that `rust_pgmap_dev_get()` hands out: an `Arc::into_raw`, or null.
static DEVICE: AtomicPtr<PgmapDevice> = AtomicPtr::new(ptr::null_mut());

/// The handles' references on released holds, which a release may drop in any context: they
/// are dropped here, in task context, where freeing is allowed.
static RELEASED: ArcStack<Hold> = ArcStack::new();

/// Makes `device` the one that other modules get. Once, at load.
pub(crate) fn publish(device: Arc<PgmapDevice>) {
    DEVICE.store(Arc::into_raw(device).cast_mut(), Ordering::Release);
}

/// Takes the device back. At unload, when no other module can use the API any more: modules
/// that call it hold a reference on this one, and so does every device reference.
pub(crate) fn unpublish() {
    let device = DEVICE.swap(ptr::null_mut(), Ordering::AcqRel);
    if !device.is_null() {
        // SAFETY: `publish` stored an `Arc::into_raw`, and the swap gave it to us alone.
        drop(unsafe { Arc::from_raw(device) });
    }
    drop(RELEASED.take_all());
}

/// `ERR_PTR(err)`.
fn err_ptr<T>(err: Error) -> *mut T {
    err.to_errno() as isize as *mut T
}

/// A holder's `struct rust_pgmap_hold_ops` and `data`.
///
/// # Invariants
///
/// `ops` and `data` are valid, from any task, until the hold they were given with is released
/// and the revoke that began before, if any, has returned: the API's contract with holders.
struct CRevoke {
    ops: *const ffi::rust_pgmap_hold_ops,
    data: *mut ffi::c_void,
}

// SAFETY: By the type invariants the holder's ops may be called from any task.
unsafe impl Send for CRevoke {}
// SAFETY: As above.
unsafe impl Sync for CRevoke {}

impl Revoke for CRevoke {
    unsafe fn revoke(&self, hold: &Hold) {
        // SAFETY: The caller guarantees a hold that was not released when the revoke began,
        // with a reference on the owner: `ops` is valid (type invariants).
        if let Some(revoke) = unsafe { (*self.ops).revoke } {
            let handle = ptr::from_ref(hold)
                .cast_mut()
                .cast::<ffi::rust_pgmap_hold>();
            // SAFETY: The holder's callback, with the handle it got for this hold and its data,
            // in task context as the API promises.
            unsafe { revoke(handle, self.data) };
        }
    }
}

/// Releases the holds that a module left behind when it went away: it cannot release them any
/// more, and must never be called again.
pub(crate) struct LeftHolds(pub(crate) Arc<PgmapDevice>);

impl ModuleGoing for LeftHolds {
    fn going(&self, module: &GoingModule) {
        self.0.for_each_hold(|hold| {
            if !hold.owner_going(module.as_ptr()) {
                return;
            }
            pr_warn!(
                "{} went away holding {} folios at {}: released them\n",
                hold.owner(),
                hold.count(),
                hold.offset()
            );
            let handle = Arc::into_raw(hold.clone());
            // SAFETY: `handle` is the pointer that the hold's handle has too. The hold was not
            // released, so its handle still owned the reference that
            // `__rust_pgmap_request_folios()` handed out, and the module that had the handle is
            // gone: that reference is ours to drop, in task context, with the one just taken.
            drop(unsafe { (Arc::from_raw(handle), Arc::from_raw(handle)) });
        });
    }
}

/// The [`Hold`] behind a handle.
///
/// # Safety
///
/// `hold` came from `__rust_pgmap_request_folios()` and was not released.
unsafe fn hold_ref<'a>(hold: *const ffi::rust_pgmap_hold) -> &'a Hold {
    // SAFETY: The caller guarantees a live handle, which is an `Arc::into_raw` of a `Hold`.
    unsafe { &*hold.cast::<Hold>() }
}

/// `rust_pgmap_dev_get()`.
///
/// # Safety
///
/// This module does not exit before the call returns: the caller is a module that links
/// against the symbol (the module loader then keeps this one loaded for as long as that one
/// is), or holds a reference on this module. A call that raced `unpublish()` could borrow the
/// device after its last reference was dropped.
#[no_mangle]
#[must_use = "a device reference, given back with rust_pgmap_dev_put()"]
pub unsafe extern "C" fn rust_pgmap_dev_get() -> *mut ffi::rust_pgmap_dev {
    let device = DEVICE.load(Ordering::Acquire);
    if device.is_null() {
        return err_ptr(ENODEV);
    }
    // SAFETY: `publish` stored an `Arc::into_raw`, which stays valid until `unpublish`, and the
    // caller guarantees that the module exit, which calls it, does not run meanwhile.
    let device: Arc<PgmapDevice> = unsafe { ArcBorrow::from_raw(device) }.into();
    // A module that leaked this reference could leave the pgmap, whose memmap calls into this
    // module, behind it: each reference keeps the module loaded.
    // SAFETY: This module is not going away, as above.
    let module = unsafe { ModuleRef::get(&crate::THIS_MODULE) };
    let _ = module.into_raw();
    Arc::into_raw(device).cast_mut().cast()
}

/// `rust_pgmap_dev_put()`.
///
/// # Safety
///
/// `dev` came from `rust_pgmap_dev_get()` and is not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn rust_pgmap_dev_put(dev: *mut ffi::rust_pgmap_dev) {
    // SAFETY: The caller gives back a reference from `rust_pgmap_dev_get()`.
    drop(unsafe { Arc::from_raw(dev.cast::<PgmapDevice>()) });
    // SAFETY: `rust_pgmap_dev_get()` gave up a module reference for each device reference.
    drop(unsafe { ModuleRef::from_raw(crate::THIS_MODULE.as_ptr()) });
}

/// `rust_pgmap_request_folios()`.
///
/// # Safety
///
/// `dev` came from `rust_pgmap_dev_get()`; `ops`, if not null, and `data` are valid from any
/// task until the hold is released and a revoke that began before has returned; `owner` is the
/// calling module.
#[no_mangle]
pub unsafe extern "C" fn __rust_pgmap_request_folios(
    dev: *mut ffi::rust_pgmap_dev,
    offset: ffi::c_ulong,
    nr: ffi::c_ulong,
    ops: *const ffi::rust_pgmap_hold_ops,
    data: *mut ffi::c_void,
    owner: *mut bindings::module,
) -> *mut ffi::rust_pgmap_hold {
    drop(RELEASED.take_all());
    // SAFETY: The caller guarantees a device reference from `rust_pgmap_dev_get()`.
    let device = unsafe { &*dev.cast::<PgmapDevice>() };
    // SAFETY: `owner` is the calling module, so loaded, and `LeftHolds`, registered while this
    // module is, clears it from the holds that it did not release when it goes away.
    let owner = unsafe { Owner::module(owner) };
    let revoker: Option<KBox<dyn Revoke>> = if ops.is_null() {
        None
    } else {
        // INVARIANT: The caller guarantees `ops` and `data` for the hold's lifetime.
        let revoker = match KBox::new(CRevoke { ops, data }, GFP_KERNEL) {
            Ok(revoker) => revoker,
            Err(err) => return err_ptr(err.into()),
        };
        // 6.12's `KBox` cannot coerce to a trait object; its raw pointer can.
        let revoker: *mut CRevoke = KBox::into_raw(revoker);
        let revoker: *mut dyn Revoke = revoker;
        // SAFETY: The pointer comes from `KBox::into_raw`, only unsized to a trait it implements.
        Some(unsafe { KBox::from_raw(revoker) })
    };
    match device.request_folios(offset, nr, owner, revoker) {
        // The last thing before the caller gets the handle: a teardown may revoke from now on.
        Ok(hold) => Arc::into_raw(hold.arm()).cast_mut().cast(),
        Err(err) => err_ptr(err),
    }
}

/// `rust_pgmap_hold_nr()`.
///
/// # Safety
///
/// `hold` is a live handle.
#[no_mangle]
pub unsafe extern "C" fn rust_pgmap_hold_nr(hold: *const ffi::rust_pgmap_hold) -> ffi::c_ulong {
    // SAFETY: The caller guarantees a live handle.
    unsafe { hold_ref(hold) }.count()
}

/// `rust_pgmap_hold_page()`.
///
/// # Safety
///
/// `hold` is a live handle.
#[no_mangle]
pub unsafe extern "C" fn rust_pgmap_hold_page(
    hold: *const ffi::rust_pgmap_hold,
    i: ffi::c_ulong,
) -> *mut bindings::page {
    // SAFETY: The caller guarantees a live handle.
    let hold = unsafe { hold_ref(hold) };
    if i >= hold.count() {
        return ptr::null_mut();
    }
    // SAFETY: The hold's folios follow its first one in the virtually contiguous memmap, and
    // `i` is below their count.
    unsafe { hold.first_page().add(i << hold.folio_order()) }
}

/// `rust_pgmap_hold_kaddr()`.
///
/// # Safety
///
/// `hold` is a live handle.
#[no_mangle]
pub unsafe extern "C" fn rust_pgmap_hold_kaddr(
    hold: *const ffi::rust_pgmap_hold,
    i: ffi::c_ulong,
) -> *mut ffi::c_void {
    // SAFETY: The caller guarantees a live handle.
    let page = unsafe { rust_pgmap_hold_page(hold, i) };
    if page.is_null() {
        return ptr::null_mut();
    }
    // SAFETY: `page` is a held page of the pgmap, which is in the direct map.
    unsafe { ffi::rust_pgmap_page_address(page) }
}

/// `rust_pgmap_release_folios()`: whether a revoke of the hold began before.
///
/// # Safety
///
/// `hold` is a live handle, and is not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn rust_pgmap_release_folios(hold: *mut ffi::rust_pgmap_hold) -> bool {
    // SAFETY: The caller gives back the reference that `__rust_pgmap_request_folios()` handed
    // out.
    let hold = unsafe { Arc::from_raw(hold.cast::<Hold>()) };
    // `None` only if the going of its owner released it, which cannot be: the owner calls us.
    let revoke_began = hold.release().unwrap_or(false);
    // Dropping the reference may free the hold, which is not allowed in every context.
    RELEASED.push(hold);
    revoke_began
}
