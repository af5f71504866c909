// SPDX-License-Identifier: GPL-2.0
/*
 * A random walk over the /dev/rust_pgmap ABI: ioctls with good and garbage arguments,
 * mmap/munmap/mprotect/mremap, touches, forks, teardown and attach. A shadow model of the
 * handles, the mappings, which region pages are in use and what they hold says which results
 * each call may have: a REQUEST fails with EBUSY exactly when a page of its range is in use,
 * STATUS counts exactly the pages in use, a refused TEARDOWN or ATTACH changes nothing, and a
 * touch reads the stamp last written to the page, across teardown and attach and from a forked
 * child. At the end everything is given back and no folio, pin or request may be left.
 *
 * Each run takes a new seed, which it prints; RUST_PGMAP_FUZZ_SEED replays a run and
 * RUST_PGMAP_FUZZ_OPS lengthens it; RUST_PGMAP_FUZZ_SECS bounds its time (on a slow guest the
 * walk stops early).
 *
 * With 2 MiB folios (the module loaded with folio_size=2M), the model's unit is the folio: a
 * mapping, a request and a tracked "page" below are whole folios, and the calls that would cut
 * one (an offset, a munmap, an mprotect or an mremap inside a folio) are expected to fail with
 * EINVAL. A pin still takes pages: it starts and ends inside its first and last folio.
 */
#define _GNU_SOURCE
#include "rust_pgmap_lib.h"

#include <stdarg.h>
#include <stdlib.h>

#include "kselftest_harness.h"
#include "rust_pgmap_fixture.h"

#define FZ_DEFAULT_OPS 10000
#define FZ_DEFAULT_SECS 55
/* Fewer ops than this, when the time bound stops the walk, prove too little to pass. */
#define FZ_MIN_OPS 2000

/*
 * Region folios the walk uses: a small window, so that ranges collide, and the region's end.
 * The window starts at FZ_WIN_FIRST_BYTES into the region.
 */
#define FZ_WIN_FIRST_BYTES (8ULL << 20)
#define FZ_WIN_PAGES 48
#define FZ_END_PAGES 8
/* Largest range of one op, to keep every op cheap on an emulated guest. */
#define FZ_MAX_N 8

/*
 * Mappings live in slots of a PROT_NONE arena: a mapping takes at most FZ_MAX_N pages from the
 * start of its slot, and the rest of the slot keeps gup running past its end from reaching
 * another mapping.
 */
#define FZ_SLOTS 12
#define FZ_SLOT_PAGES (2 * FZ_MAX_N)
#define FZ_MAX_HOLDS 24
#define FZ_ANON_PAGES 8
#define FZ_MAX_REPORTS 50

#define FZ_KERNEL_ADDR ((void *)(uintptr_t)0xffff800000000000ULL)
/* struct fz_hold.first of a pin of anonymous memory. */
#define FZ_NOT_DEVICE UINT64_MAX

enum fz_kind {
	K_STATUS, K_PIN, K_UNPIN, K_REQUEST, K_RELEASE, K_MMAP, K_MUNMAP, K_MPROTECT,
	K_MREMAP, K_TOUCH, K_FORK, K_TEARDOWN, K_ATTACH, K_UNKNOWN, K_NR
};

/* Weights out of 1000. TEARDOWN and ATTACH rebuild the memmap: slow, so rare. */
static const struct {
	const char *name;
	int weight;
} fz_kinds[K_NR] = {
	[K_STATUS] = { "status", 60 },
	[K_PIN] = { "pin", 150 },
	[K_UNPIN] = { "unpin", 90 },
	[K_REQUEST] = { "request", 120 },
	[K_RELEASE] = { "release", 90 },
	[K_MMAP] = { "mmap", 110 },
	[K_MUNMAP] = { "munmap", 70 },
	[K_MPROTECT] = { "mprotect", 30 },
	[K_MREMAP] = { "mremap", 22 },
	[K_TOUCH] = { "touch", 220 },
	[K_FORK] = { "fork", 8 },
	[K_TEARDOWN] = { "teardown", 3 },
	[K_ATTACH] = { "attach", 12 },
	[K_UNKNOWN] = { "unknown", 15 },
};

/* Commands the driver does not know, none of which the VFS answers itself. */
static const unsigned long fz_unknown_cmds[] = {
	_IO(RUST_PGMAP_IOC_MAGIC, 0x7f),
	_IO(RUST_PGMAP_IOC_MAGIC, 0x07),
	_IOWR(RUST_PGMAP_IOC_MAGIC, 0x08, __u64),
	_IOR(RUST_PGMAP_IOC_MAGIC, 0x00, __u32),
	_IOW(RUST_PGMAP_IOC_MAGIC, 0x00, struct rust_pgmap_status),
	_IO(RUST_PGMAP_IOC_MAGIC, 0x01),
	_IOWR(RUST_PGMAP_IOC_MAGIC, 0x03, struct rust_pgmap_pin),
	_IOR(0xD6, 0x00, struct rust_pgmap_status),
	_IOWR(0xD8, 0x01, struct rust_pgmap_pin),
	0x1234, 0, 1, 3, 0x80000000UL,
};

/* The errnos a call may return; bit 0 is success. */
struct fz_set {
	uint64_t bits[2];
};

#define FZ_ALLOW(...) fz_set_of((const int[]){ __VA_ARGS__, -1 })

static struct fz_set fz_set_of(const int *list)
{
	struct fz_set s = { { 0, 0 } };

	for (; *list >= 0; list++)
		s.bits[*list / 64] |= 1ULL << (*list % 64);
	return s;
}

static bool fz_set_has(struct fz_set s, int err)
{
	return err >= 0 && err < 128 && (s.bits[err / 64] >> (err % 64) & 1);
}

/* A failure instead of success: what the kernel says when it cannot write the result back. */
static struct fz_set fz_set_success_to(struct fz_set s, int err)
{
	if (fz_set_has(s, 0)) {
		s.bits[0] &= ~1ULL;
		s.bits[err / 64] |= 1ULL << (err % 64);
	}
	return s;
}

/* Below, a "page" of the model is a folio: 4 KiB or 2 MiB, as the module was loaded. */
struct fz_map {
	uint8_t *addr;   /* NULL: the slot is free */
	uint64_t first;  /* region page mapped at addr */
	uint64_t npages;
	int prot;
	uint16_t faulted; /* pages certainly mapped: bit k for page first + k */
	uint16_t maybe;   /* pages a failed pin may have faulted in */
};

/* The region pages whose use and contents the model follows: the window, and the end. */
#define FZ_TRACKED (FZ_WIN_PAGES + FZ_MAX_N + FZ_END_PAGES + FZ_MAX_N)

enum fz_use { USE_NO, USE_MAYBE, USE_YES };

struct fz_hold {
	uint64_t handle;
	uint64_t first;  /* first region page, or FZ_NOT_DEVICE */
	uint64_t npages; /* region pages it covers */
	uint64_t count;  /* as STATUS counts them: 4 KiB pages of a pin, folios of a request */
};

