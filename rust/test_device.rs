// SPDX-License-Identifier: GPL-2.0

//! `/dev/rust_pgmap`: maps the pgmap's pages to user space and lets tests request, pin, tear
//! down and re-attach them. The ABI is `include/uapi/linux/rust_pgmap.h`.

use crate::{
    compat::{
        dev_pagemap::FolioSize,
        hardirq,
        miscdevice::{File, MiscDevice, SysfsWriter},
        mm::{flags, FaultResult, VmFault, VmaNew},
        page::PAGES_WITH_OWN_STRUCT_PAGE,
        pinned_pages::{gup_fast_only_count, PinFlags, PinnedPages, PinnedUserBuffer},
        shared_mapping::SharedMapping,
    },
    device::PgmapDevice,
    ffi,
    hold::{Hold, Owner},
    pgmap::PgmapState,
};
use core::{fmt::Write, sync::atomic::Ordering};
use kernel::{
    c_str, new_mutex,
    prelude::*,
    rbtree::RBTree,
    sync::{Arc, Mutex},
    types::{AsBytes, ForeignOwnable},
    uaccess::UserSlice,
};

/// Logs why a request was refused, rate-limited so that fuzzing cannot flood the log.
macro_rules! refuse {
    ($err:expr, $($fmt:tt)*) => {{
        if ffi::log_ratelimit() {
            pr_info!($($fmt)*);
        }
        Err($err)
    }};
}

/// Pins and requests that an open file holds, by handle.
struct Holds {
    next_handle: u64,
    pins: RBTree<u64, PinnedPages>,
    requests: RBTree<u64, Arc<Hold>>,
}

impl Holds {
    fn new_handle(&mut self) -> u64 {
        self.next_handle += 1;
        self.next_handle
    }
}

/// One open file of the device.
#[pin_data(PinnedDrop)]
pub struct OpenFile {
    device: Arc<PgmapDevice>,
    #[pin]
    holds: Mutex<Holds>,
}

#[pinned_drop]
impl PinnedDrop for OpenFile {
    fn drop(self: Pin<&mut Self>) {
        let holds = self.holds.lock();
        let pinned: usize = holds.pins.values().map(PinnedPages::count).sum();
        let held: usize = holds.requests.values().map(|hold| hold.count()).sum();
        // The device's registry keeps its own reference: release explicitly.
        for hold in holds.requests.values() {
            let _ = hold.release();
        }
        self.device
            .pinned
            .fetch_sub(pinned as u64, Ordering::Relaxed);
        self.device.held.fetch_sub(held as u64, Ordering::Relaxed);
    }
}

impl OpenFile {
    fn pin(&self, arg: usize) -> Result<isize> {
        let (mut reader, mut writer) =
            UserSlice::new(arg, core::mem::size_of::<ffi::rust_pgmap_pin>()).reader_writer();
        let mut req: ffi::rust_pgmap_pin = reader.read()?;
        let known = ffi::RUST_PGMAP_PIN_WRITE | ffi::RUST_PGMAP_PIN_LONGTERM;
        if req.flags & !known != 0 || req.pad != 0 {
            return refuse!(EINVAL, "pin refused: unknown flags {:#x}\n", req.flags);
        }
        let nr_pages = self.device.pgmap().nr_pages() as u64;
        if req.npages > nr_pages {
            return refuse!(ERANGE, "pin refused: {} pages > region\n", req.npages);
        }
        let flags = PinFlags {
            write: req.flags & ffi::RUST_PGMAP_PIN_WRITE != 0,
            longterm: req.flags & ffi::RUST_PGMAP_PIN_LONGTERM != 0,
        };
        let pages = PinnedPages::pin_current(req.addr as usize, req.npages as usize, flags)?;
        let count = pages.count() as u64;
        let mut holds = self.holds.lock();
        req.handle = holds.new_handle();
        // Written before the pin is recorded: on EFAULT the pin is dropped, not leaked.
        writer.write(&req)?;
        holds
            .pins
            .try_create_and_insert(req.handle, pages, GFP_KERNEL)?;
        self.device.pinned.fetch_add(count, Ordering::Relaxed);
        Ok(0)
    }

