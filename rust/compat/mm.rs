// SPDX-License-Identifier: GPL-2.0

//! VMAs and page faults.
//!
//! [`VmaRef`], [`VmaNew`] and [`VmaMixedMap`] follow upstream's `kernel::mm::virt` (6.16) in
//! names and rules, so that moving to it means deleting this file: `vm_insert_page()` exists only
//! on a [`VmaMixedMap`], which [`VmaNew::set_mixedmap`] returns, and flags change only through
//! named setters. [`VmaRef::pgoff`] and the fault handler's [`VmFault`] and [`FaultResult`] have
//! no upstream counterpart (6.16 has no `vm_operations_struct` support).
//!
//! C headers: [`include/linux/mm.h`](srctree/include/linux/mm.h),
//! [`include/linux/mm_types.h`](srctree/include/linux/mm_types.h).

use crate::{
    compat::page::{FolioLock, Page},
    ffi,
};
use core::ops::Deref;
use kernel::{bindings, error::to_result, prelude::*, types::Opaque};

/// The integer type of VMA flags.
pub use bindings::vm_flags_t;

/// Flags of a VMA.
pub mod flags {
    use super::vm_flags_t;
    use kernel::bindings;

    /// Mapping allows execution.
    pub const EXEC: vm_flags_t = bindings::VM_EXEC as vm_flags_t;
    /// Mapping is shared and writable through its file.
    pub const SHARED: vm_flags_t = bindings::VM_SHARED as vm_flags_t;
    /// Mapping may be updated to allow execution.
    pub const MAYEXEC: vm_flags_t = bindings::VM_MAYEXEC as vm_flags_t;
    /// Mapping was made `MAP_SHARED`, also when the file is read-only (which clears `SHARED`).
    pub const MAYSHARE: vm_flags_t = bindings::VM_MAYSHARE as vm_flags_t;
    /// Holds refcounted pages inserted without a page cache, and maybe pure PFNs.
    pub const MIXEDMAP: vm_flags_t = bindings::VM_MIXEDMAP as vm_flags_t;
    /// Cannot be expanded with `mremap()`.
    pub const DONTEXPAND: vm_flags_t = bindings::VM_DONTEXPAND as vm_flags_t;
    /// Left out of core dumps.
    pub const DONTDUMP: vm_flags_t = bindings::VM_DONTDUMP as vm_flags_t;
}

/// A VMA with read access.
///
/// # Invariants
///
/// The VMA is valid, and its mmap or VMA read lock (or stronger) is held, while the `&VmaRef` is.
#[repr(transparent)]
pub struct VmaRef {
    vma: Opaque<bindings::vm_area_struct>,
}

impl VmaRef {
    /// # Safety
    ///
    /// `vma` is valid, and its mmap or VMA read lock (or stronger) held, for `'a`.
    pub unsafe fn from_raw<'a>(vma: *const bindings::vm_area_struct) -> &'a Self {
        // SAFETY: The caller guarantees the invariants for `'a`; `VmaRef` is transparent.
        unsafe { &*vma.cast() }
    }

    /// The VMA.
    pub fn as_ptr(&self) -> *mut bindings::vm_area_struct {
        self.vma.get()
    }

    /// The VMA's flags: a combination of the constants in [`flags`].
    pub fn flags(&self) -> vm_flags_t {
        // SAFETY: By the type invariants the VMA is valid and locked, so this is no data race.
        unsafe { (*self.as_ptr()).__bindgen_anon_2.vm_flags }
    }

    /// File offset of the VMA's start, in pages. No upstream counterpart.
    pub fn pgoff(&self) -> usize {
        // SAFETY: By the type invariants the VMA is valid and locked.
        unsafe { (*self.as_ptr()).vm_pgoff }
    }

    /// This VMA as a [`VmaMixedMap`] if `VM_MIXEDMAP` is set.
    pub fn as_mixedmap_vma(&self) -> Option<&VmaMixedMap> {
        if self.flags() & flags::MIXEDMAP == 0 {
            return None;
        }
        // SAFETY: `VM_MIXEDMAP` is set, and `self` gives the rest of the invariants.
        Some(unsafe { VmaMixedMap::from_raw(self.as_ptr()) })
    }
}

/// A VMA with read access and `VM_MIXEDMAP` set.
///
/// # Invariants
///
/// As for [`VmaRef`], and `VM_MIXEDMAP` is set.
#[repr(transparent)]
pub struct VmaMixedMap {
    vma: VmaRef,
}

impl Deref for VmaMixedMap {
    type Target = VmaRef;

    fn deref(&self) -> &VmaRef {
        &self.vma
    }
}

impl VmaMixedMap {
    /// # Safety
    ///
    /// As for [`VmaRef::from_raw`], and `VM_MIXEDMAP` is set on `vma`.
    pub unsafe fn from_raw<'a>(vma: *const bindings::vm_area_struct) -> &'a Self {
        // SAFETY: The caller guarantees the invariants for `'a`; `VmaMixedMap` is transparent.
        unsafe { &*vma.cast() }
    }

