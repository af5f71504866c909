// SPDX-License-Identifier: GPL-2.0

//! Modules: references that keep a module loaded, and the notice that one is going away.
//!
//! Upstream Rust has `ThisModule` (6.12) and nothing for other modules' references or module
//! notifiers (6.18).
//!
//! C header: [`include/linux/module.h`](srctree/include/linux/module.h).

use crate::{compat::rcu, ffi};
use kernel::{bindings, init::PinInit, prelude::*, types::Opaque, ThisModule};

/// A reference on a module, which keeps it from being unloaded; put on drop.
///
/// # Invariants
///
/// This object owns one reference on `module`.
#[must_use = "dropping it puts the module reference at once"]
pub struct ModuleRef {
    module: *mut bindings::module,
}

// SAFETY: A module reference may be put from any context and task.
unsafe impl Send for ModuleRef {}
// SAFETY: `&ModuleRef` gives nothing but the pointer.
unsafe impl Sync for ModuleRef {}

impl ModuleRef {
    /// Takes a reference on `module`, which runs this code.
    ///
    /// # Safety
    ///
    /// The module is not going away: it is not unloading, or the caller runs on behalf of a
    /// module that depends on it.
    pub unsafe fn get(module: &ThisModule) -> Self {
        // SAFETY: The caller guarantees a module that is not going away.
        unsafe { bindings::__module_get(module.as_ptr()) };
        // INVARIANT: Just taken.
        Self {
            module: module.as_ptr(),
        }
    }
}

impl ModuleRef {
    /// Gives up ownership of the reference, to be taken back with [`ModuleRef::from_raw`].
    pub fn into_raw(self) -> *mut bindings::module {
        let module = self.module;
        core::mem::forget(self);
        module
    }

    /// Takes back a reference that [`ModuleRef::into_raw`] gave up.
    ///
    /// # Safety
    ///
    /// `module` came from [`ModuleRef::into_raw`], and that reference is not taken back twice.
    pub unsafe fn from_raw(module: *mut bindings::module) -> Self {
        // INVARIANT: The caller gives us the reference that `into_raw` gave up.
        Self { module }
    }
}

impl Drop for ModuleRef {
    fn drop(&mut self) {
        // SAFETY: By the type invariants we own a reference on the module.
        unsafe { bindings::module_put(self.module) };
    }
}

/// What [`try_get_live`] found.
#[must_use = "`Pinned` holds a module reference"]
pub enum LiveModule {
    /// The module is live, and now referenced.
    Pinned(ModuleRef),
    /// Its init is still running: a reference would not stop its unload if the init fails.
    Coming,
    /// It is going away, or went.
    Going,
}

/// Takes a reference on `module` if it is live.
///
/// # Safety
///
/// `module` is valid until `_rcu` ends: it is not freed before an RCU grace period after it
/// began to go away, which `free_module()` waits for.
pub unsafe fn try_get_live(module: *mut bindings::module, _rcu: &rcu::Guard) -> LiveModule {
    // SAFETY: The caller guarantees that the module is valid for the call.
    match unsafe { ffi::rust_pgmap_module_try_get_live(module) } {
        // INVARIANT: The helper took a reference.
        1 => LiveModule::Pinned(ModuleRef { module }),
        0 => LiveModule::Going,
        _ => LiveModule::Coming,
    }
}

/// A module that is going away, as a [`ModuleGoing`] handler sees it.
///
/// # Invariants
///
/// `module` is valid while the borrow of the handler's call lives.
pub struct GoingModule {
    module: *mut bindings::module,
}

impl GoingModule {
    /// The module, to compare with those that were seen before; never dereferenced by callers.
    pub fn as_ptr(&self) -> *mut bindings::module {
        self.module
    }
}

/// What a [`ModuleNotifier`] does when a module goes away: after its exit, or after its init
/// failed, and before it is freed.
pub trait ModuleGoing: Send + Sync {
    /// Called in task context, for every module that goes away; may sleep.
    fn going(&self, module: &GoingModule);
}

/// A module notifier, registered while it lives.
///
/// # Invariants
///
/// `nb` is registered with `register_module_notifier()`, calling [`Self::callback`] on this
/// object, which does not move, until the drop unregisters it.
#[pin_data(PinnedDrop)]
pub struct ModuleNotifier<T: ModuleGoing> {
    handler: T,
    // Last: once registered, a module going away can reach `handler`.
    #[pin]
    nb: Opaque<bindings::notifier_block>,
}

// SAFETY: The notifier block is only touched by its registration and the notifier chain, which
// locks; `T: Send + Sync`.
unsafe impl<T: ModuleGoing> Send for ModuleNotifier<T> {}
// SAFETY: Calls reach `handler` as `&T`, and `T: Sync`.
unsafe impl<T: ModuleGoing> Sync for ModuleNotifier<T> {}

impl<T: ModuleGoing> ModuleNotifier<T> {
    /// Registers `handler` for every module that goes away from now on.
    pub fn new(handler: T) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            handler,
            nb <- Self::register(),
        })
    }

    fn register() -> impl PinInit<Opaque<bindings::notifier_block>, Error> {
        let init = |nb: *mut Opaque<bindings::notifier_block>| {
            let nb = Opaque::raw_get(nb);
            // SAFETY: `nb` is valid for writes, and all-zero is a valid value of it.
            unsafe { nb.write(core::mem::zeroed()) };
            // SAFETY: Just initialised; nobody else knows of it yet.
            unsafe { (*nb).notifier_call = Some(Self::callback) };
            // SAFETY: `nb` is set up and pinned, inside a `Self` whose drop unregisters it.
            // INVARIANT: Registered to call `callback` on this object.
            kernel::error::to_result(unsafe { bindings::register_module_notifier(nb) })
        };
        // SAFETY: On success the closure registered the initialised block; on failure nothing
        // was registered and nothing needs dropping.
        unsafe { kernel::init::pin_init_from_closure(init) }
    }

    /// # Safety
    ///
    /// Called by the module notifier chain with the `nb` of a registered `Self`.
    unsafe extern "C" fn callback(
        nb: *mut bindings::notifier_block,
        action: ffi::c_ulong,
        data: *mut ffi::c_void,
    ) -> ffi::c_int {
        if action == bindings::module_state_MODULE_STATE_GOING as ffi::c_ulong {
            // SAFETY: `nb` is the `nb` field of a `Self`, which the drop unregisters, waiting
            // for running callbacks, before it goes away.
            let this = unsafe { &*kernel::container_of!(nb, Self, nb) };
            // INVARIANT: The chain passes a module that is valid during the call.
            this.handler.going(&GoingModule {
                module: data.cast(),
            });
        }
        bindings::NOTIFY_DONE as ffi::c_int
    }
}

#[pinned_drop]
impl<T: ModuleGoing> PinnedDrop for ModuleNotifier<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: By the type invariants `nb` is registered; unregistering waits for callbacks
        // that are running.
        unsafe { bindings::unregister_module_notifier(self.nb.get()) };
    }
}