    /// Reads a handle from user space and takes the hold that it names out of this file's
    /// `holds`; `ENOENT` if the file holds no such one.
    fn take_hold<H>(
        &self,
        arg: usize,
        take: impl FnOnce(&mut Holds, &u64) -> Option<H>,
    ) -> Result<H> {
        let handle: u64 = UserSlice::new(arg, core::mem::size_of::<u64>())
            .reader()
            .read()?;
        take(&mut self.holds.lock(), &handle).ok_or(ENOENT)
    }

    fn unpin(&self, arg: usize) -> Result<isize> {
        let pages = self.take_hold(arg, |holds, handle| holds.pins.remove(handle))?;
        self.device
            .pinned
            .fetch_sub(pages.count() as u64, Ordering::Relaxed);
        Ok(0)
    }

    fn request(&self, arg: usize) -> Result<isize> {
        let (mut reader, mut writer) =
            UserSlice::new(arg, core::mem::size_of::<ffi::rust_pgmap_request>()).reader_writer();
        let mut req: ffi::rust_pgmap_request = reader.read()?;
        let offset = usize::try_from(req.offset).map_err(|_| EINVAL)?;
        let npages = usize::try_from(req.npages).map_err(|_| EINVAL)?;
        let folio_size = self.device.folio_size();
        if (offset | npages) % folio_size.pages() != 0 {
            return refuse!(
                EINVAL,
                "request refused: offset {} and {} pages are not whole {} folios\n",
                offset,
                npages,
                folio_size.name()
            );
        }
        let (offset, nr) = (offset >> folio_size.order(), npages >> folio_size.order());
        // The same request as the exported API's, with no revoke: a teardown waits for user
        // space to RELEASE or close.
        let hold = self
            .device
            .request_folios(offset, nr, Owner::internal(c_str!("rust_pgmap")), None)?
            .arm();
        let mut holds = self.holds.lock();
        req.handle = holds.new_handle();
        if let Err(err) = writer.write(&req) {
            let _ = hold.release();
            return Err(err);
        }
        if let Err(err) = holds
            .requests
            .try_create_and_insert(req.handle, hold.clone(), GFP_KERNEL)
        {
            let _ = hold.release();
            return Err(err);
        }
        self.device.held.fetch_add(nr as u64, Ordering::Relaxed);
        Ok(0)
    }

    /// Releases a request; `in_hardirq` puts its pages from a hard interrupt, as a device's
    /// completion would.
    fn release(&self, arg: usize, in_hardirq: bool) -> Result<isize> {
        let hold = self.take_hold(arg, |holds, handle| holds.requests.remove(handle))?;
        self.device
            .held
            .fetch_sub(hold.count() as u64, Ordering::Relaxed);
        // Only the release runs in the interrupt: dropping our reference afterwards, here, is
        // what may free the hold.
        if in_hardirq {
            hardirq::call_in_hardirq(|| {
                let _ = hold.release();
            });
        } else {
            let _ = hold.release();
        }
        Ok(0)
    }
}

/// Runs `op`, a state change that cannot be undone, and writes its result to the user buffer at
/// `arg`: either both happen, or neither.
///
/// The buffer's pages are pinned before `op`, so that a bad or read-only buffer fails with
/// `EFAULT` first, and a buffer that the caller unmaps or write-protects during `op` still gets
/// the result. A buffer in a mapping of this device is refused: pinning its page would hold up
/// the drain that a TEARDOWN waits for, and the teardown zaps the mapping anyway.
fn write_result<T: AsBytes>(
    device: &PgmapDevice,
    arg: usize,
    op: impl FnOnce() -> Result<T>,
) -> Result<isize> {
    let buf = PinnedUserBuffer::pin_for_write(arg, core::mem::size_of::<T>())?;
    let pgmap = device.pgmap();
    if buf.pages().any(|page| pgmap.owns(page)) {
        return refuse!(
            EINVAL,
            "refused: the result buffer lies in a mapping of the device\n"
        );
    }
    drop(pgmap);
    let result = op()?;
    buf.write(&result)?;
    Ok(0)
}

