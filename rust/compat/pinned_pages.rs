// SPDX-License-Identifier: GPL-2.0

//! User pages pinned with `pin_user_pages_fast()` (`FOLL_PIN`), unpinned on drop, and a user
//! buffer pinned so that a result can be written to it after an action that cannot be undone.
//! Upstream Rust has no counterpart yet.
//!
//! C header: [`include/linux/mm.h`](srctree/include/linux/mm.h).

use crate::{compat::page::Page, ffi};
use kernel::{alloc::KVVec, bindings, page::PAGE_SIZE, prelude::*, types::AsBytes};

/// Checks `nr` pages from `addr` as gup takes them: a non-empty, page-aligned range that does
/// not wrap, of a page count that fits gup's `int`, which it returns; `EINVAL` otherwise.
fn gup_range(addr: usize, nr: usize) -> Result<i32> {
    let len = nr.checked_mul(PAGE_SIZE).ok_or(EINVAL)?;
    if nr == 0 || addr % PAGE_SIZE != 0 || addr.checked_add(len).is_none() {
        return Err(EINVAL);
    }
    i32::try_from(nr).map_err(|_| EINVAL)
}

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
    // kvmalloc-backed: a whole large region needs more pointers than kmalloc can give.
    pages: KVVec<*mut bindings::page>,
    // Whether the kernel wrote to the pages, so that unpinning must mark them dirty.
    written: bool,
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
        let nr_pages = gup_range(addr, nr)?;
        let mut pages = KVVec::with_capacity(nr, GFP_KERNEL)?;
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
        // INVARIANT: Exactly the pages that gup pinned for us.
        let this = Self {
            pages,
            written: false,
        };
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

    /// The pinned pages, in address order.
    pub fn pages(&self) -> impl Iterator<Item = &Page> {
        // SAFETY: By the type invariants each page is pinned, so valid, while `self` lives.
        self.pages
            .iter()
            .map(|&page| unsafe { Page::from_raw(page) })
    }
}

impl Drop for PinnedPages {
    fn drop(&mut self) {
        let (pages, nr) = (self.pages.as_mut_ptr(), self.pages.len() as _);
        if self.written {
            // SAFETY: By the type invariants each page was pinned once, by us.
            unsafe { bindings::unpin_user_pages_dirty_lock(pages, nr, true) };
        } else {
            // SAFETY: By the type invariants each page was pinned once, by us.
            unsafe { bindings::unpin_user_pages(pages, nr) };
        }
    }
}

/// Returns once every gup-fast walk, of any task, that began before the call is over: those
/// walks run with interrupts disabled, and this interrupts every other CPU and waits for each
/// to take the interrupt (`tlb_remove_table_sync_one()`'s way). Task context with interrupts
/// enabled; it spins until every CPU has answered.
pub fn wait_for_gup_fast_walks() {
    // SAFETY: Callers run in task context and hold no spinlock, as `smp_call_function()` with
    // `wait` needs.
    unsafe { ffi::rust_pgmap_wait_for_gup_fast() };
}

/// How many of `nr` pages of the current task from the page-aligned address `addr` the lockless
/// gup-fast walk takes on its own (`get_user_pages_fast_only()`): it stops at the first page it
/// cannot vouch for, where `get_user_pages_fast()` would go on in the slow path. The pages are
/// put back at once.
pub fn gup_fast_only_count(addr: usize, nr: usize) -> Result<usize> {
    let nr_pages = gup_range(addr, nr)?;
    let mut pages = KVVec::<*mut bindings::page>::with_capacity(nr, GFP_KERNEL)?;
    // SAFETY: `pages` has room for `nr` pointers, which gup fills from the start; it reports
    // how many.
    let taken =
        unsafe { bindings::get_user_pages_fast_only(addr as _, nr_pages, 0, pages.as_mut_ptr()) };
    if taken < 0 {
        return Err(Error::from_errno(taken));
    }
    let taken = taken as usize;
    // SAFETY: gup initialised the first `taken <= nr` entries.
    unsafe { pages.set_len(taken) };
    for &page in pages.iter() {
        // SAFETY: Each entry is a page that gup took a reference on for us (`FOLL_GET`).
        unsafe { ffi::rust_pgmap_put_page(page) };
    }
    Ok(taken)
}

/// The pages under a user buffer of the current task, pinned for writing.
///
/// A result written here reaches the pages that backed the buffer when it was pinned, even if
/// the task unmaps or write-protects the buffer meanwhile: so an operation can check its result
/// buffer first, act, and then report without a late `EFAULT`.
///
/// # Invariants
///
/// `pages` covers the bytes `[offset, offset + len)` counted from the start of its first page.
pub struct PinnedUserBuffer {
    pages: PinnedPages,
    offset: usize,
    len: usize,
}

impl PinnedUserBuffer {
    /// Pins the pages under `[addr, addr + len)` for writing; `EFAULT` if any of them cannot
    /// be written.
    pub fn pin_for_write(addr: usize, len: usize) -> Result<Self> {
        let end = addr.checked_add(len).ok_or(EFAULT)?;
        if len == 0 {
            return Err(EINVAL);
        }
        let first = addr & !(PAGE_SIZE - 1);
        let nr = (end - first).div_ceil(PAGE_SIZE);
        let flags = PinFlags {
            write: true,
            longterm: false,
        };
        let pages = PinnedPages::pin_current(first, nr, flags)?;
        // INVARIANT: `nr` pages from the page of `addr` cover `len` bytes from `addr`.
        Ok(Self {
            pages,
            offset: addr - first,
            len,
        })
    }

    /// The pinned pages.
    pub fn pages(&self) -> impl Iterator<Item = &Page> {
        self.pages.pages()
    }

    /// Writes `value` into the buffer, which must be exactly its size (else `EINVAL`), and
    /// unpins it.
    pub fn write<T: AsBytes>(mut self, value: &T) -> Result {
        if core::mem::size_of::<T>() != self.len {
            return Err(EINVAL);
        }
        // SAFETY: `T: AsBytes`, so all of its `len` bytes are initialised.
        let mut bytes =
            unsafe { core::slice::from_raw_parts((value as *const T).cast::<u8>(), self.len) };
        let mut offset = self.offset;
        for page in self.pages.pages() {
            let chunk = bytes.len().min(PAGE_SIZE - offset);
            // SAFETY: The page is pinned, and `offset + chunk <= PAGE_SIZE`.
            unsafe {
                ffi::rust_pgmap_memcpy_to_page(page.as_ptr(), offset, bytes.as_ptr().cast(), chunk)
            };
            bytes = &bytes[chunk..];
            offset = 0;
        }
        self.pages.written = true;
        Ok(())
    }
}
