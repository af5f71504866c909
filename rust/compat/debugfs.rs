// SPDX-License-Identifier: GPL-2.0

//! A debugfs directory, and files in it whose text their owner writes, as a `seq_file`, and
//! which may take a short command.
//!
//! 6.12's crate has no debugfs. Upstream's later `kernel::debugfs` (6.18) has a different shape
//! (`Dir`, `File` over typed data); this stand-in is just what the driver needs.
//!
//! C header: [`include/linux/debugfs.h`](srctree/include/linux/debugfs.h).

use crate::ffi;
use core::{fmt, marker::PhantomData};
use kernel::{bindings, init::PinInit, prelude::*, str::CStr, sync::Arc, types::Opaque};

/// Writes the text of a debugfs file, and takes what is written to it.
pub trait DebugfsShow: Send + Sync {
    /// Whether the file takes commands ([`DebugfsShow::store`]); it is then mode 0600, else
    /// 0400.
    const WRITABLE: bool = false;

    /// Writes the whole text. Called for each read from the start of the file; may sleep.
    fn show(&self, out: &mut SeqWriter<'_>) -> fmt::Result;

    /// Takes one write of at most 63 bytes, in task context; may sleep.
    fn store(&self, _input: &[u8]) -> Result {
        Err(EPERM)
    }
}

/// The two words of a command such as `"16 1000\n"`; `EINVAL` for anything else.
pub fn two_words(input: &[u8]) -> Result<(&str, &str)> {
    let text = core::str::from_utf8(input).map_err(|_| EINVAL)?;
    let mut words = text.split_whitespace();
    match (words.next(), words.next(), words.next()) {
        (Some(first), Some(second), None) => Ok((first, second)),
        _ => Err(EINVAL),
    }
}

/// The text of a `seq_file` being shown.
///
/// # Invariants
///
/// `seq` is the `seq_file` of a `show` callback that runs while the writer lives.
pub struct SeqWriter<'a> {
    seq: *mut bindings::seq_file,
    _show: PhantomData<&'a mut bindings::seq_file>,
}

impl fmt::Write for SeqWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // SAFETY: By the type invariants `seq` is valid; `s` is valid for `s.len()` bytes.
        let ret = unsafe { ffi::rust_pgmap_seq_write(self.seq, s.as_ptr().cast(), s.len()) };
        // On overflow the seq_file core calls `show` again with a larger buffer: stop early.
        if ret != 0 {
            return Err(fmt::Error);
        }
        Ok(())
    }
}

/// `/sys/kernel/debug/<name>`, removed with everything in it on drop.
///
/// # Invariants
///
/// `dentry` came from `debugfs_create_dir()` (an error pointer if that failed) and is removed
/// only by the drop.
pub struct DebugfsDir {
    dentry: *mut bindings::dentry,
}

// SAFETY: A dentry may be used and removed from any task.
unsafe impl Send for DebugfsDir {}
// SAFETY: `&DebugfsDir` only hands the dentry to `debugfs_create_file()`, which locks.
unsafe impl Sync for DebugfsDir {}

impl DebugfsDir {
    /// Creates the directory. debugfs failures are not errors: files created in a directory
    /// that could not be created are then missing, as debugfs users expect.
    pub fn new(name: &'static CStr) -> Self {
        // SAFETY: `name` is a NUL-terminated static string.
        let dentry = unsafe { ffi::rust_pgmap_debugfs_create_dir(name.as_char_ptr()) };
        // INVARIANT: Created here; only the drop removes it.
        Self { dentry }
    }
}

impl Drop for DebugfsDir {
    fn drop(&mut self) {
        // SAFETY: By the type invariants `dentry` is ours to remove; its files were removed
        // before, as each `DebugfsFile` holds the directory.
        unsafe { ffi::rust_pgmap_debugfs_remove(self.dentry) };
    }
}

