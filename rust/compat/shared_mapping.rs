// SPDX-License-Identifier: GPL-2.0

//! One `address_space` for every open file of a device, so that all of its user mappings can be
//! zapped at once, whichever device node they were opened through.
//!
//! The `address_space` belongs to an anonymous inode on a private pseudo filesystem that the
//! device owns, as DRM's `drm_fs_inode_new()` does. Borrowing the inode of whichever node was
//! opened first would tie the device to that node's filesystem: a container's `/dev` on a tmpfs
//! could then be unmounted under it ("VFS: Busy inodes after unmount"), and the mapping would
//! inherit that filesystem's writeback and dirty tracking. Upstream Rust has no counterpart.
//!
//! C header: [`include/linux/fs.h`](srctree/include/linux/fs.h).

use crate::{compat::miscdevice::File, ffi};
use kernel::{bindings, prelude::*};

/// An anonymous inode whose `i_mapping` every adopted file uses.
///
/// # Invariants
///
/// `inode` is an inode from `alloc_anon_inode()` on the kernel-internal mount `mnt`; this
/// object holds the only reference to both.
pub struct SharedMapping {
    mnt: *mut bindings::vfsmount,
    inode: *mut bindings::inode,
}

// SAFETY: The inode and mount are only used through calls that do their own locking, and may be
// released from any task.
unsafe impl Send for SharedMapping {}
// SAFETY: As above: `&self` methods only pass the inode's mapping to thread-safe mm calls.
unsafe impl Sync for SharedMapping {}

impl SharedMapping {
    /// Mounts the private filesystem and creates the inode.
    pub fn new() -> Result<Self> {
        let mut mnt = core::ptr::null_mut();
        // SAFETY: `mnt` is valid for writes; on success it holds the mount of the new inode.
        let inode = unsafe { ffi::rust_pgmap_anon_inode_new(&mut mnt) };
        let inode = kernel::error::from_err_ptr(inode)?;
        // INVARIANT: The helper created the mount and the inode, and gave us their references.
        Ok(Self { mnt, inode })
    }

    /// The shared `address_space`, valid while `self` is.
    pub fn as_ptr(&self) -> *mut bindings::address_space {
        // SAFETY: By the type invariants the inode is valid while we hold it.
        unsafe { ffi::rust_pgmap_inode_mapping(self.inode) }
    }

    /// Makes `file` map through the shared `address_space`. The misc device abstraction calls
    /// it in `open`, for [`super::miscdevice::MiscDevice::shared_mapping`].
    ///
    /// # Safety
    ///
    /// Nothing has mapped `file` yet, and `self` outlives every use of the file that may reach
    /// its mapping (until its `release`).
    pub(super) unsafe fn adopt(&self, file: &File) {
        // SAFETY: The caller guarantees an unmapped file that `self` outlives.
        unsafe { ffi::rust_pgmap_file_set_mapping(file.as_ptr(), self.as_ptr()) };
    }

    /// Sets the size of the file that the mapping stands for: the core maps a large folio by
    /// PMD only inside it.
    pub fn set_size(&self, bytes: u64) {
        // SAFETY: By the type invariants the inode is valid while we hold it; the helper takes
        // its lock for the write.
        unsafe { ffi::rust_pgmap_inode_set_size(self.inode, bytes as _) };
    }

    /// Zaps every user mapping of every adopted file. Later accesses fault again.
    pub fn zap_all(&self) {
        // SAFETY: The mapping is valid while we hold the inode.
        unsafe { bindings::unmap_mapping_range(self.as_ptr(), 0, 0, 1) };
    }
}

impl Drop for SharedMapping {
    fn drop(&mut self) {
        // SAFETY: By the type invariants we hold the only references, and no file uses the
        // mapping any more (the rule of `adopt`).
        unsafe { ffi::rust_pgmap_anon_inode_free(self.mnt, self.inode) };
    }
}
