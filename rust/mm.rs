// SPDX-License-Identifier: GPL-2.0

//! Borrowed views of struct page, VMAs and page faults, shaped after upstream's later
//! `kernel::mm::virt` so that switching to it is mechanical.
//!
//! C headers: [`include/linux/mm.h`](srctree/include/linux/mm.h),
//! [`include/linux/mm_types.h`](srctree/include/linux/mm_types.h).

use crate::ffi;
use kernel::{bindings, error::to_result, prelude::*, types::Opaque};

/// A struct page that somebody else keeps alive; this type takes no reference of its own.
///
/// # Invariants
///
/// The wrapped struct page is valid while the `&Page` is.
#[repr(transparent)]
pub struct Page(Opaque<bindings::page>);

// SAFETY: A struct page is shared by the whole kernel; every method uses atomic accessors.
unsafe impl Sync for Page {}

impl Page {
    /// # Safety
    ///
    /// `ptr` is a valid struct page for the lifetime `'a`.
    pub unsafe fn from_raw<'a>(ptr: *mut bindings::page) -> &'a Self {
        // SAFETY: `Page` is a transparent wrapper, and the caller guarantees validity.
        unsafe { &*ptr.cast() }
    }

    /// The struct page.
    pub fn as_ptr(&self) -> *mut bindings::page {
        self.0.get()
    }

    /// The page's reference count.
    pub fn ref_count(&self) -> i32 {
        // SAFETY: The page is valid by the type invariants.
        unsafe { ffi::rust_pgmap_page_count(self.as_ptr()) }
    }

    /// Takes a reference unless the count is zero; the caller then owns it.
    pub fn try_get(&self) -> bool {
        // SAFETY: The page is valid by the type invariants.
        unsafe { ffi::rust_pgmap_get_page_unless_zero(self.as_ptr()) }
    }

    /// Whether its folio may be pinned for DMA (`folio_maybe_dma_pinned()`).
    pub fn maybe_dma_pinned(&self) -> bool {
        // SAFETY: The page is valid by the type invariants.
        unsafe { ffi::rust_pgmap_page_maybe_dma_pinned(self.as_ptr()) }
    }

    /// How many page tables map its folio.
    pub fn map_count(&self) -> i32 {
        // SAFETY: The page is valid by the type invariants.
        unsafe { ffi::rust_pgmap_page_mapcount(self.as_ptr()) }
    }

    /// The pgmap of a ZONE_DEVICE page, or null for any other page. Only compared, never
    /// dereferenced.
    pub fn zone_device_pgmap(&self) -> *mut bindings::dev_pagemap {
        // SAFETY: The page is valid by the type invariants.
        unsafe { ffi::rust_pgmap_page_zone_device_pgmap(self.as_ptr()) }
    }
}

/// Flags of a VMA (`vm_flags_t`).
pub mod flags {
    use kernel::bindings;

    /// The type of VMA flags.
    pub type Flags = bindings::vm_flags_t;
    /// Mapped with `MAP_SHARED` and writable through its file.
    pub const SHARED: Flags = bindings::VM_SHARED as Flags;
    /// Mapped with `MAP_SHARED`, also when the file is read-only (which clears `SHARED`).
    pub const MAYSHARE: Flags = bindings::VM_MAYSHARE as Flags;
    /// Mapped executable.
    pub const EXEC: Flags = bindings::VM_EXEC as Flags;
    /// May become executable through `mprotect()`.
    pub const MAYEXEC: Flags = bindings::VM_MAYEXEC as Flags;
    /// Holds refcounted pages inserted with `vm_insert_page()` without a page cache.
    pub const MIXEDMAP: Flags = bindings::VM_MIXEDMAP as Flags;
    /// `mremap()` may not grow it.
    pub const DONTEXPAND: Flags = bindings::VM_DONTEXPAND as Flags;
    /// Left out of core dumps.
    pub const DONTDUMP: Flags = bindings::VM_DONTDUMP as Flags;
}

/// A VMA, borrowed while its mm is locked (mmap or fault).
///
/// # Invariants
///
/// The wrapped VMA is valid and its mm locked, at least for reading, while the `&VmArea` is.
#[repr(transparent)]
pub struct VmArea(Opaque<bindings::vm_area_struct>);

