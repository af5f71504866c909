// SPDX-License-Identifier: GPL-2.0

//! Misc character devices.
//!
//! Upstream's counterpart is `kernel::miscdevice` (6.13; `mmap` with `VmaNew` from 6.16). Shared
//! with it: [`MiscDeviceRegistration::register`] as a pin-initialiser, [`MiscDevice::Ptr`] as the
//! per-file state, `ioctl`, `mmap`, and `compat_ioctl` defaulting to `compat_ptr_ioctl`. No
//! upstream counterpart: [`MiscDevice::RegistrationData`] and the `open(data, file)` that
//! receives it (upstream 6.13 passes the registration itself), [`MiscDevice::fault`] (upstream
//! has no `vm_operations_struct` support), [`MiscDevice::shared_mapping`] (set up here, so that
//! its rules are kept by the abstraction, not the driver), and the `status` sysfs attribute
//! ([`MiscDevice::show_status`]).
//!
//! C header: [`include/linux/miscdevice.h`](srctree/include/linux/miscdevice.h).

use crate::{
    compat::{
        mm::{flags, FaultResult, VmFault, VmaNew},
        shared_mapping::SharedMapping,
    },
    ffi,
};
use core::{fmt, marker::PhantomData};
use kernel::{
    bindings,
    error::{to_result, VTABLE_DEFAULT_ERROR},
    init::{self, PinInit},
    page::PAGE_SIZE,
    prelude::*,
    str::CStr,
    types::{ForeignOwnable, Opaque},
    ThisModule,
};

/// An open file of a misc device.
///
/// # Invariants
///
/// The wrapped file is valid while the `&File` is.
#[repr(transparent)]
pub struct File(Opaque<bindings::file>);

impl File {
    /// # Safety
    ///
    /// `ptr` is a valid file for `'a`.
    pub unsafe fn from_raw<'a>(ptr: *mut bindings::file) -> &'a Self {
        // SAFETY: `File` is a transparent wrapper, and the caller guarantees validity.
        unsafe { &*ptr.cast() }
    }

    /// The file.
    pub fn as_ptr(&self) -> *mut bindings::file {
        self.0.get()
    }
}

/// The text of a sysfs attribute, at most a page.
pub struct SysfsWriter<'a> {
    buf: &'a mut [u8; PAGE_SIZE],
    len: usize,
}

impl fmt::Write for SysfsWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        self.buf
            .get_mut(self.len..end)
            .ok_or(fmt::Error)?
            .copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// A misc device driver.
#[vtable]
pub trait MiscDevice: Sized {
    /// Data of the whole device, handed to [`MiscDevice::open`].
    type RegistrationData: Send + Sync;

    /// State of one open file, passed to every other file operation.
    type Ptr: ForeignOwnable + Send + Sync;

    /// Opens the device.
    fn open(data: &Self::RegistrationData, file: &File) -> Result<Self::Ptr>;

    /// The `address_space` that the mappings of an open file go through instead of the device
    /// node's own, asked once when the file is opened; `None` keeps the node's.
    fn shared_mapping<'a>(
        _device: <Self::Ptr as ForeignOwnable>::Borrowed<'a>,
    ) -> Option<&'a SharedMapping> {
        None
    }

    /// Closes it: called once the last reference to the file (open descriptors and VMAs alike)
    /// is gone.
    fn release(device: Self::Ptr) {
        drop(device);
    }

    /// Handles an ioctl.
    fn ioctl(
        _device: <Self::Ptr as ForeignOwnable>::Borrowed<'_>,
        _cmd: u32,
        _arg: usize,
    ) -> Result<isize> {
        kernel::build_error(VTABLE_DEFAULT_ERROR)
    }

    /// Checks and sets up a new mapping. Pages are then mapped by [`MiscDevice::fault`]: with
    /// `vm_insert_page()` if the mapping sets `VM_MIXEDMAP`, else by handing 2 MiB folios to the
    /// core ([`VmFault::set_page`]), which maps them by PMD; such a VMA splits only at 2 MiB.
    fn mmap(_device: <Self::Ptr as ForeignOwnable>::Borrowed<'_>, _vma: &VmaNew) -> Result {
        kernel::build_error(VTABLE_DEFAULT_ERROR)
    }

    /// Maps the page of a fault in a mapping made by [`MiscDevice::mmap`].
    ///
    /// It may run under the VMA's read lock alone, without the mmap lock.
    fn fault(_device: <Self::Ptr as ForeignOwnable>::Borrowed<'_>, _vmf: &VmFault) -> FaultResult {
        kernel::build_error(VTABLE_DEFAULT_ERROR)
    }

    /// Writes the `status` sysfs attribute of the device.
    fn show_status(_data: &Self::RegistrationData, _out: &mut SysfsWriter<'_>) -> fmt::Result {
        kernel::build_error(VTABLE_DEFAULT_ERROR)
    }
}

