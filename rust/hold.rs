// SPDX-License-Identifier: GPL-2.0

//! Holds: folios requested from the device's pgmap on behalf of a holder, which a teardown asks
//! to give them back before it waits for them.
//!
//! A hold is released exactly once, from any context ([`Hold::release`]); a teardown revokes it
//! at most once, in task context ([`Hold::revoke`]).

use crate::{
    compat::take_once::TakeOnce,
    delay_points::{delay_point, DelayPoint},
    ffi,
    pgmap::Folios,
};
use core::{
    fmt,
    sync::atomic::{AtomicBool, Ordering},
};
use kernel::{bindings, prelude::*, str::CStr};

/// What a teardown asks of a holder.
pub trait Revoke: Send + Sync {
    /// Stop using the folios and release `hold` soon, from here or from any context later.
    /// Called once, in task context, when a teardown starts; may sleep.
    fn revoke(&self, hold: &Hold);
}

/// The name of the module that owns a hold, as the logs and debugfs show it.
#[derive(Clone, Copy)]
pub struct OwnerName {
    bytes: [u8; Self::MAX],
    len: usize,
}

impl OwnerName {
    /// `MODULE_NAME_LEN` less the terminating NUL.
    const MAX: usize = ffi::RUST_PGMAP_CONST_MODULE_NAME_LEN as usize - 1;

    /// The first `MAX` bytes of `name`.
    pub fn new(name: &CStr) -> Self {
        let name = name.as_bytes();
        let len = name.len().min(Self::MAX);
        let mut bytes = [0; Self::MAX];
        bytes[..len].copy_from_slice(&name[..len]);
        Self { bytes, len }
    }
}

impl fmt::Display for OwnerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Module names are ASCII; anything else would be printed as '?'.
        for &b in &self.bytes[..self.len] {
            let c = if b.is_ascii_graphic() { b as char } else { '?' };
            fmt::Write::write_char(f, c)?;
        }
        Ok(())
    }
}

/// Consecutive folios of the device's pgmap, held for a holder.
pub struct Hold {
    folios: TakeOnce<Folios>,
    first_page: *mut bindings::page,
    offset: usize,
    nr: usize,
    owner: OwnerName,
    revoker: Option<KBox<dyn Revoke>>,
    revoked: AtomicBool,
}

// SAFETY: `first_page` is only handed out, never dereferenced here; the rest is `Send`.
unsafe impl Send for Hold {}
// SAFETY: As above; shared access goes through atomics and `TakeOnce`.
unsafe impl Sync for Hold {}

impl Hold {
    /// A hold on `folios`, the `nr` folios from `offset`.
    pub fn new(
        folios: Folios,
        offset: usize,
        owner: OwnerName,
        revoker: Option<KBox<dyn Revoke>>,
    ) -> Result<Self> {
        let nr = folios.count();
        let first_page = folios.page(0).as_ptr();
        Ok(Self {
            folios: TakeOnce::new(KBox::new(folios, GFP_KERNEL)?),
            first_page,
            offset,
            nr,
            owner,
            revoker,
            revoked: AtomicBool::new(false),
        })
    }

    /// Puts the folios, unless that happened already; returns whether this call did. Any
    /// context.
    pub fn release(&self) -> bool {
        self.folios.take().is_some()
    }

    /// Whether the folios were put.
    pub fn is_released(&self) -> bool {
        self.folios.is_taken()
    }

    /// Asks the holder to release, once, unless it did already. Task context.
    pub fn revoke(&self) {
        if self.is_released() || self.revoked.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Some(revoker) = &self.revoker {
            delay_point(DelayPoint::RevokeCall);
            revoker.revoke(self);
        }
    }

    /// Whether a teardown asked for the folios back.
    pub fn is_revoked(&self) -> bool {
        self.revoked.load(Ordering::Acquire)
    }

    /// The first folio's struct page, for the C API; the rest follow it in the memmap.
    pub fn first_page(&self) -> *mut bindings::page {
        self.first_page
    }

    /// The offset of the first folio in the region, in pages.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// How many folios the hold has.
    pub fn count(&self) -> usize {
        self.nr
    }

    /// The module that requested the hold.
    pub fn owner(&self) -> &OwnerName {
        &self.owner
    }
}
