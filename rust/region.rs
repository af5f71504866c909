// SPDX-License-Identifier: GPL-2.0

//! The emulated pmem region that `memmap=<size>!<start>` creates, claimed for this driver.
//!
//! C header: [`include/linux/ioport.h`](srctree/include/linux/ioport.h).

use crate::ffi;
use kernel::{bindings, prelude::*, str::CStr};

/// A physical range.
#[derive(Clone, Copy, Debug, Default)]
pub struct PhysRange {
    /// First byte.
    pub start: u64,
    /// Length in bytes.
    pub size: u64,
}

/// The first "Persistent Memory (legacy)" iomem resource, claimed with `request_mem_region()`.
///
/// # Invariants
///
/// `range` is busy in `iomem_resource` in our name until drop.
pub struct LegacyPmemRegion {
    range: PhysRange,
}

impl LegacyPmemRegion {
    /// Finds the region and claims it. `ENODEV` if the kernel has none (booted without
    /// `memmap=<size>!<start>`), `EBUSY` if somebody else claimed it.
    pub fn claim(name: &'static CStr) -> Result<Self> {
        let range = Self::find().ok_or(ENODEV)?;
        // SAFETY: `iomem_resource` is the static root of the iomem tree, and `name` is static.
        let res = unsafe {
            bindings::__request_region(
                core::ptr::addr_of_mut!(bindings::iomem_resource),
                range.start,
                range.size,
                name.as_char_ptr(),
                0,
            )
        };
        if res.is_null() {
            return Err(EBUSY);
        }
        Ok(Self { range })
    }

    /// The claimed range.
    pub fn range(&self) -> PhysRange {
        self.range
    }

    fn find() -> Option<PhysRange> {
        let mut found = PhysRange::default();
        // SAFETY: The callback only writes through `arg`, which points to `found`.
        unsafe {
            bindings::walk_iomem_res_desc(
                bindings::IORES_DESC_PERSISTENT_MEMORY_LEGACY as _,
                bindings::IORESOURCE_MEM as _,
                0,
                u64::MAX,
                core::ptr::addr_of_mut!(found).cast(),
                Some(Self::found_one),
            )
        };
        (found.size != 0).then_some(found)
    }

    /// Records the first region and stops the walk.
    ///
    /// # Safety
    ///
    /// Called by `walk_iomem_res_desc()` with a valid resource and `arg` pointing to a
    /// [`PhysRange`].
    unsafe extern "C" fn found_one(
        res: *mut bindings::resource,
        arg: *mut ffi::c_void,
    ) -> ffi::c_int {
        // SAFETY: The walk passes a valid resource and our `arg`, a `PhysRange`.
        unsafe {
            let res = &*res;
            arg.cast::<PhysRange>().write(PhysRange {
                start: res.start,
                size: res.end - res.start + 1,
            });
        }
        1
    }
}

impl Drop for LegacyPmemRegion {
    fn drop(&mut self) {
        // SAFETY: By the type invariants we hold this range of `iomem_resource`.
        unsafe {
            bindings::__release_region(
                core::ptr::addr_of_mut!(bindings::iomem_resource),
                self.range.start,
                self.range.size,
            )
        };
    }
}
