// SPDX-License-Identifier: GPL-2.0

//! The emulated pmem region that `memmap=<size>!<start>` creates, claimed for this driver.
//!
//! Upstream Rust has `kernel::io::resource` (6.17) for requesting regions, but no walk of
//! resources by descriptor, which finding a legacy pmem region needs.
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

/// A "Persistent Memory (legacy)" iomem resource, claimed with `request_mem_region()`.
///
/// # Invariants
///
/// `range` is not empty, and is busy in `iomem_resource` in our name until drop: so this object
/// proves that nobody else uses the memory, which is what `memremap_pages()` needs.
pub struct LegacyPmemRegion {
    range: PhysRange,
}

impl LegacyPmemRegion {
    /// Finds the `index`th region in address order and claims it. `ENODEV` if the kernel has
    /// no such region (booted without as many `memmap=<size>!<start>`), `EBUSY` if somebody
    /// else claimed it.
    pub fn claim(name: &'static CStr, index: u32) -> Result<Self> {
        let range = Self::find(index).ok_or(ENODEV)?;
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
        // INVARIANT: `find` returns only regions with a size, and `__request_region()` made the
        // range busy in our name.
        Ok(Self { range })
    }

    /// The claimed range.
    pub fn range(&self) -> PhysRange {
        self.range
    }

    fn find(index: u32) -> Option<PhysRange> {
        let mut walk = FindWalk {
            skip: index,
            found: PhysRange::default(),
        };
        // SAFETY: The callback only uses `arg` as the `FindWalk` that it points to.
        unsafe {
            bindings::walk_iomem_res_desc(
                bindings::IORES_DESC_PERSISTENT_MEMORY_LEGACY as _,
                bindings::IORESOURCE_MEM as _,
                0,
                u64::MAX,
                core::ptr::addr_of_mut!(walk).cast(),
                Some(Self::found_one),
            )
        };
        (walk.found.size != 0).then_some(walk.found)
    }

    /// Skips regions until the wanted one, records it and stops the walk.
    ///
    /// # Safety
    ///
    /// Called by `walk_iomem_res_desc()` with a valid resource and `arg` pointing to a
    /// `FindWalk`.
    unsafe extern "C" fn found_one(
        res: *mut bindings::resource,
        arg: *mut ffi::c_void,
    ) -> ffi::c_int {
        // SAFETY: The walk passes our `arg`, a `FindWalk` that nothing else uses meanwhile.
        let walk = unsafe { &mut *arg.cast::<FindWalk>() };
        if walk.skip > 0 {
            walk.skip -= 1;
            return 0;
        }
        // SAFETY: The walk passes a valid resource.
        let res = unsafe { &*res };
        walk.found = PhysRange {
            start: res.start,
            size: res.end - res.start + 1,
        };
        1
    }
}

/// The state of [`LegacyPmemRegion::find`]'s walk.
struct FindWalk {
    /// Regions still to pass over.
    skip: u32,
    found: PhysRange,
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