struct fz {
	int fd;
	uint32_t rng;
	uint64_t nr;        /* region pages (folios) */
	uint64_t nr_pages;  /* region pages of 4 KiB, which PIN takes */
	uint64_t fp;        /* 4 KiB pages per folio */
	uint64_t unit;      /* bytes per folio */
	uint64_t win_first; /* first page of the window */
	bool live;
	uint8_t *arena;
	uint8_t *anon;   /* FZ_ANON_PAGES pinnable pages, then a PROT_NONE page */
	uint8_t *ro;     /* made read-only after an argument is copied in */
	struct fz_map maps[FZ_SLOTS];
	struct fz_hold pins[FZ_MAX_HOLDS], reqs[FZ_MAX_HOLDS];
	int npins, nreqs;
	uint64_t pinned, held; /* what STATUS must report */
	/* The stamp each tracked page holds at its start, once the walk wrote one. */
	uint64_t stamp[FZ_TRACKED];
	bool stamped[FZ_TRACKED];
	uint32_t stamps;
	long op;
	unsigned long dead_ops;
	enum fz_kind kind;
	unsigned long violations;
	unsigned long count[K_NR], refused[K_NR];
};

static uint32_t fz_rnd(struct fz *f)
{
	/*
	 * xorshift32: tiny, and a seed replays a run exactly. Calls to it are sequenced (never
	 * two in one expression) so that their order does not depend on the compiler.
	 */
	uint32_t x = f->rng;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	f->rng = x;
	return x;
}

static uint64_t fz_rnd64(struct fz *f)
{
	uint64_t hi = fz_rnd(f);

	return hi << 32 | fz_rnd(f);
}

static uint64_t fz_below(struct fz *f, uint64_t n)
{
	return n ? fz_rnd(f) % n : 0;
}

static __printf(2, 3) void fz_violation(struct fz *f, const char *fmt, ...)
{
	va_list ap;
	char msg[256];

	f->violations++;
	if (f->violations > FZ_MAX_REPORTS)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ksft_print_msg("fuzz: op %ld (%s): %s\n", f->op, fz_kinds[f->kind].name, msg);
}

/* Checks @ret (0 or -errno) against @allowed; describes the call on a violation. */
static bool fz_check(struct fz *f, int ret, struct fz_set allowed, const char *fmt, ...)
	__printf(4, 5);

static bool fz_check(struct fz *f, int ret, struct fz_set allowed, const char *fmt, ...)
{
	char desc[192];
	va_list ap;

	if (ret)
		f->refused[f->kind]++;
	if (fz_set_has(allowed, -ret))
		return true;
	va_start(ap, fmt);
	vsnprintf(desc, sizeof(desc), fmt, ap);
	va_end(ap);
	fz_violation(f, "%s: got %s (%d), allowed %#llx:%#llx", desc,
		     ret ? strerror(-ret) : "success", ret,
		     (unsigned long long)allowed.bits[1], (unsigned long long)allowed.bits[0]);
	return false;
}

static int fz_ioctl(struct fz *f, unsigned long cmd, const void *arg)
{
	return ioctl(f->fd, cmd, arg) ? -errno : 0;
}

/* Copies an argument into the read-only page: the kernel can read it but not write to it. */
static void *fz_ro(struct fz *f, const void *src, size_t len)
{
	if (mprotect(f->ro, RPG_PAGE, PROT_READ | PROT_WRITE))
		fz_violation(f, "mprotect(ro, RW): %s", strerror(errno));
	memcpy(f->ro, src, len);
	if (mprotect(f->ro, RPG_PAGE, PROT_READ))
		fz_violation(f, "mprotect(ro, R): %s", strerror(errno));
	return f->ro;
}

static void *fz_bad_ptr(struct fz *f)
{
	switch (fz_below(f, 4)) {
	case 0:
		return (void *)1;
	case 1:
		return NULL;
	case 2:
		return f->anon + FZ_ANON_PAGES * RPG_PAGE; /* the PROT_NONE page */
	default:
		return FZ_KERNEL_ADDR;
	}
}

enum fz_ptr { PTR_OK, PTR_RO, PTR_BAD };

static enum fz_ptr fz_ptr_mode(struct fz *f)
{
	uint32_t r = fz_below(f, 10);

	return r < 8 ? PTR_OK : r == 8 ? PTR_RO : PTR_BAD;
}

static const char *fz_ptr_name(enum fz_ptr m)
{
	return m == PTR_OK ? "ok" : m == PTR_RO ? "read-only" : "bad";
}

static uint8_t *fz_slot(struct fz *f, int i)
{
	return f->arena + (size_t)i * FZ_SLOT_PAGES * f->unit;
}

/* Puts the PROT_NONE reservation back over a range the walk unmapped. */
static void fz_reserve(struct fz *f, void *addr, uint64_t npages)
{
	void *p = mmap(addr, npages * f->unit, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);

	if (p != addr)
		fz_violation(f, "re-reserving %p: %s", addr, strerror(errno));
}

static struct fz_map *fz_random_map(struct fz *f)
{
	int used[FZ_SLOTS], n = 0;

	for (int i = 0; i < FZ_SLOTS; i++)
		if (f->maps[i].addr)
			used[n++] = i;
	return n ? &f->maps[used[fz_below(f, n)]] : NULL;
}

static int fz_free_slot(struct fz *f)
{
	int free_slots[FZ_SLOTS], n = 0;

	for (int i = 0; i < FZ_SLOTS; i++)
		if (!f->maps[i].addr)
			free_slots[n++] = i;
	return n ? free_slots[fz_below(f, n)] : -1;
}

static int fz_find(const struct fz_hold *h, int n, uint64_t handle)
{
	for (int i = 0; i < n; i++)
		if (h[i].handle == handle)
			return i;
	return -1;
}

static void fz_add_hold(struct fz *f, struct fz_hold *h, int *n, uint64_t handle,
			uint64_t first, uint64_t npages, uint64_t count)
{
	if (fz_find(f->pins, f->npins, handle) >= 0 || fz_find(f->reqs, f->nreqs, handle) >= 0)
		fz_violation(f, "handle %llu given out twice", (unsigned long long)handle);
	h[*n].handle = handle;
	h[*n].first = first;
	h[*n].npages = npages;
	h[*n].count = count;
	(*n)++;
}

static void fz_remove_hold(struct fz_hold *h, int *n, int i)
{
	h[i] = h[--(*n)];
}

/* Whether a request or a device pin we hold covers region page @page. */
static bool fz_held(const struct fz *f, uint64_t page)
{
	for (int i = 0; i < f->nreqs; i++)
		if (page - f->reqs[i].first < f->reqs[i].npages)
			return true;
	for (int i = 0; i < f->npins; i++)
		if (f->pins[i].first != FZ_NOT_DEVICE && page - f->pins[i].first < f->pins[i].npages)
			return true;
	return false;
}

/* Whether region page @page is in use: held, or mapped by one of our mappings. */
static enum fz_use fz_use(const struct fz *f, uint64_t page)
{
	enum fz_use use = fz_held(f, page) ? USE_YES : USE_NO;

	for (int i = 0; i < FZ_SLOTS && use != USE_YES; i++) {
		const struct fz_map *m = &f->maps[i];
		uint64_t k = page - m->first;

		if (!m->addr || k >= m->npages)
			continue;
		if (m->faulted >> k & 1)
			use = USE_YES;
		else if (m->maybe >> k & 1)
			use = USE_MAYBE;
	}
	return use;
}

/* The index of a tracked region page in stamp[], or -1. */
static int fz_tracked(const struct fz *f, uint64_t page)
{
	if (page - f->win_first < FZ_WIN_PAGES + FZ_MAX_N)
		return page - f->win_first;
	if (page < f->nr && f->nr - 1 - page < FZ_END_PAGES + FZ_MAX_N)
		return FZ_WIN_PAGES + FZ_MAX_N + (f->nr - 1 - page);
	return -1;
}