/// `/sys/kernel/debug/<dir>/<file>`, removed on drop.
///
/// # Invariants
///
/// `inner` was passed to `rust_pgmap_debugfs_create_file()` with its `data` pointing to `self`.
#[pin_data(PinnedDrop)]
pub struct DebugfsFile<T: DebugfsShow> {
    data: T,
    // Last: once created, a read can reach `data`.
    #[pin]
    inner: Opaque<ffi::rust_pgmap_debugfs>,
    // Removing the directory removes its files: it goes after the last of them.
    _dir: Arc<DebugfsDir>,
}

// SAFETY: The C part is only touched at creation and removal, which may happen in different
// tasks; reads reach `data` as `&T`, and `T: Send + Sync`.
unsafe impl<T: DebugfsShow> Send for DebugfsFile<T> {}
// SAFETY: `&self` gives nothing but `&T` to concurrent reads, and `T: Sync`.
unsafe impl<T: DebugfsShow> Sync for DebugfsFile<T> {}

impl<T: DebugfsShow> DebugfsFile<T> {
    /// Creates the file in `dir`. As for the directory, a failure leaves the file missing.
    pub fn new(dir: &Arc<DebugfsDir>, file: &'static CStr, data: T) -> impl PinInit<Self, Error> {
        let parent = dir.dentry;
        let dir = dir.clone();
        try_pin_init!(&this in Self {
            data,
            inner <- Opaque::ffi_init(move |inner: *mut ffi::rust_pgmap_debugfs| {
                // SAFETY: `inner` is valid for writes and all-zero is a valid value of it.
                unsafe { inner.write(core::mem::zeroed()) };
                // SAFETY: Just initialised; nobody else knows of it yet.
                let d = unsafe { &mut *inner };
                d.show = Some(Self::show_callback);
                if T::WRITABLE {
                    d.store = Some(Self::store_callback);
                }
                d.data = this.as_ptr().cast();
                // SAFETY: `inner` is set up and pinned; `parent` lives as long as `self` holds
                // the directory; `file` is a static string.
                // INVARIANT: `data` points to `self`, whose `data` field is initialised.
                unsafe { ffi::rust_pgmap_debugfs_create_file(inner, parent, file.as_char_ptr()) };
            }),
            _dir: dir,
        })
    }

    /// # Safety
    ///
    /// Called by the `seq_file` core with the `data` that `new` gave the C side.
    unsafe extern "C" fn show_callback(
        seq: *mut bindings::seq_file,
        data: *mut ffi::c_void,
    ) -> ffi::c_int {
        // SAFETY: `data` is the `Self` that created the file, and `drop` removes the file,
        // waiting for running reads, before `Self` goes away.
        let this = unsafe { &*data.cast::<Self>() };
        // INVARIANT: `seq` belongs to this running `show`.
        let mut out = SeqWriter {
            seq,
            _show: PhantomData,
        };
        // An error is an overflow that the seq_file core handles itself.
        let _ = this.data.show(&mut out);
        0
    }
}

impl<T: DebugfsShow> DebugfsFile<T> {
    /// # Safety
    ///
    /// Called by the C side's write handler with the `data` that `new` gave it and `len` bytes
    /// at `input`.
    unsafe extern "C" fn store_callback(
        data: *mut ffi::c_void,
        input: *const ffi::c_char,
        len: usize,
    ) -> ffi::c_int {
        // SAFETY: As in `show_callback`: removal waits for running writes.
        let this = unsafe { &*data.cast::<Self>() };
        // SAFETY: The caller passes `len` valid bytes.
        let input = unsafe { core::slice::from_raw_parts(input.cast::<u8>(), len) };
        match this.data.store(input) {
            Ok(()) => 0,
            Err(err) => err.to_errno(),
        }
    }
}

#[pinned_drop]
impl<T: DebugfsShow> PinnedDrop for DebugfsFile<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: By the type invariants `inner` was created, with its dentry; removal waits
        // for readers and writers.
        unsafe { ffi::rust_pgmap_debugfs_remove((*self.inner.get()).file) };
    }
}
