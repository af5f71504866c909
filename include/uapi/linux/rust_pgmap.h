/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * rust_pgmap: the ioctl ABI of /dev/rust_pgmap, a test device whose pages
 * come from a ZONE_DEVICE pgmap over emulated pmem.
 *
 * mmap(MAP_SHARED) at file offset N * PAGE_SIZE maps region page N. Every
 * command takes one struct and uses the magic below, which no other driver
 * in ioctl-number.rst claims.
 */
#ifndef _UAPI_LINUX_RUST_PGMAP_H
#define _UAPI_LINUX_RUST_PGMAP_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define RUST_PGMAP_IOC_MAGIC 0xD7

/* enum rust_pgmap_state: where the pgmap is in its lifecycle. */
#define RUST_PGMAP_STATE_LIVE  0 /* requests, faults and gup succeed */
#define RUST_PGMAP_STATE_DYING 1 /* killed: new users fail, old ones drain */
#define RUST_PGMAP_STATE_DEAD  2 /* drained and memunmap_pages() done */

struct rust_pgmap_status {
	__u32 state;       /* RUST_PGMAP_STATE_* */
	__u32 generation;  /* pgmaps created so far; ATTACH adds one */
	__u64 nr_pages;    /* pages in the region */
	__u64 requested;   /* folios handed out (refmode=folio: each with a pgmap reference) */
	__u64 freed;       /* 1->0 transitions seen by page_free */
	__u64 outstanding; /* requested - freed */
	__u64 pinned;      /* pages held by PIN, over all open files */
	__u64 held;        /* folios held by REQUEST, over all open files */
	__u64 freed_in_irq; /* page_free calls made from interrupt context */
	__u64 freed_live;  /* page_free calls that found the page in use again: always 0 */
};

/* Flags of struct rust_pgmap_pin. */
#define RUST_PGMAP_PIN_WRITE    (1U << 0) /* FOLL_WRITE */
#define RUST_PGMAP_PIN_LONGTERM (1U << 1) /* FOLL_LONGTERM */

struct rust_pgmap_pin {
	__u64 addr;   /* in: page-aligned user address */
	__u64 npages; /* in: pages to pin, all or none */
	__u32 flags;  /* in: RUST_PGMAP_PIN_* */
	__u32 pad;    /* in: must be zero */
	__u64 handle; /* out: names the pin for UNPIN */
};

struct rust_pgmap_request {
	__u64 offset; /* in: first region page */
	__u64 npages; /* in: pages to request, all or none */
	__u64 handle; /* out: names the request for RELEASE */
};

struct rust_pgmap_teardown {
	__u64 outstanding; /* out: folios outstanding when this call began */
	__u64 waited_ns;   /* out: how long this call waited for the drain */
};

struct rust_pgmap_gup_probe {
	__u64 addr;   /* in: page-aligned user address */
	__u64 npages; /* in: pages to look up */
	__u64 taken;  /* out: pages that the lockless gup-fast walk took on its own */
};

/* Reads the counters. */
#define RUST_PGMAP_IOC_STATUS   _IOR(RUST_PGMAP_IOC_MAGIC, 0x00, struct rust_pgmap_status)
/* pin_user_pages_fast() over a user range; held until UNPIN or close. */
#define RUST_PGMAP_IOC_PIN      _IOWR(RUST_PGMAP_IOC_MAGIC, 0x01, struct rust_pgmap_pin)
/* Releases one PIN by handle; ENOENT if this file holds no such pin. */
#define RUST_PGMAP_IOC_UNPIN    _IOW(RUST_PGMAP_IOC_MAGIC, 0x02, __u64)
/* request_folios() on idle region pages; held until RELEASE or close. */
#define RUST_PGMAP_IOC_REQUEST  _IOWR(RUST_PGMAP_IOC_MAGIC, 0x03, struct rust_pgmap_request)
/* Releases one REQUEST by handle; ENOENT if this file holds no such request. */
#define RUST_PGMAP_IOC_RELEASE  _IOW(RUST_PGMAP_IOC_MAGIC, 0x04, __u64)
/*
 * Kill (block new users, zap mappings) then drain (wait for every requested
 * folio to be freed) then memunmap_pages(). EINTR leaves the pgmap dying; a
 * second TEARDOWN resumes the wait. ENXIO if it is already dead.
 *
 * TEARDOWN and ATTACH either succeed and write their result, or fail and
 * change nothing (EINTR above is the one exception): the result buffer is
 * pinned for writing before they act, so EFAULT comes first, and a buffer
 * that another thread unmaps or write-protects meanwhile still receives the
 * result. A buffer inside a mapping of this device is refused with EINVAL:
 * its page would hold up the drain that it waits for.
 */
#define RUST_PGMAP_IOC_TEARDOWN _IOR(RUST_PGMAP_IOC_MAGIC, 0x05, struct rust_pgmap_teardown)
/* Creates a new pgmap over the region after a teardown; EBUSY while one lives. */
#define RUST_PGMAP_IOC_ATTACH   _IOR(RUST_PGMAP_IOC_MAGIC, 0x06, struct rust_pgmap_status)
/*
 * As RELEASE, but the pages are put in hard interrupt context (an HRTIMER_MODE_HARD timer,
 * hard also on PREEMPT_RT), as a device's completion interrupt would put them.
 */
#define RUST_PGMAP_IOC_RELEASE_HARDIRQ _IOW(RUST_PGMAP_IOC_MAGIC, 0x07, __u64)
/*
 * A diagnostic: how many pages from addr get_user_pages_fast_only() takes before the first
 * one that gup-fast cannot vouch for and would leave to the slow path. They are put back at
 * once; nothing is held. Works on any mapping of the caller, not only this device's.
 */
#define RUST_PGMAP_IOC_GUP_FAST_PROBE _IOWR(RUST_PGMAP_IOC_MAGIC, 0x08, struct rust_pgmap_gup_probe)

#endif /* _UAPI_LINUX_RUST_PGMAP_H */