/* The pages of @m from @k on, @n of them, are mapped now (or maybe, if @maybe). */
static void fz_mark_faulted(struct fz_map *m, uint64_t k, uint64_t n, bool maybe)
{
	for (; n && k < m->npages; k++, n--) {
		if (maybe)
			m->maybe |= 1U << k;
		else
			m->faulted |= 1U << k;
	}
}

/* Nothing maps region pages [first, first + n) any more: a REQUEST of them succeeded. */
static void fz_mark_unmapped(struct fz *f, uint64_t first, uint64_t n)
{
	for (int i = 0; i < FZ_SLOTS; i++) {
		struct fz_map *m = &f->maps[i];

		for (uint64_t k = 0; m->addr && k < m->npages; k++)
			if (m->first + k - first < n)
				m->maybe &= ~(1U << k);
	}
}

/* Every page is unmapped: the kill zapped them all. */
static void fz_mark_zapped(struct fz *f)
{
	for (int i = 0; i < FZ_SLOTS; i++)
		f->maps[i].faulted = f->maps[i].maybe = 0;
}

/* The region pages in use, certainly (*yes) and maybe (*maybe). */
static void fz_count_use(const struct fz *f, uint64_t *yes, uint64_t *maybe)
{
	*yes = *maybe = 0;
	for (uint64_t p = f->win_first; p < f->win_first + FZ_WIN_PAGES + FZ_MAX_N; p++) {
		enum fz_use u = fz_use(f, p);

		*yes += u == USE_YES;
		*maybe += u == USE_MAYBE;
	}
	for (uint64_t p = f->nr - (FZ_END_PAGES + FZ_MAX_N); p < f->nr; p++) {
		enum fz_use u = fz_use(f, p);

		*yes += u == USE_YES;
		*maybe += u == USE_MAYBE;
	}
}

/* The signal a touch of page @k of @m must raise. */
static int fz_touch_expect(const struct fz *f, const struct fz_map *m, uint64_t k)
{
	if (m->prot == PROT_NONE)
		return SIGSEGV;
	if (!f->live || m->first + k >= f->nr)
		return SIGBUS;
	return 0;
}

/*
 * Random touches of random mappings; returns how many raised the wrong signal or read the
 * wrong stamp. A write touch of a writable page writes a new stamp at its start, unless
 * @readonly (a forked child, whose writes the model would not see).
 */
static int fz_touches(struct fz *f, int n, bool report, bool readonly)
{
	int bad = 0;

	for (int i = 0; i < n; i++) {
		struct fz_map *m = fz_random_map(f);
		volatile uint64_t *start;
		uint64_t k, off, page;
		bool write;
		int sig, want, t;

		if (!m)
			break;
		k = fz_below(f, m->npages);
		off = fz_below(f, f->unit);
		write = (m->prot & PROT_WRITE) && (fz_rnd(f) & 1);
		want = fz_touch_expect(f, m, k);
		page = m->first + k;
		start = (volatile uint64_t *)(m->addr + k * f->unit);
		sig = rpg_touch(m->addr + k * f->unit + off, write);
		if (report && sig)
			f->refused[f->kind]++;
		if (sig != want) {
			bad++;
			if (report)
				fz_violation(f,
					     "%s of region page %llu (mapping of %llu from %llu, prot %d, %s): signal %d, want %d",
					     write ? "write" : "read", (unsigned long long)page,
					     (unsigned long long)m->npages,
					     (unsigned long long)m->first, m->prot,
					     f->live ? "live" : "dead", sig, want);
			continue;
		}
		if (sig)
			continue;
		/* Mapped now, by a fault that nothing races: its start can be read and written. */
		m->faulted |= 1U << k;
		t = fz_tracked(f, page);
		if (t < 0)
			continue;
		if (f->stamped[t] && *start != f->stamp[t]) {
			bad++;
			if (report)
				fz_violation(f, "region page %llu holds %#llx, the walk wrote %#llx",
					     (unsigned long long)page, (unsigned long long)*start,
					     (unsigned long long)f->stamp[t]);
		}
		if (write && !readonly) {
			f->stamp[t] = page << 32 | ++f->stamps;
			f->stamped[t] = true;
			*start = f->stamp[t];
		}
	}
	return bad;
}

static void fz_status_check(struct fz *f)
{
	struct rust_pgmap_status st;
	int ret = fz_ioctl(f, RUST_PGMAP_IOC_STATUS, &st);
	uint64_t yes, maybe;

	if (!fz_check(f, ret, FZ_ALLOW(0), "STATUS"))
		return;
	if (st.state != (f->live ? RUST_PGMAP_STATE_LIVE : RUST_PGMAP_STATE_DEAD))
		fz_violation(f, "state %u, model says %s", st.state, f->live ? "live" : "dead");
	if (st.nr_pages != f->nr_pages)
		fz_violation(f, "nr_pages %llu, was %llu", (unsigned long long)st.nr_pages,
			     (unsigned long long)f->nr_pages);
	if (st.pinned != f->pinned || st.held != f->held)
		fz_violation(f, "pinned %llu held %llu, model %llu %llu",
			     (unsigned long long)st.pinned, (unsigned long long)st.held,
			     (unsigned long long)f->pinned, (unsigned long long)f->held);
	if (st.freed > st.requested || st.outstanding != st.requested - st.freed)
		fz_violation(f, "requested %llu freed %llu outstanding %llu",
			     (unsigned long long)st.requested, (unsigned long long)st.freed,
			     (unsigned long long)st.outstanding);
	fz_count_use(f, &yes, &maybe);
	if (!f->live)
		yes = maybe = 0;
	if (st.outstanding < yes || st.outstanding > yes + maybe)
		fz_violation(f, "outstanding %llu, the model has %llu pages in use and %llu maybe",
			     (unsigned long long)st.outstanding, (unsigned long long)yes,
			     (unsigned long long)maybe);
}

static void fz_op_status(struct fz *f)
{
	enum fz_ptr mode = fz_ptr_mode(f);
	void *arg;

	f->kind = K_STATUS;
	if (mode == PTR_OK) {
		fz_status_check(f);
		return;
	}
	arg = mode == PTR_RO ? fz_ro(f, &(struct rust_pgmap_status){ 0 },
				     sizeof(struct rust_pgmap_status)) : fz_bad_ptr(f);
	fz_check(f, fz_ioctl(f, RUST_PGMAP_IOC_STATUS, arg), FZ_ALLOW(EFAULT),
		 "STATUS(%p)", arg);
}

static void fz_op_unpin(struct fz *f);
static void fz_op_release(struct fz *f);