/// Reports how many pages of a range the lockless gup-fast walk takes by itself, which shows
/// whether pins of the device's pages stay on the fast path.
fn gup_fast_probe(device: &PgmapDevice, arg: usize) -> Result<isize> {
    let (mut reader, mut writer) =
        UserSlice::new(arg, core::mem::size_of::<ffi::rust_pgmap_gup_probe>()).reader_writer();
    let mut probe: ffi::rust_pgmap_gup_probe = reader.read()?;
    // Bounded like a PIN, since the page pointers are allocated for the whole range.
    if probe.npages > device.pgmap().nr_pages() as u64 {
        return refuse!(
            ERANGE,
            "gup probe refused: {} pages > region\n",
            probe.npages
        );
    }
    probe.taken = gup_fast_only_count(probe.addr as usize, probe.npages as usize)? as u64;
    writer.write(&probe)?;
    Ok(0)
}

/// The misc device driver.
pub struct TestDevice;

#[vtable]
impl MiscDevice for TestDevice {
    type RegistrationData = Arc<PgmapDevice>;
    type Ptr = Pin<KBox<OpenFile>>;

    fn open(device: &Arc<PgmapDevice>, _file: &File) -> Result<Pin<KBox<OpenFile>>> {
        KBox::try_pin_init(
            try_pin_init!(OpenFile {
                device: device.clone(),
                holds <- new_mutex!(Holds {
                    next_handle: 0,
                    pins: RBTree::new(),
                    requests: RBTree::new(),
                }),
            }),
            GFP_KERNEL,
        )
    }