    /// Maps `page` at `address`, taking a reference and a mapcount of its own.
    pub fn vm_insert_page(&self, address: usize, page: &Page) -> Result {
        // SAFETY: By the type invariants the VMA is valid, read-locked and has `VM_MIXEDMAP`,
        // which is what `vm_insert_page()` needs without the mmap write lock; `page` is valid.
        to_result(unsafe { bindings::vm_insert_page(self.as_ptr(), address as _, page.as_ptr()) })
    }
}

/// A VMA being set up in an `mmap()` file operation, before anybody else can see it.
///
/// # Invariants
///
/// For `'a`, the VMA is undergoing its initial setup in `mmap()`, with the mmap lock held for
/// writing.
#[repr(transparent)]
pub struct VmaNew {
    vma: VmaRef,
}

impl Deref for VmaNew {
    type Target = VmaRef;

    fn deref(&self) -> &VmaRef {
        &self.vma
    }
}

impl VmaNew {
    /// # Safety
    ///
    /// `vma` is undergoing its initial setup in `mmap()` for `'a`.
    pub unsafe fn from_raw<'a>(vma: *mut bindings::vm_area_struct) -> &'a Self {
        // SAFETY: The caller guarantees the invariants for `'a`; `VmaNew` is transparent.
        unsafe { &*vma.cast() }
    }

    /// Sets `set` and clears `unset`.
    ///
    /// # Safety
    ///
    /// The resulting flags are valid: no `VM_PFNMAP` with `VM_MIXEDMAP`, no `VM_MAY*` cleared
    /// while its access flag is set.
    unsafe fn update_flags(&self, set: vm_flags_t, unset: vm_flags_t) {
        // SAFETY: In `mmap()` the mmap lock is held for writing, as `vm_flags_set()` requires.
        unsafe { ffi::rust_pgmap_vm_flags_set(self.as_ptr(), set) };
        // SAFETY: As above, for `vm_flags_clear()`.
        unsafe { ffi::rust_pgmap_vm_flags_clear(self.as_ptr(), unset) };
    }

    /// Sets `VM_MIXEDMAP`, and returns the VMA as a [`VmaMixedMap`] for `vm_insert_page()`.
    pub fn set_mixedmap(&self) -> &VmaMixedMap {
        // SAFETY: Nothing here sets `VM_PFNMAP`, so `VM_MIXEDMAP` cannot make the flags invalid.
        unsafe { self.update_flags(flags::MIXEDMAP, 0) };
        // SAFETY: `VM_MIXEDMAP` was just set.
        unsafe { VmaMixedMap::from_raw(self.as_ptr()) }
    }

    /// Sets `VM_DONTEXPAND`: `mremap()` cannot grow the VMA.
    pub fn set_dontexpand(&self) {
        // SAFETY: Setting `VM_DONTEXPAND` is always valid.
        unsafe { self.update_flags(flags::DONTEXPAND, 0) };
    }

    /// Sets `VM_DONTDUMP`: core dumps leave the VMA out.
    pub fn set_dontdump(&self) {
        // SAFETY: Setting `VM_DONTDUMP` is always valid.
        unsafe { self.update_flags(flags::DONTDUMP, 0) };
    }

    /// Whether `VM_EXEC` is set: user space maps the VMA executable.
    pub fn executable(&self) -> bool {
        self.flags() & flags::EXEC != 0
    }

    /// Clears `VM_MAYEXEC`, so that `mprotect()` cannot make the VMA executable; `EINVAL` if it
    /// is executable already.
    pub fn try_clear_mayexec(&self) -> Result {
        if self.executable() {
            return Err(EINVAL);
        }
        // SAFETY: `VM_EXEC` is not set, so clearing `VM_MAYEXEC` is valid.
        unsafe { self.update_flags(0, flags::MAYEXEC) };
        Ok(())
    }
}

/// A page fault in progress. No upstream counterpart.
///
/// # Invariants
///
/// The wrapped `vm_fault` is valid, and its VMA read-locked, while the `&VmFault` is.
#[repr(transparent)]
pub struct VmFault(Opaque<bindings::vm_fault>);

impl VmFault {
    /// # Safety
    ///
    /// `ptr` is the `vm_fault` of a fault handler that runs for `'a`.
    pub unsafe fn from_raw<'a>(ptr: *mut bindings::vm_fault) -> &'a Self {
        // SAFETY: `VmFault` is a transparent wrapper, and the caller guarantees validity.
        unsafe { &*ptr.cast() }
    }

    /// The faulting VMA.
    pub fn vma(&self) -> &VmaRef {
        // SAFETY: A fault's VMA is valid and read-locked while the fault runs.
        unsafe { VmaRef::from_raw((*self.0.get()).__bindgen_anon_1.vma) }
    }