static void fz_op_pin(struct fz *f)
{
	struct rust_pgmap_pin pin = { 0 };
	uint64_t dev_first = FZ_NOT_DEVICE, dev_n = 0, map_off = 0;
	struct fz_map *m = fz_random_map(f), *pinned_map = NULL;
	uint32_t sub = fz_below(f, 20), r;
	bool ok = false;
	enum fz_ptr mode;
	struct fz_set allow;
	void *arg;
	int ret;

	if (f->npins == FZ_MAX_HOLDS) {
		fz_op_unpin(f);
		return;
	}
	f->kind = K_PIN;
	if (sub < 12 && !m)
		sub = 12;
	switch (sub) {
	case 0 ... 11: {
		/*
		 * A subrange of a mapping, sometimes running into the slot's PROT_NONE rest: the
		 * pages from inside folio off to inside folio off + n - 1.
		 */
		uint64_t off = fz_below(f, m->npages);
		uint64_t n = 1 + fz_below(f, fz_below(f, 4) ? m->npages - off : FZ_MAX_N);
		uint64_t head = fz_below(f, f->fp), end = n * f->fp - fz_below(f, f->fp);

		r = fz_below(f, 8);
		/* FOLL_WRITE on a read-only mapping, sometimes. */
		if (r < 4 && !(m->prot & PROT_WRITE) && fz_below(f, 4))
			r = 4;
		pin.flags = r < 4 ? RUST_PGMAP_PIN_WRITE : r < 6 ? 0 :
			    r == 6 ? RUST_PGMAP_PIN_LONGTERM | RUST_PGMAP_PIN_WRITE :
			    RUST_PGMAP_PIN_LONGTERM;
		pin.addr = (uintptr_t)(m->addr + off * f->unit + head * RPG_PAGE);
		pin.npages = end > head ? end - head : 1;
		ok = f->live && off + n <= m->npages && m->first + off + n <= f->nr &&
		     m->prot != PROT_NONE &&
		     (!(pin.flags & RUST_PGMAP_PIN_WRITE) || (m->prot & PROT_WRITE));
		allow = ok ? FZ_ALLOW(0) : FZ_ALLOW(EFAULT);
		dev_first = m->first + off;
		dev_n = n;
		pinned_map = m;
		map_off = off;
		break;
	}
	case 12: {
		uint64_t off = fz_below(f, FZ_ANON_PAGES), n = 1 + fz_below(f, FZ_MAX_N);

		pin.addr = (uintptr_t)(f->anon + off * RPG_PAGE);
		pin.npages = n;
		pin.flags = fz_below(f, 2) ? RUST_PGMAP_PIN_WRITE : 0;
		allow = off + n <= FZ_ANON_PAGES ? FZ_ALLOW(0) : FZ_ALLOW(EFAULT);
		break;
	}
	case 13:
		pin.addr = 0;
		pin.npages = 1 + fz_below(f, FZ_MAX_N);
		allow = FZ_ALLOW(EFAULT);
		break;
	case 14:
		pin.addr = (uintptr_t)FZ_KERNEL_ADDR;
		pin.npages = 1 + fz_below(f, FZ_MAX_N);
		allow = FZ_ALLOW(EFAULT);
		break;
	case 15:
		pin.addr = (uintptr_t)(m ? m->addr : f->anon) + 1 + fz_below(f, RPG_PAGE - 1);
		pin.npages = 1 + fz_below(f, FZ_MAX_N);
		allow = FZ_ALLOW(EINVAL);
		break;
	case 16: {
		/* addr + len reaches or passes 2^64. */
		uint64_t k = 1 + fz_below(f, 4);

		pin.addr = 0 - k * RPG_PAGE;
		pin.npages = k + fz_below(f, 4);
		allow = FZ_ALLOW(EINVAL);
		break;
	}
	case 17:
		pin.addr = (uintptr_t)f->anon;
		r = fz_below(f, 4);
		pin.npages = r == 0 ? 0 : r == 1 ? f->nr_pages + 1 + fz_below(f, 100000) :
			     r == 2 ? UINT64_MAX : 1ULL << (32 + fz_below(f, 32));
		allow = pin.npages ? FZ_ALLOW(ERANGE) : FZ_ALLOW(EINVAL);
		break;
	case 18:
		pin.addr = (uintptr_t)f->anon;
		pin.npages = 1;
		if (fz_below(f, 2)) {
			pin.flags = 1U << (2 + fz_below(f, 30));
			pin.flags |= fz_rnd(f) & 3;
		} else {
			pin.pad = 1 + fz_below(f, UINT32_MAX);
		}
		allow = FZ_ALLOW(EINVAL);
		break;
	default:
		pin.addr = (uintptr_t)(f->anon + FZ_ANON_PAGES * RPG_PAGE);
		pin.npages = 1;
		allow = FZ_ALLOW(EFAULT);
		break;
	}

	mode = fz_ptr_mode(f);
	if (mode == PTR_BAD) {
		arg = fz_bad_ptr(f);
		allow = FZ_ALLOW(EFAULT);
	} else if (mode == PTR_RO) {
		arg = fz_ro(f, &pin, sizeof(pin));
		allow = fz_set_success_to(allow, EFAULT);
	} else {
		arg = &pin;
	}
	ret = fz_ioctl(f, RUST_PGMAP_IOC_PIN, arg);
	fz_check(f, ret, allow, "PIN addr %#llx npages %llu flags %#x pad %#x ptr %s (%s)",
		 (unsigned long long)pin.addr, (unsigned long long)pin.npages, pin.flags,
		 pin.pad, fz_ptr_name(mode), f->live ? "live" : "dead");
	/* Even a pin that should have failed is tracked, so that it is given back. */
	if (!ret && mode == PTR_OK) {
		fz_add_hold(f, f->pins, &f->npins, pin.handle, dev_first, dev_n, pin.npages);
		f->pinned += pin.npages;
	}
	/*
	 * gup faulted the pages in: all of them if it pinned them (a result that it could not
	 * write back undid the pin, not the faults), maybe some if it failed part-way.
	 */
	if (pinned_map && mode != PTR_BAD && f->live && (!ret || ret == -EFAULT))
		fz_mark_faulted(pinned_map, map_off, dev_n, ret && !(mode == PTR_RO && ok));
}

/* A handle: known ones, small numbers near the ones handed out, and anything. */
static uint64_t fz_random_handle(struct fz *f)
{
	return fz_below(f, 2) ? fz_below(f, 64) : fz_rnd64(f);
}

/* UNPIN and RELEASE: the same shape over pins or requests. */
static void fz_op_drop(struct fz *f, bool pins)
{
	struct fz_hold *own = pins ? f->pins : f->reqs, *other = pins ? f->reqs : f->pins;
	int *n_own = pins ? &f->npins : &f->nreqs, n_other = pins ? f->nreqs : f->npins;
	unsigned long cmd = pins ? RUST_PGMAP_IOC_UNPIN : RUST_PGMAP_IOC_RELEASE;
	uint32_t sub = fz_below(f, 8);
	enum fz_ptr mode = PTR_OK;
	struct fz_set allow;
	uint64_t h;
	void *arg;
	int i, ret;

	f->kind = pins ? K_UNPIN : K_RELEASE;
	if ((sub < 5 || sub == 7) && *n_own)
		h = own[fz_below(f, *n_own)].handle;
	else if (sub == 6 && n_other)
		h = other[fz_below(f, n_other)].handle;
	else
		h = fz_random_handle(f);
	i = fz_find(own, *n_own, h);
	allow = i >= 0 ? FZ_ALLOW(0) : FZ_ALLOW(ENOENT);

	if (sub == 7)
		mode = fz_below(f, 2) ? PTR_RO : PTR_BAD;
	if (mode == PTR_BAD) {
		arg = fz_bad_ptr(f);
		allow = FZ_ALLOW(EFAULT);
	} else if (mode == PTR_RO) {
		/* The kernel only reads the handle: a read-only one works. */
		arg = fz_ro(f, &h, sizeof(h));
	} else {
		arg = &h;
	}
	ret = fz_ioctl(f, cmd, arg);
	fz_check(f, ret, allow, "%s handle %llu ptr %s", pins ? "UNPIN" : "RELEASE",
		 (unsigned long long)h, fz_ptr_name(mode));
	/* Follow the kernel: after success or ENOENT it holds no such handle. */
	if (i >= 0 && mode != PTR_BAD && (ret == 0 || ret == -ENOENT)) {
		if (pins)
			f->pinned -= own[i].count;
		else
			f->held -= own[i].count;
		fz_remove_hold(own, n_own, i);
	}
}

