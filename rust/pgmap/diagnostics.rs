// SPDX-License-Identifier: GPL-2.0

//! What holds a [`Pgmap`]'s busy pages, and the text of the drain's log lines.

use super::{Pgmap, PgmapOps, PgmapState};
use core::fmt;

impl<T: PgmapOps> Pgmap<T> {
    /// Calls `f` with what holds each busy page (requested, its free not yet run), in offset
    /// order. A dead pgmap has none.
    pub fn for_each_busy(&self, mut f: impl FnMut(&BusyPage)) {
        // Held so that the memmap cannot be unmapped while we read it.
        let state = self.state.lock();
        if *state == PgmapState::Dead {
            return;
        }
        self.pages.for_each_busy(|index| {
            // SAFETY: `index < nr_folios`, and we hold the state lock with the pgmap not dead.
            let page = unsafe { self.pagemap.folio(index) };
            f(&BusyPage {
                index: index << self.folio_size().order(),
                ref_count: page.ref_count(),
                dma_pinned: page.maybe_dma_pinned(),
                map_count: page.map_count(),
            });
        });
    }

    /// Counts the busy pages by what holds them.
    pub fn busy_summary(&self) -> BusySummary {
        let mut summary = BusySummary::default();
        self.for_each_busy(|page| summary.add(page));
        summary
    }
}

/// What holds a busy page, read without locking the page: a snapshot, not a guarantee.
#[derive(Clone, Copy, Debug)]
pub struct BusyPage {
    /// Offset in the pgmap of the folio's first page.
    pub index: usize,
    /// Its reference count.
    pub ref_count: i32,
    /// Whether it may be pinned for DMA (`folio_maybe_dma_pinned()`).
    pub dma_pinned: bool,
    /// How many page tables map it.
    pub map_count: i32,
}

/// Busy pages counted by what holds them: a DMA pin first, else a mapping, else any other
/// reference (a pipe buffer, I/O in flight, a request).
#[derive(Clone, Copy, Debug, Default)]
pub struct BusySummary {
    /// All busy pages.
    pub total: usize,
    /// Those that may be pinned for DMA.
    pub pinned: usize,
    /// Those not pinned, but mapped.
    pub mapped: usize,
    /// The rest.
    pub other: usize,
    first: [usize; Self::FIRST],
}

impl BusySummary {
    /// How many offsets the summary names.
    const FIRST: usize = 8;

    /// Counts one more busy page.
    pub fn add(&mut self, page: &BusyPage) {
        if self.total < Self::FIRST {
            self.first[self.total] = page.index;
        }
        self.total += 1;
        if page.dma_pinned {
            self.pinned += 1;
        } else if page.map_count > 0 {
            self.mapped += 1;
        } else {
            self.other += 1;
        }
    }
}

impl fmt::Display for BusySummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} folios outstanding: {} pinned, {} mapped, {} other; first offsets",
            self.total, self.pinned, self.mapped, self.other
        )?;
        for index in &self.first[..self.total.min(Self::FIRST)] {
            write!(f, " {index}")?;
        }
        Ok(())
    }
}

/// Text formatted ahead of a log line: printk formats its arguments with interrupts disabled,
/// so what takes locks to describe itself writes here first. Truncated at its capacity.
pub struct LogText {
    buf: [u8; Self::CAPACITY],
    len: usize,
}

impl LogText {
    const CAPACITY: usize = 256;

    /// What `write` writes.
    pub fn of(write: &dyn Fn(&mut LogText)) -> Self {
        let mut text = Self {
            buf: [0; Self::CAPACITY],
            len: 0,
        };
        write(&mut text);
        text
    }
}

impl fmt::Write for LogText {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // Whole characters only, so that the text stays valid UTF-8.
        for c in s.chars() {
            let mut utf8 = [0; 4];
            let bytes = c.encode_utf8(&mut utf8).as_bytes();
            let Some(dst) = self.buf.get_mut(self.len..self.len + bytes.len()) else {
                return Err(fmt::Error);
            };
            dst.copy_from_slice(bytes);
            self.len += bytes.len();
        }
        Ok(())
    }
}

impl fmt::Display for LogText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Only `write_str` fills the buffer, with whole characters.
        f.write_str(core::str::from_utf8(&self.buf[..self.len]).unwrap_or("?"))
    }
}