/// A registered misc device. Deregistered on drop.
///
/// # Invariants
///
/// `inner` is registered with `misc_register()`, its `fops` pointing to `fops` and its open files
/// reaching `data`.
#[pin_data(PinnedDrop)]
pub struct MiscDeviceRegistration<T: MiscDevice> {
    #[pin]
    fops: Opaque<bindings::file_operations>,
    data: T::RegistrationData,
    // Last: once registered, `open()` can reach the other fields.
    #[pin]
    inner: Opaque<ffi::rust_pgmap_misc>,
    _t: PhantomData<T>,
}

// SAFETY: The registration only hands out `&T::RegistrationData`, which is `Sync`, and the C
// parts are used under the misc core's locking.
unsafe impl<T: MiscDevice> Sync for MiscDeviceRegistration<T> {}
// SAFETY: Registration and deregistration may happen in different tasks.
unsafe impl<T: MiscDevice> Send for MiscDeviceRegistration<T> {}

impl<T: MiscDevice> MiscDeviceRegistration<T> {
    /// Registers `/dev/<name>` with a dynamic minor and the given permissions.
    pub fn register(
        name: &'static CStr,
        mode: u16,
        module: &'static ThisModule,
        data: T::RegistrationData,
    ) -> impl PinInit<Self, Error> {
        try_pin_init!(&this in Self {
            fops <- Opaque::ffi_init(|fops: *mut bindings::file_operations| {
                // SAFETY: `fops` is valid for writes and all-zero is a valid `file_operations`.
                unsafe { fops.write(Self::fops(module)) };
            }),
            data,
            inner <- Self::misc_register(this.as_ptr(), name, mode),
            _t: PhantomData,
        })
    }

    fn fops(module: &'static ThisModule) -> bindings::file_operations {
        bindings::file_operations {
            owner: module.as_ptr(),
            open: Some(Self::open_callback),
            release: Some(Self::release_callback),
            unlocked_ioctl: if T::HAS_IOCTL {
                Some(Self::ioctl_callback)
            } else {
                None
            },
            // The uapi structs have the same layout for 32-bit callers; only the pointer needs
            // converting, as upstream does when a driver gives no `compat_ioctl` of its own.
            #[cfg(CONFIG_COMPAT)]
            compat_ioctl: if T::HAS_IOCTL {
                Some(bindings::compat_ptr_ioctl)
            } else {
                None
            },
            mmap: if T::HAS_MMAP {
                Some(Self::mmap_callback)
            } else {
                None
            },
            // 2 MiB-aligned addresses for mappings of 2 MiB or more, where PMDs can map them.
            #[cfg(CONFIG_TRANSPARENT_HUGEPAGE)]
            get_unmapped_area: if T::HAS_MMAP {
                Some(bindings::thp_get_unmapped_area)
            } else {
                None
            },
            // SAFETY: All-zero is a valid `file_operations`: no other operations.
            ..unsafe { core::mem::zeroed() }
        }
    }

    /// The operations of a `VM_MIXEDMAP` VMA, whose faults insert 4 KiB pages.
    const VM_OPS: bindings::vm_operations_struct = bindings::vm_operations_struct {
        fault: Some(Self::fault_callback),
        map_pages: Some(Self::map_pages_callback),
        // SAFETY: All-zero is a valid `vm_operations_struct`: no other operations.
        ..unsafe { core::mem::zeroed() }
    };

    /// The operations of any other VMA, whose faults hand 2 MiB folios to the core to map by
    /// PMD ([`VmFault::set_page`]), and which splits only at 2 MiB. With `map_pages`, their
    /// faults run under the per-VMA lock; [`MiscDevice::fault`] answers
    /// [`FaultResult::RetryUnderMmapLock`] where that is not enough.
    const VM_OPS_PMD: bindings::vm_operations_struct = bindings::vm_operations_struct {
        fault: Some(Self::fault_callback),
        map_pages: Some(Self::map_pages_callback),
        may_split: Some(Self::may_split_callback),
        // SAFETY: All-zero is a valid `vm_operations_struct`: no other operations.
        ..unsafe { core::mem::zeroed() }
    };