static void fz_op_unpin(struct fz *f)
{
	fz_op_drop(f, true);
}

static void fz_op_release(struct fz *f)
{
	fz_op_drop(f, false);
}

/*
 * The results REQUEST may give for a range of 4 KiB pages, in the order the driver checks:
 * whole folios first, then in folios.
 */
static struct fz_set fz_request_allow(const struct fz *f, uint64_t off, uint64_t n)
{
	enum fz_use use = USE_NO;

	if ((off | n) % f->fp)
		return FZ_ALLOW(EINVAL);
	off /= f->fp;
	n /= f->fp;
	if (!f->live)
		return FZ_ALLOW(ENXIO);
	if (n > UINT64_MAX - off || n == 0)
		return FZ_ALLOW(EINVAL);
	if (off + n > f->nr)
		return FZ_ALLOW(ERANGE);
	/* In use exactly when held or mapped; a failed pin leaves the model unsure. */
	for (uint64_t p = off; p < off + n; p++)
		use = fz_use(f, p) > use ? fz_use(f, p) : use;
	return use == USE_YES ? FZ_ALLOW(EBUSY) : use == USE_MAYBE ? FZ_ALLOW(0, EBUSY) :
				FZ_ALLOW(0);
}

static void fz_op_request(struct fz *f)
{
	struct rust_pgmap_request req = { 0 };
	uint32_t sub = fz_below(f, 10), r;
	enum fz_ptr mode;
	struct fz_set allow;
	void *arg;
	int ret;

	if (f->nreqs == FZ_MAX_HOLDS) {
		fz_op_release(f);
		return;
	}
	f->kind = K_REQUEST;
	switch (sub) {
	case 0 ... 5:
		req.offset = (f->win_first + fz_below(f, FZ_WIN_PAGES)) * f->fp;
		req.npages = (1 + fz_below(f, FZ_MAX_N)) * f->fp;
		break;
	case 6:
		req.offset = (f->nr - 1 - fz_below(f, FZ_END_PAGES)) * f->fp;
		req.npages = (1 + fz_below(f, FZ_MAX_N)) * f->fp;
		break;
	case 7:
		req.offset = (f->win_first + fz_below(f, FZ_WIN_PAGES)) * f->fp;
		req.npages = 0;
		/* Or, of large folios, a range that cuts one. */
		if (f->fp > 1 && fz_below(f, 2)) {
			req.offset += fz_below(f, 2) ? 1 + fz_below(f, f->fp - 1) : 0;
			req.npages = 1 + fz_below(f, 2 * f->fp);
		}
		break;
	default:
		r = fz_below(f, 4);
		if (r == 0) {
			req.offset = f->nr_pages + fz_below(f, 1000);
			req.npages = 1 + fz_below(f, 4);
		} else if (r == 1) {
			req.offset = UINT64_MAX - fz_below(f, 8);
			req.npages = 1 + fz_below(f, 16);
		} else if (r == 2) {
			req.offset = fz_below(f, 4);
			req.npages = UINT64_MAX - fz_below(f, 2);
		} else {
			req.offset = fz_rnd64(f);
			req.npages = fz_rnd64(f);
		}
		break;
	}
	allow = fz_request_allow(f, req.offset, req.npages);

	mode = fz_ptr_mode(f);
	if (mode == PTR_BAD) {
		arg = fz_bad_ptr(f);
		allow = FZ_ALLOW(EFAULT);
	} else if (mode == PTR_RO) {
		arg = fz_ro(f, &req, sizeof(req));
		allow = fz_set_success_to(allow, EFAULT);
	} else {
		arg = &req;
	}
	ret = fz_ioctl(f, RUST_PGMAP_IOC_REQUEST, arg);
	fz_check(f, ret, allow, "REQUEST offset %llu npages %llu ptr %s (%s)",
		 (unsigned long long)req.offset, (unsigned long long)req.npages,
		 fz_ptr_name(mode), f->live ? "live" : "dead");
	if (!ret && mode == PTR_OK) {
		fz_add_hold(f, f->reqs, &f->nreqs, req.handle, req.offset / f->fp,
			    req.npages / f->fp, req.npages / f->fp);
		f->held += req.npages / f->fp;
	}
	if (!ret)
		fz_mark_unmapped(f, req.offset / f->fp, req.npages / f->fp);
}

static void fz_op_munmap(struct fz *f);

/* An mmap that must fail; one that succeeds anyway is reported and undone. */
static void fz_mmap_refused(struct fz *f, size_t len, int prot, int flags, off_t off,
			    struct fz_set allow)
{
	void *p = mmap(NULL, len, prot, flags, f->fd, off);
	int ret = p == MAP_FAILED ? -errno : 0;

	fz_check(f, ret, allow, "mmap len %#zx prot %#x flags %#x offset %#llx", len, prot, flags,
		 (unsigned long long)off);
	if (p != MAP_FAILED)
		munmap(p, len);
}