    /// The faulting address, page aligned.
    pub fn address(&self) -> usize {
        // SAFETY: The `vm_fault` is valid by the type invariants.
        unsafe { (*self.0.get()).__bindgen_anon_1.address }
    }

    /// The file offset of the faulting address, in pages.
    pub fn pgoff(&self) -> usize {
        // SAFETY: The `vm_fault` is valid by the type invariants.
        unsafe { (*self.0.get()).__bindgen_anon_1.pgoff }
    }

    /// Whether `finish_fault()` will map a 2 MiB folio handed over with [`VmFault::set_page`] by
    /// one PMD, rather than one PTE: THP is not disabled for the VMA, the 2 MiB around the
    /// address are inside it and aligned with the file offset, and no page table sits where the
    /// PMD goes. The answer holds for the rest of the fault if the fault holds the mmap lock
    /// ([`VmFault::holds_mmap_lock`]); under the per-VMA lock alone, `prctl(PR_SET_THP_DISABLE)`
    /// can change it before the core maps the folio.
    pub fn maps_pmd(&self) -> bool {
        // SAFETY: The `vm_fault` is valid, and its VMA and page table locked against removal,
        // by the type invariants.
        unsafe { ffi::rust_pgmap_fault_maps_pmd(self.0.get()) }
    }

    /// Whether the fault holds the mmap lock, rather than the per-VMA lock alone. Only a fault
    /// under the VMA lock can answer [`FaultResult::RetryUnderMmapLock`].
    pub fn holds_mmap_lock(&self) -> bool {
        // SAFETY: The `vm_fault` is valid by the type invariants.
        unsafe { ffi::rust_pgmap_fault_holds_mmap_lock(self.0.get()) }
    }

    /// Hands `page` to the core's fault path, which maps it (`finish_fault()`) and then
    /// unlocks its folio, with the reference that the caller owned: the mapping keeps it, and the
    /// zap drops it. Whoever locks the folio after that finds it mapped.
    ///
    /// # Safety
    ///
    /// The caller owns a reference on `page`'s folio, which it gives up. The folio names the
    /// file's mapping and its offset in the file (`mapping`, `index`), the mapping's
    /// `a_ops->dirty_folio` is set (a write fault calls it) and its inode's size covers the
    /// folio (beyond it, `finish_fault()` maps one PTE).
    pub unsafe fn set_page(&self, page: &Page, lock: FolioLock<'_>) -> FaultResult {
        // SAFETY: The `vm_fault` is valid by the type invariants, and the caller gives up the
        // reference that `vmf->page` carries to the core.
        unsafe { ffi::rust_pgmap_fault_set_page(self.0.get(), page.as_ptr()) };
        // The core unlocks the folio (`VM_FAULT_LOCKED`).
        core::mem::forget(lock);
        FaultResult::LockedPage
    }
}

/// What a fault handler answers. No upstream counterpart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultResult {
    /// The handler installed the page table entry, or wants the access to fault again.
    NoPage,
    /// The handler set the page for the core to map and unlock ([`VmFault::set_page`]).
    LockedPage,
    /// The address cannot be backed: the task gets `SIGBUS`.
    SigBus,
    /// Out of memory.
    Oom,
    /// The core is to run the fault again under the mmap lock. Only for a fault under the
    /// per-VMA lock alone ([`VmFault::holds_mmap_lock`]); under the mmap lock it is `SIGBUS`.
    RetryUnderMmapLock,
}

impl FaultResult {
    /// The handler's answer to the core. For [`FaultResult::RetryUnderMmapLock`] under the VMA
    /// lock, this releases that lock, as the core expects with `VM_FAULT_RETRY`.
    ///
    /// # Safety
    ///
    /// `vmf` is the fault that this answers, and the handler returns the answer at once,
    /// without touching `vmf` or its VMA again.
    pub(crate) unsafe fn into_raw(self, vmf: &VmFault) -> bindings::vm_fault_t {
        (match self {
            FaultResult::NoPage => bindings::vm_fault_reason_VM_FAULT_NOPAGE,
            FaultResult::LockedPage => bindings::vm_fault_reason_VM_FAULT_LOCKED,
            FaultResult::SigBus => bindings::vm_fault_reason_VM_FAULT_SIGBUS,
            FaultResult::Oom => bindings::vm_fault_reason_VM_FAULT_OOM,
            FaultResult::RetryUnderMmapLock => {
                // SAFETY: The `vm_fault` is valid by the type invariants of `VmFault`; the
                // caller does not touch it or its VMA once the lock is released.
                return unsafe { ffi::rust_pgmap_fault_retry_under_mmap_lock(vmf.0.get()) };
            }
        }) as bindings::vm_fault_t
    }
}
