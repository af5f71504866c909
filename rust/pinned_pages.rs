// SPDX-License-Identifier: GPL-2.0

//! User pages pinned with `pin_user_pages_fast()` (`FOLL_PIN`), unpinned on drop.
//!
//! C header: [`include/linux/mm.h`](srctree/include/linux/mm.h).

use kernel::{alloc::KVec, bindings, prelude::*};

/// How to pin.
#[derive(Clone, Copy, Debug, Default)]
pub struct PinFlags {
    /// The pages will be written (`FOLL_WRITE`).
    pub write: bool,
    /// The pin may last indefinitely (`FOLL_LONGTERM`), as for DMA.
    pub longterm: bool,
}

impl PinFlags {
    fn gup_flags(self) -> u32 {
        let mut flags = 0;
        if self.write {
            flags |= bindings::FOLL_WRITE;
        }
        if self.longterm {
            flags |= bindings::FOLL_LONGTERM;
        }
        flags
    }
}

/// Pages of the current task's address space, pinned.
///
/// # Invariants
///
/// Every entry of `pages` is a page that this object pinned once with `FOLL_PIN`.
pub struct PinnedPages {
    pages: KVec<*mut bindings::page>,
}

// SAFETY: A pin may be released from any task.
unsafe impl Send for PinnedPages {}
// SAFETY: `&PinnedPages` only reads the page count.
unsafe impl Sync for PinnedPages {}

impl PinnedPages {
    /// Pins `nr` pages of the current task from the page-aligned address `addr`: all of them, or
    /// none and an error.
    ///
    /// `EINVAL` for a zero, unaligned or wrapping range; the errors of gup otherwise, with a
    /// partial pin reported as `EFAULT`.
    pub fn pin_current(addr: usize, nr: usize, flags: PinFlags) -> Result<Self> {
        let page_size = bindings::PAGE_SIZE;
        let len = nr.checked_mul(page_size).ok_or(EINVAL)?;
        if nr == 0 || addr % page_size != 0 || addr.checked_add(len).is_none() {
            return Err(EINVAL);
        }
        let nr_pages = i32::try_from(nr).map_err(|_| EINVAL)?;
        let mut pages = KVec::with_capacity(nr, GFP_KERNEL)?;
        // SAFETY: `pages` has room for `nr` pointers, which `pin_user_pages_fast()` fills from
        // the start; it reports how many.
        let pinned = unsafe {
            bindings::pin_user_pages_fast(
                addr as _,
                nr_pages,
                flags.gup_flags(),
                pages.as_mut_ptr(),
            )
        };
        if pinned < 0 {
            return Err(Error::from_errno(pinned));
        }
        // SAFETY: gup initialised the first `pinned <= nr` entries, each one pinned page.
        unsafe { pages.set_len(pinned as usize) };
        let this = Self { pages };
        if this.pages.len() != nr {
            // Dropping `this` unpins the part that was pinned.
            return Err(EFAULT);
        }
        Ok(this)
    }

    /// Number of pinned pages.
    pub fn count(&self) -> usize {
        self.pages.len()
    }
}

impl Drop for PinnedPages {
    fn drop(&mut self) {
        // SAFETY: By the type invariants each page was pinned once, by us.
        unsafe { bindings::unpin_user_pages(self.pages.as_mut_ptr(), self.pages.len() as _) };
    }
}