static void fz_op_mmap(struct fz *f)
{
	uint32_t sub = fz_below(f, 16), r;
	int slot = fz_free_slot(f), prot, flags;
	uint64_t first, n;
	struct fz_map *m;
	size_t len;
	void *p;

	if (sub < 9 && slot < 0) {
		fz_op_munmap(f);
		return;
	}
	f->kind = K_MMAP;
	switch (sub) {
	case 0 ... 8:
		break;
	case 9:
		len = f->unit * (1 + fz_below(f, FZ_MAX_N));
		prot = fz_below(f, 2) ? PROT_READ : PROT_READ | PROT_WRITE;
		fz_mmap_refused(f, len, prot, MAP_PRIVATE, f->win_first * f->unit,
				FZ_ALLOW(EINVAL));
		return;
	case 10:
		fz_mmap_refused(f, f->unit, PROT_EXEC | (fz_below(f, 2) ? PROT_READ : 0),
				MAP_SHARED, f->win_first * f->unit, FZ_ALLOW(EPERM));
		return;
	case 11:
		r = fz_below(f, f->fp > 1 ? 3 : 2);
		if (r == 0)
			fz_mmap_refused(f, f->unit, PROT_READ, MAP_SHARED,
					(off_t)(f->nr + fz_below(f, 64)) * f->unit,
					FZ_ALLOW(EINVAL));
		else if (r == 1)
			fz_mmap_refused(f, f->unit, PROT_READ, MAP_SHARED,
					f->win_first * f->unit + 1 + fz_below(f, RPG_PAGE - 1),
					FZ_ALLOW(EINVAL));
		else /* An offset inside a large folio. */
			fz_mmap_refused(f, f->unit, PROT_READ, MAP_SHARED,
					f->win_first * f->unit +
						(1 + fz_below(f, f->fp - 1)) * RPG_PAGE,
					FZ_ALLOW(EINVAL));
		return;
	case 12:
		/* Negative offsets end past the largest file offset (EOVERFLOW) or the region. */
		if (fz_below(f, 2))
			fz_mmap_refused(f, f->unit, PROT_READ, MAP_SHARED,
					-(off_t)RPG_PAGE * (off_t)(1 + fz_below(f, 16)),
					FZ_ALLOW(EOVERFLOW, EINVAL));
		else
			fz_mmap_refused(f, f->unit, PROT_READ, MAP_SHARED,
					(off_t)1 << (40 + fz_below(f, 20)), FZ_ALLOW(EINVAL));
		return;
	case 13:
		fz_mmap_refused(f, 0, PROT_READ, MAP_SHARED, 0, FZ_ALLOW(EINVAL));
		return;
	case 14:
		fz_mmap_refused(f, f->unit, PROT_READ | PROT_WRITE, MAP_SHARED_VALIDATE | MAP_SYNC,
				f->win_first * f->unit, FZ_ALLOW(EOPNOTSUPP));
		return;
	default:
		fz_mmap_refused(f, SIZE_MAX - fz_below(f, RPG_PAGE - 1), PROT_READ, MAP_SHARED,
				f->win_first * f->unit, FZ_ALLOW(ENOMEM, EOVERFLOW));
		return;
	}

	/* A good mapping, in the free slot; near the end it may run past the region. */
	first = fz_below(f, 4) ? f->win_first + fz_below(f, FZ_WIN_PAGES) :
		f->nr - 1 - fz_below(f, FZ_END_PAGES);
	n = 1 + fz_below(f, FZ_MAX_N);
	/* The kernel rounds the length up. */
	len = n * f->unit - (fz_below(f, 3) ? 0 : fz_below(f, RPG_PAGE));
	r = fz_below(f, 10);
	prot = r < 6 ? PROT_READ | PROT_WRITE : r < 9 ? PROT_READ : PROT_NONE;
	r = fz_below(f, 8);
	flags = (r == 0 ? MAP_SHARED | MAP_POPULATE : r == 1 ? MAP_SHARED_VALIDATE : MAP_SHARED) |
		MAP_FIXED;
	p = mmap(fz_slot(f, slot), len, prot, flags, f->fd, first * f->unit);
	if (!fz_check(f, p == MAP_FAILED ? -errno : 0, FZ_ALLOW(0),
		      "mmap slot %d len %#zx prot %#x flags %#x page %llu", slot, len, prot, flags,
		      (unsigned long long)first)) {
		/* A failed MAP_FIXED may have left a hole in the arena. */
		fz_reserve(f, fz_slot(f, slot), FZ_MAX_N);
		return;
	}
	if (p != fz_slot(f, slot)) {
		fz_violation(f, "MAP_FIXED mapped at %p, not %p", p, fz_slot(f, slot));
		munmap(p, len);
		fz_reserve(f, fz_slot(f, slot), FZ_MAX_N);
		return;
	}
	m = &f->maps[slot];
	m->addr = p;
	m->first = first;
	m->npages = n;
	m->prot = prot;
	m->faulted = m->maybe = 0;
	/* MAP_POPULATE faults every page in, up to the end of the region. */
	if ((flags & MAP_POPULATE) && prot != PROT_NONE && f->live && first < f->nr)
		fz_mark_faulted(m, 0, f->nr - first, false);
}

static void fz_op_munmap(struct fz *f)
{
	struct fz_map *m = fz_random_map(f);
	uint32_t sub = fz_below(f, 8);
	uint64_t k;
	int ret;

	if (!m) {
		fz_op_mmap(f);
		return;
	}
	f->kind = K_MUNMAP;
	if (sub == 7) {
		uint32_t r = fz_below(f, f->fp > 1 ? 3 : 2);

		if (r == 0)
			ret = munmap(m->addr + 1 + fz_below(f, RPG_PAGE - 1), RPG_PAGE) ?
			      -errno : 0;
		else if (r == 1)
			ret = munmap(m->addr, 0) ? -errno : 0;
		else /* Pages inside a large folio: the VMA may not split there. */
			ret = munmap(m->addr + fz_below(f, m->npages) * f->unit +
					     fz_below(f, f->fp) * RPG_PAGE,
				     (1 + fz_below(f, f->fp - 1)) * RPG_PAGE) ? -errno : 0;
		fz_check(f, ret, FZ_ALLOW(EINVAL), "munmap of a bad range in %p", m->addr);
		return;
	}
	if (sub < 5 || m->npages == 1) {
		ret = munmap(m->addr, m->npages * f->unit) ? -errno : 0;
		fz_check(f, ret, FZ_ALLOW(0), "munmap %p, %llu pages", m->addr,
			 (unsigned long long)m->npages);
		fz_reserve(f, m->addr, m->npages);
		m->addr = NULL;
		return;
	}
	/* Cut off the head or the tail: the VMA splits, the rest stays mapped. */
	k = 1 + fz_below(f, m->npages - 1);
	if (sub == 5) {
		ret = munmap(m->addr, k * f->unit) ? -errno : 0;
		fz_check(f, ret, FZ_ALLOW(0), "munmap head of %p, %llu pages", m->addr,
			 (unsigned long long)k);
		fz_reserve(f, m->addr, k);
		m->addr += k * f->unit;
		m->first += k;
		m->faulted >>= k;
		m->maybe >>= k;
	} else {
		ret = munmap(m->addr + (m->npages - k) * f->unit, k * f->unit) ? -errno : 0;
		fz_check(f, ret, FZ_ALLOW(0), "munmap tail of %p, %llu pages", m->addr,
			 (unsigned long long)k);
		fz_reserve(f, m->addr + (m->npages - k) * f->unit, k);
	}
	m->npages -= k;
	m->faulted &= (1U << m->npages) - 1;
	m->maybe &= (1U << m->npages) - 1;
}

static void fz_op_mprotect(struct fz *f)
{
	/* Mostly usable protections, so that pins and touches mostly reach the driver. */
	static const int prots[] = {
		PROT_READ | PROT_WRITE, PROT_READ | PROT_WRITE, PROT_READ | PROT_WRITE,
		PROT_READ, PROT_READ, PROT_NONE,
	};
	struct fz_map *m = fz_random_map(f);
	int prot, ret;

	if (!m) {
		fz_op_mmap(f);
		return;
	}
	f->kind = K_MPROTECT;
	if (!fz_below(f, 6)) {
		/* mmap cleared VM_MAYEXEC. */
		prot = PROT_EXEC | (fz_below(f, 2) ? PROT_READ : 0);
		ret = mprotect(m->addr, m->npages * f->unit, prot) ? -errno : 0;
		fz_check(f, ret, FZ_ALLOW(EACCES), "mprotect %p prot %#x", m->addr, prot);
		return;
	}
	prot = prots[fz_below(f, ARRAY_SIZE(prots))];
	if (f->fp > 1 && !fz_below(f, 6)) {
		/* Part of a large folio: refused, unless nothing changes and nothing splits. */
		size_t len = (1 + fz_below(f, f->fp - 1)) * RPG_PAGE;

		ret = mprotect(m->addr, len, prot) ? -errno : 0;
		fz_check(f, ret, prot == m->prot ? FZ_ALLOW(0, EINVAL) : FZ_ALLOW(EINVAL),
			 "mprotect %p, %zu bytes, prot %#x (was %#x)", m->addr, len, prot, m->prot);
		return;
	}
	ret = mprotect(m->addr, m->npages * f->unit, prot) ? -errno : 0;
	if (fz_check(f, ret, FZ_ALLOW(0), "mprotect %p prot %#x", m->addr, prot))
		m->prot = prot;
}

