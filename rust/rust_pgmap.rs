// SPDX-License-Identifier: GPL-2.0

//! rust_pgmap: a ZONE_DEVICE pgmap over emulated pmem in which a page with refcount > 0 proves
//! its pgmap alive, and a test device that maps and pins its pages.
//!
//! The pgmap lifecycle and its reference rules are in [`pgmap`]; the device, its holds and their
//! revocation in [`device`] and [`hold`]; the API for other kernel modules in [`api`]; the test
//! device in [`test_device`]; the abstractions that 6.12's `kernel` crate lacks in [`compat`].

pub mod api;
pub mod bench;
pub mod compat;
pub mod delay_points;
pub mod device;
mod ffi;
pub mod hold;
pub mod pgmap;
pub mod test_device;

use api::LeftHolds;
use bench::RequestBench;
use compat::{
    debugfs::{DebugfsDir, DebugfsFile},
    dev_pagemap::FolioSize,
    miscdevice::MiscDeviceRegistration,
    module::ModuleNotifier,
    region::LegacyPmemRegion,
};
use delay_points::DelayPoints;
use device::{OutstandingPages, PgmapDevice};
use kernel::{c_str, prelude::*, sync::Arc};
use pgmap::RefMode;
use test_device::TestDevice;

module! {
    type: RustPgmap,
    name: "rust_pgmap",
    author: "rust_pgmap developers",
    description: "ZONE_DEVICE pgmap lifecycle over emulated pmem, with a test device",
    license: "GPL",
}

// Fields drop in order: the debugfs files (each holds its directory), the misc device, then the
// notifier, with the last reference on the device.
struct RustPgmap {
    _bench: Pin<KBox<DebugfsFile<RequestBench>>>,
    _outstanding: Pin<KBox<DebugfsFile<OutstandingPages>>>,
    _delay: Pin<KBox<DebugfsFile<DelayPoints>>>,
    _misc: Pin<KBox<MiscDeviceRegistration<TestDevice>>>,
    _left_holds: Pin<KBox<ModuleNotifier<LeftHolds>>>,
}

impl kernel::Module for RustPgmap {
    fn init(module: &'static ThisModule) -> Result<Self> {
        let Some(mode) = RefMode::parse(ffi::refmode_param()) else {
            pr_err!(
                "refmode={:?}: not a mode; use folio or scan\n",
                ffi::refmode_param()
            );
            return Err(EINVAL);
        };
        let Some(folio_size) = FolioSize::parse(ffi::folio_size_param()) else {
            pr_err!(
                "folio_size={:?}: not a folio size; use 4K or 2M\n",
                ffi::folio_size_param()
            );
            return Err(EINVAL);
        };
        if !folio_size.mappable() {
            pr_err!(
                "folio_size={}: this kernel has no PMD mappings (no CONFIG_TRANSPARENT_HUGEPAGE)\n",
                folio_size.name()
            );
            return Err(EINVAL);
        }
        let index = ffi::region_param();
        let region = LegacyPmemRegion::claim(c_str!("rust_pgmap"), index).inspect_err(|err| {
            if *err == ENODEV {
                pr_err!(
                    "no \"Persistent Memory (legacy)\" region {}: boot with memmap=<size>!<start>\n",
                    index
                );
            } else {
                pr_err!("cannot claim pmem region {}: {:?}\n", index, err);
            }
        })?;
        let range = region.range();
        if !folio_size.divides(&range) {
            pr_err!(
                "folio_size={}: pmem region {} at {:#x}, {:#x} bytes, is not aligned to it\n",
                folio_size.name(),
                index,
                range.start,
                range.size
            );
            return Err(EINVAL);
        }
        let device = Arc::pin_init(PgmapDevice::new(region, mode, folio_size)?, GFP_KERNEL)?;
        let nr_pages = device.region().range().size as usize / kernel::page::PAGE_SIZE;
        let dir = Arc::new(DebugfsDir::new(c_str!("rust_pgmap")), GFP_KERNEL)?;
        let outstanding = KBox::pin_init(
            DebugfsFile::new(
                &dir,
                c_str!("outstanding"),
                OutstandingPages(device.clone()),
            ),
            GFP_KERNEL,
        )?;
        let delay = KBox::pin_init(
            DebugfsFile::new(&dir, c_str!("delay"), DelayPoints),
            GFP_KERNEL,
        )?;
        let bench_dir = Arc::new(DebugfsDir::new(c_str!("rust_pgmap_bench")), GFP_KERNEL)?;
        let bench = KBox::pin_init(
            DebugfsFile::new(
                &bench_dir,
                c_str!("request_release"),
                RequestBench::new(device.clone()),
            ),
            GFP_KERNEL,
        )?;
        let misc = KBox::pin_init(
            MiscDeviceRegistration::register(c_str!("rust_pgmap"), 0o600, module, device.clone()),
            GFP_KERNEL,
        )?;
        let left_holds =
            KBox::pin_init(ModuleNotifier::new(LeftHolds(device.clone())), GFP_KERNEL)?;
        api::publish(device);
        pr_info!(
            "registered /dev/rust_pgmap: pmem {:#x}-{:#x}, {} pages, refmode {}, folio_size {}\n",
            range.start,
            range.start + range.size - 1,
            nr_pages,
            mode.name(),
            folio_size.name()
        );
        Ok(Self {
            _bench: bench,
            _outstanding: outstanding,
            _delay: delay,
            _misc: misc,
            _left_holds: left_holds,
        })
    }
}

impl Drop for RustPgmap {
    fn drop(&mut self) {
        // The kill and unmap lines that follow say what happens; this only marks who asked.
        pr_debug!("unloading\n");
        // No module that uses the API is loaded any more. Fields drop after this: the debugfs
        // files go, the misc device deregisters, then the notifier with the last device
        // reference: the pgmap drains and unmaps, then the region is released.
        api::unpublish();
    }
}