    fn misc_register(
        this: *mut Self,
        name: &'static CStr,
        mode: u16,
    ) -> impl PinInit<Opaque<ffi::rust_pgmap_misc>, Error> {
        let init = move |slot: *mut Opaque<ffi::rust_pgmap_misc>| {
            let inner = Opaque::raw_get(slot);
            // SAFETY: All-zero is a valid `rust_pgmap_misc`: no name, no operations.
            let mut m: ffi::rust_pgmap_misc = unsafe { core::mem::zeroed() };
            m.misc.minor = ffi::RUST_PGMAP_CONST_MISC_DYNAMIC_MINOR;
            m.misc.name = name.as_char_ptr();
            m.misc.mode = mode;
            // SAFETY: `this` points to the `Self` being initialised; only the field's address is
            // taken. `fops` was initialised before `inner`, and lives as long as it.
            m.misc.fops = Opaque::raw_get(unsafe { core::ptr::addr_of!((*this).fops) });
            if T::HAS_SHOW_STATUS {
                m.show_status = Some(Self::show_status_callback);
            }
            // SAFETY: `slot` is valid for writes.
            unsafe { inner.write(m) };
            // SAFETY: `inner` is set up and pinned for as long as the registration lives.
            // INVARIANT: On success the device is registered with `fops`.
            to_result(unsafe { ffi::rust_pgmap_misc_register(inner) })
        };
        // SAFETY: On success the device is registered; on failure `misc_register()` undid its
        // own work and nothing needs dropping.
        unsafe { init::pin_init_from_closure(init) }
    }

    /// # Safety
    ///
    /// `misc` is the `miscdevice` of a live `MiscDeviceRegistration<T>`.
    unsafe fn from_misc<'a>(misc: *const ffi::miscdevice) -> &'a Self {
        // SAFETY: The caller guarantees that `misc` is the first field of a `rust_pgmap_misc`
        // that is the `inner` field of a live `Self`.
        unsafe {
            let m = kernel::container_of!(misc, ffi::rust_pgmap_misc, misc);
            &*kernel::container_of!(m, Self, inner)
        }
    }

    /// # Safety
    ///
    /// `file` is a file of this device whose `private_data` holds the `T::Ptr` that `open`
    /// stored, and `release` does not take it back while the borrow lives.
    unsafe fn device<'a>(file: *mut bindings::file) -> <T::Ptr as ForeignOwnable>::Borrowed<'a> {
        // SAFETY: `open` stored a `T::Ptr` in `private_data`; `release` takes it back only
        // once the file has no users left, so it outlives this borrow.
        unsafe { T::Ptr::borrow((*file).private_data) }
    }

    /// # Safety
    ///
    /// Called by `misc_open()` with the file it is opening.
    unsafe extern "C" fn open_callback(
        _inode: *mut bindings::inode,
        file: *mut bindings::file,
    ) -> ffi::c_int {
        // SAFETY: `misc_open()` points `private_data` to our `miscdevice` before calling us,
        // and the device stays registered while it has open files (they hold the module).
        let this = unsafe { Self::from_misc((*file).private_data.cast()) };
        // SAFETY: `file` is valid during `open`.
        let file_ref = unsafe { File::from_raw(file) };
        let ptr = match T::open(&this.data, file_ref) {
            Ok(ptr) => ptr,
            Err(err) => return err.to_errno(),
        };
        // SAFETY: `file` is valid and ours during `open`.
        unsafe { (*file).private_data = ptr.into_foreign().cast_mut() };
        // SAFETY: We just stored the file's `T::Ptr`; `release` takes it back.
        let device = unsafe { Self::device(file) };
        if let Some(mapping) = T::shared_mapping(device) {
            // SAFETY: The file is not installed in any descriptor table yet, so nothing mapped
            // it. The mapping is borrowed from the file's `T::Ptr`, which nothing takes back
            // before `release`: it outlives every use of the file that may reach its mapping.
            unsafe { mapping.adopt(file_ref) };
        }
        0
    }

    /// # Safety
    ///
    /// Called by the VFS once, when the last reference to an opened file is gone.
    unsafe extern "C" fn release_callback(
        _inode: *mut bindings::inode,
        file: *mut bindings::file,
    ) -> ffi::c_int {
        // SAFETY: `open` stored a `T::Ptr` there, and this is its last user.
        let ptr = unsafe { T::Ptr::from_foreign((*file).private_data) };
        T::release(ptr);
        0
    }