static void fz_op_mremap(struct fz *f)
{
	struct fz_map *m = fz_random_map(f);
	uint64_t old_len, new_len;
	int flags;
	void *p;

	if (!m) {
		fz_op_mmap(f);
		return;
	}
	f->kind = K_MREMAP;
	old_len = m->npages * f->unit;
	if (m->npages == 1 || fz_below(f, 2)) {
		/* VM_DONTEXPAND: growing fails (EFAULT on 6.12), in place or moving. */
		new_len = old_len + (1 + fz_below(f, 4)) * f->unit;
		flags = fz_below(f, 2) ? MREMAP_MAYMOVE : 0;
		p = mremap(m->addr, old_len, new_len, flags);
		if (p == MAP_FAILED) {
			f->refused[f->kind]++;
			return;
		}
		fz_violation(f, "mremap %p grew from %llu to %llu bytes, flags %#x", m->addr,
			     (unsigned long long)old_len, (unsigned long long)new_len, flags);
		munmap(p, new_len);
		if (p == m->addr)
			fz_reserve(f, m->addr, new_len / f->unit);
		else
			fz_reserve(f, m->addr, m->npages);
		m->addr = NULL;
		return;
	}
	if (f->fp > 1 && !fz_below(f, 4)) {
		/* A shrink that cuts a large folio: the VMA may not split there. */
		new_len = old_len - (1 + fz_below(f, f->fp - 1)) * RPG_PAGE;
		p = mremap(m->addr, old_len, new_len, 0);
		fz_check(f, p == MAP_FAILED ? -errno : 0, FZ_ALLOW(EINVAL),
			 "mremap %p shrink from %llu to %llu bytes", m->addr,
			 (unsigned long long)old_len, (unsigned long long)new_len);
		if (p != MAP_FAILED) {
			/* Give the slot up rather than model a mapping of part of a folio. */
			munmap(m->addr, old_len);
			fz_reserve(f, m->addr, m->npages);
			m->addr = NULL;
		}
		return;
	}
	new_len = old_len - (1 + fz_below(f, m->npages - 1)) * f->unit;
	p = mremap(m->addr, old_len, new_len, 0);
	if (!fz_check(f, p == MAP_FAILED ? -errno : 0, FZ_ALLOW(0),
		      "mremap %p shrink from %llu to %llu bytes", m->addr,
		      (unsigned long long)old_len, (unsigned long long)new_len))
		return;
	if (p != m->addr)
		fz_violation(f, "mremap shrink moved %p to %p", m->addr, p);
	fz_reserve(f, m->addr + new_len, (old_len - new_len) / f->unit);
	m->npages = new_len / f->unit;
	m->faulted &= (1U << m->npages) - 1;
	m->maybe &= (1U << m->npages) - 1;
}

static void fz_op_touch(struct fz *f)
{
	f->kind = K_TOUCH;
	if (!fz_random_map(f)) {
		fz_op_mmap(f);
		return;
	}
	fz_touches(f, 1 + fz_below(f, 4), true, false);
}

static void fz_op_fork(struct fz *f)
{
	int status = 0;
	pid_t pid;

	f->kind = K_FORK;
	/* Nothing buffered may be printed twice. */
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid == 0) {
		/*
		 * The child's copy of our mappings: its faults take references of its own, and it
		 * reads what the parent wrote.
		 */
		int bad = fz_touches(f, 4, false, true);

		_exit(bad > 100 ? 100 : bad);
	}
	if (pid < 0) {
		fz_violation(f, "fork: %s", strerror(errno));
		return;
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
		fz_violation(f, "child: status %#x (exit code: wrong touch results)", status);
}

/* TEARDOWN waits for every page we hold: give them all back first. */
static void fz_drop_all(struct fz *f)
{
	while (f->npins) {
		fz_check(f, fz_ioctl(f, RUST_PGMAP_IOC_UNPIN, &f->pins[0].handle), FZ_ALLOW(0),
			 "UNPIN handle %llu", (unsigned long long)f->pins[0].handle);
		f->pinned -= f->pins[0].count;
		fz_remove_hold(f->pins, &f->npins, 0);
	}
	while (f->nreqs) {
		fz_check(f, fz_ioctl(f, RUST_PGMAP_IOC_RELEASE, &f->reqs[0].handle), FZ_ALLOW(0),
			 "RELEASE handle %llu", (unsigned long long)f->reqs[0].handle);
		f->held -= f->reqs[0].count;
		fz_remove_hold(f->reqs, &f->nreqs, 0);
	}
}

static void fz_op_teardown(struct fz *f)
{
	struct rust_pgmap_teardown td = { 0 };
	enum fz_ptr mode;
	void *arg;
	int ret;

	f->kind = K_TEARDOWN;
	fz_drop_all(f);
	f->kind = K_TEARDOWN;
	mode = fz_ptr_mode(f);
	arg = mode == PTR_OK ? &td : mode == PTR_RO ? fz_ro(f, &td, sizeof(td)) : fz_bad_ptr(f);
	ret = fz_ioctl(f, RUST_PGMAP_IOC_TEARDOWN, arg);
	if (mode == PTR_OK) {
		fz_check(f, ret, f->live ? FZ_ALLOW(0) : FZ_ALLOW(ENXIO), "TEARDOWN (%s)",
			 f->live ? "live" : "dead");
		if (!ret) {
			f->live = false;
			fz_mark_zapped(f);
		}
		fz_status_check(f);
		return;
	}
	/* A buffer the result cannot be written to is refused before anything happens. */
	fz_check(f, ret, f->live ? FZ_ALLOW(EFAULT) : FZ_ALLOW(ENXIO), "TEARDOWN(%p) (%s)", arg,
		 f->live ? "live" : "dead");
	fz_status_check(f);
}

static void fz_op_attach(struct fz *f)
{
	struct rust_pgmap_status st = { 0 };
	enum fz_ptr mode = fz_ptr_mode(f);
	void *arg;
	int ret;

	f->kind = K_ATTACH;
	arg = mode == PTR_OK ? &st : mode == PTR_RO ? fz_ro(f, &st, sizeof(st)) : fz_bad_ptr(f);
	ret = fz_ioctl(f, RUST_PGMAP_IOC_ATTACH, arg);
	if (mode == PTR_OK) {
		fz_check(f, ret, f->live ? FZ_ALLOW(EBUSY) : FZ_ALLOW(0), "ATTACH (%s)",
			 f->live ? "live" : "dead");
		if (!ret) {
			f->live = true;
			if (st.state != RUST_PGMAP_STATE_LIVE || st.outstanding)
				fz_violation(f, "ATTACH reported state %u, %llu outstanding",
					     st.state, (unsigned long long)st.outstanding);
		}
		return;
	}
	/* A buffer the result cannot be written to is refused before anything happens. */
	fz_check(f, ret, f->live ? FZ_ALLOW(EBUSY) : FZ_ALLOW(EFAULT), "ATTACH(%p) (%s)", arg,
		 f->live ? "live" : "dead");
	fz_status_check(f);
}

