// SPDX-License-Identifier: GPL-2.0

//! One `address_space` for every open file of a device, so that all of its user mappings can be
//! zapped at once, whichever device node they were opened through (as DRM does).
//!
//! C header: [`include/linux/fs.h`](srctree/include/linux/fs.h).

use crate::miscdevice::File;
use kernel::{bindings, new_mutex, prelude::*, sync::Mutex};

/// The inode whose `i_mapping` every adopted file uses.
///
/// # Invariants
///
/// `inode` is null or an inode on which this object holds a reference (`ihold()`).
#[pin_data(PinnedDrop)]
pub struct SharedMapping {
    #[pin]
    inode: Mutex<*mut bindings::inode>,
}

// SAFETY: The inode pointer is only used under the mutex, and inode references may be dropped
// from any task.
unsafe impl Send for SharedMapping {}
// SAFETY: As above.
unsafe impl Sync for SharedMapping {}

impl SharedMapping {
    /// Creates an empty one: the first adopted file provides the inode.
    pub fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            inode <- new_mutex!(core::ptr::null_mut()),
        })
    }

    /// Makes `file` map through the shared `address_space`. Call it in `open`, before any mmap.
    pub fn adopt(&self, file: &File) {
        let mut inode = self.inode.lock();
        // SAFETY: `file` is valid, and being opened, so nothing has mapped it yet.
        unsafe {
            if inode.is_null() {
                let own = crate::ffi::rust_pgmap_file_inode(file.as_ptr());
                bindings::ihold(own);
                *inode = own;
            }
            (*file.as_ptr()).f_mapping = (**inode).i_mapping;
        }
    }

    /// Zaps every user mapping of every adopted file. Later accesses fault again.
    pub fn zap_all(&self) {
        let inode = self.inode.lock();
        if inode.is_null() {
            return;
        }
        // SAFETY: We hold a reference on the inode, so its mapping is valid.
        unsafe { bindings::unmap_mapping_range((**inode).i_mapping, 0, 0, 1) };
    }
}

#[pinned_drop]
impl PinnedDrop for SharedMapping {
    fn drop(self: Pin<&mut Self>) {
        let inode = *self.inode.lock();
        if !inode.is_null() {
            // SAFETY: By the type invariants we hold a reference on it.
            unsafe { bindings::iput(inode) };
        }
    }
}