    /// # Safety
    ///
    /// Called by the VFS on an opened file.
    unsafe extern "C" fn ioctl_callback(
        file: *mut bindings::file,
        cmd: ffi::c_uint,
        arg: ffi::c_ulong,
    ) -> ffi::c_long {
        // SAFETY: The VFS calls ioctl only on opened files.
        let device = unsafe { Self::device(file) };
        match T::ioctl(device, cmd, arg) {
            Ok(ret) => ret as ffi::c_long,
            Err(err) => err.to_errno() as ffi::c_long,
        }
    }

    /// # Safety
    ///
    /// Called by the VFS on an opened file, with a VMA being set up.
    unsafe extern "C" fn mmap_callback(
        file: *mut bindings::file,
        vma: *mut bindings::vm_area_struct,
    ) -> ffi::c_int {
        // SAFETY: The VFS calls mmap only on opened files.
        let device = unsafe { Self::device(file) };
        // SAFETY: `vma` is a new VMA in its `mmap()` callback.
        let vma_ref = unsafe { VmaNew::from_raw(vma) };
        if let Err(err) = T::mmap(device, vma_ref) {
            return err.to_errno();
        }
        let ops = if vma_ref.flags() & flags::MIXEDMAP != 0 {
            &Self::VM_OPS
        } else {
            &Self::VM_OPS_PMD
        };
        // SAFETY: The VMA is not visible yet; the table is a constant with static lifetime.
        unsafe { (*vma).vm_ops = ops };
        0
    }

    /// # Safety
    ///
    /// Called by the fault handler for a VMA that `mmap_callback` set up.
    unsafe extern "C" fn fault_callback(vmf: *mut bindings::vm_fault) -> bindings::vm_fault_t {
        // SAFETY: The core calls fault with a valid `vm_fault`.
        let vmf_ref = unsafe { VmFault::from_raw(vmf) };
        // SAFETY: Only VMAs set up by `mmap_callback` have this fault handler, and a VMA holds a
        // reference to its file, so the file is open and its `private_data` set.
        let device = unsafe { Self::device((*vmf_ref.vma().as_ptr()).vm_file) };
        let result = T::fault(device, vmf_ref);
        // SAFETY: `result` answers this fault, and we return it at once.
        unsafe { result.into_raw(vmf_ref) }
    }

    /// Refuses to split a PMD-mapped VMA inside a 2 MiB folio: `munmap()`, `mprotect()` and
    /// `mremap()` of part of a folio fail with `EINVAL`, as device-dax's do.
    extern "C" fn may_split_callback(
        _vma: *mut bindings::vm_area_struct,
        addr: ffi::c_ulong,
    ) -> ffi::c_int {
        if addr % (1 << bindings::PMD_SHIFT) != 0 {
            return EINVAL.to_errno();
        }
        0
    }

    /// Maps nothing around a fault: each page is requested by its own fault.
    ///
    /// Its presence is what tells 6.12's `vmf_can_call_fault()` that [`MiscDevice::fault`] runs
    /// under the per-VMA lock alone ("vm_ops that have a ->map_pages have been audited and don't
    /// need the mmap_lock"), which it does: it only reads the VMA, or asks for the mmap lock
    /// itself. Without it, every fault that the VMA lock handles returns `VM_FAULT_RETRY` and
    /// runs again under the mmap lock.
    extern "C" fn map_pages_callback(
        _vmf: *mut bindings::vm_fault,
        _start: usize,
        _end: usize,
    ) -> bindings::vm_fault_t {
        0
    }

    /// # Safety
    ///
    /// Called by the C `status` attribute of a registered device, with a page for the text.
    unsafe extern "C" fn show_status_callback(
        m: *mut ffi::rust_pgmap_misc,
        buf: *mut ffi::c_char,
    ) -> isize {
        // SAFETY: sysfs attributes are removed by `misc_deregister()` before the registration
        // goes away, so `m` is the `inner` field of a live `Self`.
        let this = unsafe { Self::from_misc(core::ptr::addr_of!((*m).misc)) };
        // SAFETY: sysfs gives `show` a page-sized buffer that nothing else uses during the call.
        let buf = unsafe { &mut *buf.cast::<[u8; PAGE_SIZE]>() };
        let mut out = SysfsWriter { buf, len: 0 };
        match T::show_status(&this.data, &mut out) {
            Ok(()) => out.len as isize,
            Err(_) => ENOSPC.to_errno() as isize,
        }
    }
}

#[pinned_drop]
impl<T: MiscDevice> PinnedDrop for MiscDeviceRegistration<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: By the type invariants `inner` is registered.
        unsafe { ffi::misc_deregister(core::ptr::addr_of_mut!((*self.inner.get()).misc)) };
    }
}