static void fz_op_unknown(struct fz *f)
{
	static uint8_t buf[256];
	unsigned long cmd;
	void *arg;

	f->kind = K_UNKNOWN;
	cmd = fz_unknown_cmds[fz_below(f, ARRAY_SIZE(fz_unknown_cmds))];
	switch (fz_below(f, 3)) {
	case 0:
		arg = buf;
		break;
	case 1:
		arg = fz_bad_ptr(f);
		break;
	default:
		arg = (void *)(uintptr_t)fz_rnd64(f);
		break;
	}
	fz_check(f, fz_ioctl(f, cmd, arg), FZ_ALLOW(ENOTTY), "cmd %#lx arg %p", cmd, arg);
}

static void fz_step(struct fz *f)
{
	int r = fz_below(f, 1000);
	enum fz_kind k;

	for (k = 0; k < K_NR - 1; k++) {
		if (r < fz_kinds[k].weight)
			break;
		r -= fz_kinds[k].weight;
	}
	switch (k) {
	case K_STATUS:
		fz_op_status(f);
		break;
	case K_PIN:
		fz_op_pin(f);
		break;
	case K_UNPIN:
		fz_op_unpin(f);
		break;
	case K_REQUEST:
		fz_op_request(f);
		break;
	case K_RELEASE:
		fz_op_release(f);
		break;
	case K_MMAP:
		fz_op_mmap(f);
		break;
	case K_MUNMAP:
		fz_op_munmap(f);
		break;
	case K_MPROTECT:
		fz_op_mprotect(f);
		break;
	case K_MREMAP:
		fz_op_mremap(f);
		break;
	case K_TOUCH:
		fz_op_touch(f);
		break;
	case K_FORK:
		fz_op_fork(f);
		break;
	case K_TEARDOWN:
		fz_op_teardown(f);
		break;
	case K_ATTACH:
		fz_op_attach(f);
		break;
	default:
		fz_op_unknown(f);
		break;
	}
	f->count[f->kind]++;
}

RPG_FIXTURE(fuzz)

FIXTURE_SETUP(fuzz)
{
	RPG_FIXTURE_OPEN();
	ASSERT_EQ(0, self->st.pinned);
	ASSERT_EQ(0, self->st.held);
}

static const enum fz_kind fz_must_succeed[] = { K_REQUEST, K_TEARDOWN, K_ATTACH };

TEST_F_TIMEOUT(fuzz, fuzz_random_ops, 300)
{
	unsigned long seed = rpg_env_ulong("RUST_PGMAP_FUZZ_SEED", (uint32_t)rpg_now_ns());
	long ops = rpg_env_ulong("RUST_PGMAP_FUZZ_OPS", FZ_DEFAULT_OPS);
	uint64_t secs = rpg_env_ulong("RUST_PGMAP_FUZZ_SECS", FZ_DEFAULT_SECS);
	uint64_t start = rpg_now_ns(), deadline = start + secs * 1000000000ULL;
	static struct fz fz;
	struct fz *f = &fz;
	size_t arena_len;
	void *reservation;
	struct rust_pgmap_status st;
	long done;

	ksft_print_msg("fuzz: seed %u (RUST_PGMAP_FUZZ_SEED replays it), %d ops\n",
		       (uint32_t)seed, (int)ops);
	memset(f, 0, sizeof(*f));
	f->fd = self->fd;
	/* xorshift32 stays at zero forever. */
	f->rng = (uint32_t)seed ? (uint32_t)seed : 1;
	f->fp = rpg_folio_pages();
	ASSERT_NE(0, f->fp) TH_LOG("the module's status names no folio size");
	f->unit = f->fp * RPG_PAGE;
	f->nr_pages = self->st.nr_pages;
	f->nr = f->nr_pages / f->fp;
	f->win_first = FZ_WIN_FIRST_BYTES / f->unit;
	f->live = true;
	ASSERT_LT(f->win_first + FZ_WIN_PAGES + FZ_MAX_N + FZ_END_PAGES, f->nr);
	ksft_print_msg("fuzz: %llu KiB folios\n", (unsigned long long)f->unit / 1024);

	/* Aligned to a folio, so that each slot can map its folios by PMD. */
	arena_len = FZ_SLOTS * FZ_SLOT_PAGES * f->unit;
	reservation = mmap(NULL, arena_len + f->unit, PROT_NONE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ASSERT_NE(MAP_FAILED, reservation);
	f->arena = (uint8_t *)(((uintptr_t)reservation + f->unit - 1) & ~(uintptr_t)(f->unit - 1));
	f->anon = mmap(NULL, (FZ_ANON_PAGES + 1) * RPG_PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, f->anon);
	/* Faulted in, so that pins of it never meet the shared zero page. */
	memset(f->anon, 0x5a, FZ_ANON_PAGES * RPG_PAGE);
	ASSERT_EQ(0, mprotect(f->anon + FZ_ANON_PAGES * RPG_PAGE, RPG_PAGE, PROT_NONE));
	f->ro = mmap(NULL, RPG_PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, f->ro);

	for (done = 0; done < ops; done++) {
		if (!(done & 63) && rpg_now_ns() > deadline) {
			ksft_print_msg("fuzz: %llu s spent, stopping after %ld ops\n",
				       (unsigned long long)secs, done);
			break;
		}
		f->op = done;
		f->dead_ops += !f->live;
		fz_step(f);
	}
	f->op = done;

	/* Give everything back. */
	f->kind = K_STATUS;
	fz_drop_all(f);
	for (int i = 0; i < FZ_SLOTS; i++) {
		if (f->maps[i].addr)
			munmap(f->maps[i].addr, f->maps[i].npages * f->unit);
		f->maps[i].addr = NULL;
	}
	munmap(reservation, arena_len + f->unit);
	munmap(f->anon, (FZ_ANON_PAGES + 1) * RPG_PAGE);
	munmap(f->ro, RPG_PAGE);

	for (int k = 0; k < K_NR; k++)
		ksft_print_msg("fuzz: %-9s %6lu ops, %6lu failed\n", fz_kinds[k].name,
			       f->count[k], f->refused[k]);
	ksft_print_msg("fuzz: %ld ops in %.1f s (%lu with the pgmap dead), %lu violations\n",
		       done, (rpg_now_ns() - start) / 1e9, f->dead_ops, f->violations);
	EXPECT_EQ(0, f->violations) TH_LOG("seed %lu: see the violations above", seed);
	EXPECT_LE(ops < FZ_MIN_OPS ? ops : FZ_MIN_OPS, done)
		TH_LOG("the time bound stopped the walk after %ld ops: too few to prove anything", done);
	/* A walk whose every request, teardown or attach was refused checked only refusals. */
	for (size_t i = 0; i < ARRAY_SIZE(fz_must_succeed); i++) {
		enum fz_kind k = fz_must_succeed[i];

		EXPECT_LT(f->refused[k], f->count[k])
			TH_LOG("seed %lu: no %s succeeded", seed, fz_kinds[k].name);
	}

	ASSERT_EQ(0, rpg_make_live(self->fd));
	ASSERT_EQ(0, rpg_status(self->fd, &st));
	EXPECT_EQ(RUST_PGMAP_STATE_LIVE, st.state);
	EXPECT_EQ(0, st.outstanding) TH_LOG("folios leaked");
	EXPECT_EQ(0, st.pinned) TH_LOG("pins leaked");
	EXPECT_EQ(0, st.held) TH_LOG("requests leaked");
	EXPECT_EQ(st.requested, st.freed);
}

TEST_HARNESS_MAIN