    fn shared_mapping<'a>(
        file: <Self::Ptr as ForeignOwnable>::Borrowed<'a>,
    ) -> Option<&'a SharedMapping> {
        Some(file.get_ref().device.mapping())
    }

    fn ioctl(file: Pin<&OpenFile>, cmd: u32, arg: usize) -> Result<isize> {
        let device = &file.device;
        match cmd {
            ffi::RUST_PGMAP_CONST_IOC_STATUS => {
                UserSlice::new(arg, core::mem::size_of::<ffi::rust_pgmap_status>())
                    .writer()
                    .write(&device.status())?;
                Ok(0)
            }
            ffi::RUST_PGMAP_CONST_IOC_PIN => file.pin(arg),
            ffi::RUST_PGMAP_CONST_IOC_UNPIN => file.unpin(arg),
            ffi::RUST_PGMAP_CONST_IOC_REQUEST => file.request(arg),
            ffi::RUST_PGMAP_CONST_IOC_RELEASE => file.release(arg, false),
            ffi::RUST_PGMAP_CONST_IOC_RELEASE_HARDIRQ => file.release(arg, true),
            ffi::RUST_PGMAP_CONST_IOC_GUP_FAST_PROBE => gup_fast_probe(device, arg),
            // Refusals come before the result buffer is checked: they change nothing.
            ffi::RUST_PGMAP_CONST_IOC_TEARDOWN => {
                if device.state() == PgmapState::Dead {
                    return Err(ENXIO);
                }
                write_result(device, arg, || device.teardown())
            }
            ffi::RUST_PGMAP_CONST_IOC_ATTACH => {
                if device.state() != PgmapState::Dead {
                    return refuse!(EBUSY, "attach refused: the pgmap is not torn down\n");
                }
                write_result(device, arg, || {
                    device.attach()?;
                    Ok(device.status())
                })
            }
            _ => Err(ENOTTY),
        }
    }

    fn mmap(file: Pin<&OpenFile>, vma: &VmaNew) -> Result {
        // Not `SHARED`: the kernel clears it for a shared mapping of a read-only file.
        if vma.flags() & flags::MAYSHARE == 0 {
            return refuse!(
                EINVAL,
                "mmap refused: MAP_PRIVATE (pmem pages are shared)\n"
            );
        }
        if vma.try_clear_mayexec().is_err() {
            return refuse!(EPERM, "mmap refused: PROT_EXEC\n");
        }
        let nr_pages = file.device.pgmap().nr_pages();
        if vma.pgoff() >= nr_pages {
            return refuse!(
                EINVAL,
                "mmap refused: offset page {} beyond the region\n",
                vma.pgoff()
            );
        }
        let folio_size = file.device.folio_size();
        if folio_size == FolioSize::Base {
            vma.set_mixedmap();
        } else if vma.pgoff() % folio_size.pages() != 0 {
            return refuse!(
                EINVAL,
                "mmap refused: offset page {} is not on a {} folio\n",
                vma.pgoff(),
                folio_size.name()
            );
        }
        vma.set_dontexpand();
        vma.set_dontdump();
        Ok(())
    }

    fn fault(file: Pin<&OpenFile>, vmf: &VmFault) -> FaultResult {
        let pgmap = file.device.pgmap();
        let order = pgmap.folio_size().order();
        let subpage = vmf.pgoff() & ((1 << order) - 1);
        // Under the VMA lock alone, `prctl(PR_SET_THP_DISABLE)` can come between `maps_pmd()`
        // and the core's mapping, which then maps the faulting page by one PTE: harmless for a
        // page with a struct page of its own. A first touch is nearly always at a folio's start;
        // the rest fault again under the mmap lock, which that prctl takes for writing.
        if order != 0 && !vmf.holds_mmap_lock() && subpage >= PAGES_WITH_OWN_STRUCT_PAGE {
            return FaultResult::RetryUnderMmapLock;
        }
        // A large folio that the core would map by PTE: the vmemmap optimisation shares the
        // struct pages of its tails, whose per-page map counts would then alias. Refused, as
        // device-dax 2M refuses a misaligned fault.
        if order != 0 && !vmf.maps_pmd() {
            return FaultResult::SigBus;
        }
        // Held across the insertion: a kill either waits for us, or we see it and fail.
        let Ok(live) = pgmap.access() else {
            return FaultResult::SigBus;
        };
        let folio = match live.get_or_request_folio(vmf.pgoff() >> order) {
            Ok(folio) => folio,
            // Its free is still in flight: let the access fault again.
            Err(EAGAIN) => return FaultResult::NoPage,
            // Beyond the region, like a file mapped past its end.
            Err(_) => return FaultResult::SigBus,
        };
        if order != 0 {
            // The core maps the folio after we return, without the state lock: the teardown
            // waits for the folio's lock, which the core drops once it has mapped it.
            return folio.into_fault_page(live, vmf, subpage);
        }
        // `mmap` set `VM_MIXEDMAP`, and nothing can clear it.
        let Some(vma) = vmf.vma().as_mixedmap_vma() else {
            return FaultResult::SigBus;
        };
        match vma.vm_insert_page(vmf.address(), folio.page(0)) {
            // EBUSY: another thread mapped it first.
            Ok(()) | Err(EBUSY) => FaultResult::NoPage,
            Err(ENOMEM) => FaultResult::Oom,
            Err(_) => FaultResult::SigBus,
        }
    }

    fn show_status(device: &Arc<PgmapDevice>, out: &mut SysfsWriter<'_>) -> core::fmt::Result {
        let s = device.status();
        let state = match s.state {
            ffi::RUST_PGMAP_STATE_LIVE => "live",
            ffi::RUST_PGMAP_STATE_DYING => "dying",
            _ => "dead",
        };
        writeln!(out, "state {state}")?;
        writeln!(out, "refmode {}", device.mode().name())?;
        writeln!(out, "folio_size {}", device.folio_size().name())?;
        writeln!(out, "generation {}", s.generation)?;
        writeln!(out, "nr_pages {}", s.nr_pages)?;
        writeln!(out, "requested {}", s.requested)?;
        writeln!(out, "freed {}", s.freed)?;
        writeln!(out, "outstanding {}", s.outstanding)?;
        writeln!(out, "pinned {}", s.pinned)?;
        writeln!(out, "held {}", s.held)?;
        writeln!(out, "freed_in_irq {}", s.freed_in_irq)?;
        writeln!(out, "freed_live {}", s.freed_live)
    }
}