impl VmArea {
    /// # Safety
    ///
    /// `ptr` is a valid VMA whose mm stays locked for `'a`.
    pub unsafe fn from_raw<'a>(ptr: *mut bindings::vm_area_struct) -> &'a Self {
        // SAFETY: `VmArea` is a transparent wrapper, and the caller guarantees validity.
        unsafe { &*ptr.cast() }
    }

    /// The VMA.
    pub fn as_ptr(&self) -> *mut bindings::vm_area_struct {
        self.0.get()
    }

    /// File offset of `start()`, in pages.
    pub fn pgoff(&self) -> usize {
        // SAFETY: The VMA is valid and locked by the type invariants.
        unsafe { (*self.as_ptr()).vm_pgoff }
    }

    /// The VMA's flags.
    pub fn flags(&self) -> flags::Flags {
        // SAFETY: The VMA is valid and locked by the type invariants.
        unsafe { (*self.as_ptr()).__bindgen_anon_2.vm_flags }
    }

    /// Maps `page` at `address`, taking a reference and a mapcount of its own.
    pub fn insert_page(&self, address: usize, page: &crate::mm::Page) -> Result {
        // SAFETY: The VMA is valid and locked, and the page is valid and referenced by the
        // caller. `VmAreaNew::set_flags` gave the VMA `VM_MIXEDMAP`, so that `vm_insert_page()`
        // does not need the mmap lock for writing.
        to_result(unsafe { bindings::vm_insert_page(self.as_ptr(), address as _, page.as_ptr()) })
    }
}

/// A VMA being set up by `mmap()`, before anybody else can see it.
///
/// # Invariants
///
/// As for [`VmArea`], and the mm is locked for writing.
#[repr(transparent)]
pub struct VmAreaNew(VmArea);

impl core::ops::Deref for VmAreaNew {
    type Target = VmArea;

    fn deref(&self) -> &VmArea {
        &self.0
    }
}

impl VmAreaNew {
    /// # Safety
    ///
    /// `ptr` is a VMA in its `mmap()` callback, valid for `'a`.
    pub unsafe fn from_raw<'a>(ptr: *mut bindings::vm_area_struct) -> &'a Self {
        // SAFETY: `VmAreaNew` is a transparent wrapper, and the caller guarantees validity.
        unsafe { &*ptr.cast() }
    }

    /// Sets `flags`.
    pub fn set_flags(&self, flags: flags::Flags) {
        // SAFETY: In `mmap()` the mm is locked for writing, as `vm_flags_set()` requires.
        unsafe { ffi::rust_pgmap_vm_flags_set(self.as_ptr(), flags) };
    }

    /// Clears `flags`.
    pub fn clear_flags(&self, flags: flags::Flags) {
        // SAFETY: As in `set_flags`.
        unsafe { ffi::rust_pgmap_vm_flags_clear(self.as_ptr(), flags) };
    }
}

/// A page fault in progress.
///
/// # Invariants
///
/// The wrapped `vm_fault` is valid, and its VMA locked, while the `&VmFault` is.
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
    pub fn vma(&self) -> &VmArea {
        // SAFETY: A fault's VMA is valid and locked while the fault runs.
        unsafe { VmArea::from_raw((*self.0.get()).__bindgen_anon_1.vma) }
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
}

/// What a fault handler answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultResult {
    /// The handler installed the page table entry.
    NoPage,
    /// The address cannot be backed: the task gets `SIGBUS`.
    SigBus,
    /// Out of memory.
    Oom,
}

impl FaultResult {
    pub(crate) fn to_raw(self) -> bindings::vm_fault_t {
        (match self {
            FaultResult::NoPage => bindings::vm_fault_reason_VM_FAULT_NOPAGE,
            FaultResult::SigBus => bindings::vm_fault_reason_VM_FAULT_SIGBUS,
            FaultResult::Oom => bindings::vm_fault_reason_VM_FAULT_OOM,
        }) as bindings::vm_fault_t
    }
}
