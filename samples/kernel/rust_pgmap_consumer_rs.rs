// SPDX-License-Identifier: GPL-2.0

//! The rust_pgmap API from Rust: at load, hold 16 folios from page 2048 of the region through
//! `include/linux/rust_pgmap.h` (bindgen, as for rust_pgmap itself) and write a pattern into
//! them; when a teardown revokes the hold, release it. The C sample adds a writer thread and a
//! release from interrupt context; this one shows the calls.

use core::{
    ptr,
    sync::atomic::{AtomicBool, AtomicPtr, Ordering},
};
use kernel::{page::PAGE_SIZE, prelude::*};

module! {
    type: ConsumerRs,
    name: "rust_pgmap_consumer_rs",
    author: "rust_pgmap developers",
    description: "A sample Rust driver holding rust_pgmap folios, and giving them back on revoke",
    license: "GPL",
}

const OFFSET: usize = 2048;
const NR: usize = 16;

/// The C API: thin safe wrappers over `include/linux/rust_pgmap.h`.
mod api {
    use core::ptr::NonNull;
    use kernel::{error::from_err_ptr, prelude::*};

    #[allow(
        dead_code,
        improper_ctypes,
        missing_docs,
        non_camel_case_types,
        non_upper_case_globals,
        unreachable_pub,
        clippy::all,
        clippy::undocumented_unsafe_blocks
    )]
    pub(crate) mod ffi {
        use kernel::bindings::*;
        use kernel::ffi;

        include!("consumer_bindings.rs");
    }

    /// A reference on the rust_pgmap device.
    ///
    /// # Invariants
    ///
    /// `ptr` came from `rust_pgmap_dev_get()` and is put on drop.
    pub(crate) struct Device {
        ptr: NonNull<ffi::rust_pgmap_dev>,
    }

    // SAFETY: A device reference may be used and put from any task.
    unsafe impl Send for Device {}
    // SAFETY: As above; `&Device` only requests, which the API allows concurrently.
    unsafe impl Sync for Device {}

    impl Device {
        pub(crate) fn get() -> Result<Self> {
            // SAFETY: Any context; this module links against the symbol, so rust_pgmap cannot
            // exit during the call.
            let ptr = from_err_ptr(unsafe { ffi::rust_pgmap_dev_get() })?;
            // INVARIANT: A reference from `rust_pgmap_dev_get()`.
            Ok(Self {
                ptr: NonNull::new(ptr).ok_or(ENODEV)?,
            })
        }

        /// Holds `nr` folios from `offset`; `revoke` is called when a teardown starts.
        pub(crate) fn request(
            &self,
            offset: usize,
            nr: usize,
            ops: &'static ffi::rust_pgmap_hold_ops,
            module: &'static ThisModule,
        ) -> Result<*mut ffi::rust_pgmap_hold> {
            // SAFETY: `self` is a device reference; `ops` is static; `module` is this module.
            from_err_ptr(unsafe {
                ffi::__rust_pgmap_request_folios(
                    self.ptr.as_ptr(),
                    offset,
                    nr,
                    ops,
                    core::ptr::null_mut(),
                    module.as_ptr(),
                )
            })
        }
    }

    impl Drop for Device {
        fn drop(&mut self) {
            // SAFETY: By the type invariants we own this reference.
            unsafe { ffi::rust_pgmap_dev_put(self.ptr.as_ptr()) };
        }
    }

    /// Writes `f(i, byte)` into every byte of the held page `i`.
    ///
    /// # Safety
    ///
    /// `hold` is live (not released) for the duration of the call.
    pub(crate) unsafe fn fill(hold: *mut ffi::rust_pgmap_hold, f: impl Fn(usize, usize) -> u8) {
        // SAFETY: The caller guarantees a live hold.
        let nr = unsafe { ffi::rust_pgmap_hold_nr(hold) };
        for i in 0..nr {
            // SAFETY: `i` is below the hold's count; the page is ours while the hold lives.
            let page = unsafe { ffi::rust_pgmap_hold_kaddr(hold, i) }.cast::<u8>();
            for byte in 0..kernel::page::PAGE_SIZE {
                // SAFETY: `page` is a whole page of kernel memory that the hold owns.
                unsafe { page.add(byte).write_volatile(f(i, byte)) };
            }
        }
    }

    /// Releases `hold`; whether a revoke of it began before, and so may still be running.
    ///
    /// # Safety
    ///
    /// `hold` is live, and not used afterwards.
    pub(crate) unsafe fn release(hold: *mut ffi::rust_pgmap_hold) -> bool {
        // SAFETY: The caller gives the hold back once.
        unsafe { ffi::rust_pgmap_release_folios(hold) }
    }
}

/// The hold, for the unload; a revoke gets it as its argument.
static HOLD: AtomicPtr<api::ffi::rust_pgmap_hold> = AtomicPtr::new(ptr::null_mut());
/// Whether the revoke or the unload, whichever came first, released the hold.
static RELEASED: AtomicBool = AtomicBool::new(false);

/// Releases `hold` unless that happened already; returns whether this call did.
///
/// # Safety
///
/// `hold` is our hold, live until the first release.
unsafe fn release_once(hold: *mut api::ffi::rust_pgmap_hold) -> bool {
    if RELEASED.swap(true, Ordering::AcqRel) {
        return false;
    }
    // No data to keep: whether a revoke is running does not matter.
    // SAFETY: The swap made this the one release of our live hold.
    let _ = unsafe { api::release(hold) };
    true
}

/// # Safety
///
/// Called by rust_pgmap with a hold of ours, in task context.
unsafe extern "C" fn revoke(hold: *mut api::ffi::rust_pgmap_hold, _data: *mut kernel::ffi::c_void) {
    // SAFETY: rust_pgmap passes our hold, which is live until its first release.
    if unsafe { release_once(hold) } {
        pr_info!("revoke: released {} folios\n", NR);
    }
}

static OPS: api::ffi::rust_pgmap_hold_ops = api::ffi::rust_pgmap_hold_ops {
    revoke: Some(revoke),
};

struct ConsumerRs {
    _device: api::Device,
}

impl kernel::Module for ConsumerRs {
    fn init(module: &'static ThisModule) -> Result<Self> {
        let device = api::Device::get()?;
        let hold = device.request(OFFSET, NR, &OPS, module)?;
        // SAFETY: Just requested: a request from module init is not revoked before the init
        // returned, and nothing else releases it.
        unsafe { api::fill(hold, |i, byte| pattern(OFFSET + i, byte)) };
        HOLD.store(hold, Ordering::Release);
        pr_info!("holding {} folios at {}, written once\n", NR, OFFSET);
        Ok(Self { _device: device })
    }
}

impl Drop for ConsumerRs {
    fn drop(&mut self) {
        let hold = HOLD.load(Ordering::Acquire);
        // SAFETY: Our hold, stored by the init that succeeded, live until its first release.
        unsafe { release_once(hold) };
        pr_info!("unloaded\n");
    }
}

/// What this sample writes: the selftests check it after a re-attach.
fn pattern(page: usize, byte: usize) -> u8 {
    (page * 7 + byte * 5 + 0x33) as u8
}

const _: () = assert!(PAGE_SIZE == 4096);
