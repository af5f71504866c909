// SPDX-License-Identifier: GPL-2.0
/*
 * Teardown and re-attach, over and over, while worker threads fault, pin, request and remap
 * pages of their own mappings. Every teardown must drain (workers hold pins only briefly),
 * nothing may leak, and data written before a teardown must read back after the re-attach.
 *
 * RUST_PGMAP_STRESS_CYCLES and RUST_PGMAP_STRESS_SECS change the bounds (50 cycles, 60 s).
 * With 2 MiB folios (large_folios.sh runs it so) mappings and requests take whole folios, and
 * windows and ranges are counted in folios.
 */
#define _GNU_SOURCE
#include "rust_pgmap_lib.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>

#include "kselftest_harness.h"
#include "rust_pgmap_fixture.h"

#define ST_WORKERS 3
#define ST_DEFAULT_CYCLES 50
#define ST_DEFAULT_SECS 60
/* Fewer cycles than this prove nothing, time bound or not. */
#define ST_MIN_CYCLES 20
/* The teardown thread's pattern pages. */
#define ST_DATA_FIRST 60000
#define ST_DATA_PAGES 16
/* Each worker's window of region folios, from this page, clear of the others' and the pattern. */
#define ST_WIN_FIRST 8192
#define ST_WIN_FOLIOS 64
#define ST_MAPS 2
/* At most this many folios in a mapping, and in a request. */
#define ST_MAX_N 8
#define ST_MAX_REQUEST 4
/* 2 MiB folios: fewer per window and per range, so that the region holds every window. */
#define ST_LARGE_WIN_FOLIOS 8
#define ST_LARGE_MAX_N 2

/* Set up before the workers start: pages per folio, and the bounds above in folios. */
static uint64_t st_folio_pages, st_win_folios, st_max_n, st_max_request, st_data_first;

enum st_kind { S_TOUCH, S_PIN, S_REQUEST, S_REMAP, S_NR };

static const char *const st_kind_names[S_NR] = { "touch", "pin", "request", "remap" };

struct st_ctl {
	int stop;
	/*
	 * Odd from just before a TEARDOWN until its ATTACH returned. An op that saw the same
	 * even value before and after it ran entirely against a live pgmap.
	 */
	unsigned long epoch;
};

struct st_map {
	uint8_t *addr; /* NULL: not mapped */
	uint64_t first, npages;
};

struct st_worker {
	pthread_t tid;
	struct st_ctl *ctl;
	int idx;
	uint32_t rng;
	uint64_t win;
	struct st_map maps[ST_MAPS];
	unsigned long ops[S_NR], ok[S_NR];
	unsigned long sigbus, pin_efault, held_pins;
	unsigned long violations;
	char first_violation[192];
};

/* Per thread: rpg_touch()'s jump buffer is global, so threads cannot share it. */
static __thread sigjmp_buf st_jmp;
static __thread volatile sig_atomic_t st_armed;

static void st_on_fault(int sig)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };

	if (st_armed)
		siglongjmp(st_jmp, sig);
	/* A fault outside a guarded access is a bug in the test: let it kill us. */
	sigaction(sig, &dfl, NULL);
}

/* Touches *p (a read, or a write if write is set); returns the signal it raised, or 0. */
static int st_touch(volatile uint8_t *p, bool write)
{
	int sig;

	st_armed = 1;
	sig = sigsetjmp(st_jmp, 1);
	if (!sig) {
		if (write)
			*p = *p;
		else
			(void)*p;
	}
	st_armed = 0;
	return sig;
}

static int st_guarded_fill(uint8_t *p, uint32_t seed)
{
	int sig;

	st_armed = 1;
	sig = sigsetjmp(st_jmp, 1);
	if (!sig)
		rpg_fill(p, st_data_first, ST_DATA_PAGES, seed);
	st_armed = 0;
	return sig;
}

static int st_guarded_verify(const uint8_t *p, uint32_t seed, uint64_t *bad)
{
	int sig;

	st_armed = 1;
	sig = sigsetjmp(st_jmp, 1);
	if (!sig)
		*bad = rpg_verify(p, st_data_first, ST_DATA_PAGES, seed);
	st_armed = 0;
	return sig;
}

static uint32_t st_rnd(uint32_t *state)
{
	uint32_t x = *state;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*state = x;
	return x;
}

static uint32_t st_below(struct st_worker *w, uint32_t n)
{
	return st_rnd(&w->rng) % n;
}

static unsigned long st_epoch(struct st_ctl *c)
{
	return __atomic_load_n(&c->epoch, __ATOMIC_SEQ_CST);
}

/* Whether the pgmap was live, and stayed so, from the epoch read as @e0 until now. */
static bool st_stayed_live(struct st_ctl *c, unsigned long e0)
{
	return !(e0 & 1) && st_epoch(c) == e0;
}

static void st_violation(struct st_worker *w, const char *fmt, ...) __printf(2, 3);

static void st_violation(struct st_worker *w, const char *fmt, ...)
{
	va_list ap;

	/* Only the first is kept: the harness's logging is not made for threads. */
	if (!w->violations++) {
		va_start(ap, fmt);
		vsnprintf(w->first_violation, sizeof(w->first_violation), fmt, ap);
		va_end(ap);
	}
}

static struct st_map *st_pick(struct st_worker *w)
{
	struct st_map *m = &w->maps[st_below(w, ST_MAPS)];

	return m->addr ? m : NULL;
}

/* Replaces a mapping with a new one of a random small range of the worker's window. */
static void st_remap(struct st_worker *w, int fd, struct st_map *m)
{
	uint64_t n = 1 + st_below(w, st_max_n);
	uint64_t first = w->win + st_below(w, st_win_folios - n + 1) * st_folio_pages;
	void *p;

	n *= st_folio_pages;
	w->ops[S_REMAP]++;
	if (m->addr && munmap(m->addr, m->npages * RPG_PAGE))
		st_violation(w, "munmap: %s", strerror(errno));
	m->addr = NULL;
	/* mmap does not depend on the pgmap's state: it must always work. */
	p = rpg_map(fd, first, n);
	if (p == MAP_FAILED) {
		st_violation(w, "mmap of %llu pages from %llu: %s", (unsigned long long)n,
			     (unsigned long long)first, strerror(errno));
		return;
	}
	w->ok[S_REMAP]++;
	m->addr = p;
	m->first = first;
	m->npages = n;
}

static void st_do_touch(struct st_worker *w, struct st_map *m)
{
	uint64_t k = st_below(w, m->npages);
	unsigned long e0 = st_epoch(w->ctl);
	bool write = st_below(w, 2);
	int sig;

	w->ops[S_TOUCH]++;
	sig = st_touch(m->addr + k * RPG_PAGE + st_below(w, RPG_PAGE), write);
	if (!sig) {
		w->ok[S_TOUCH]++;
		return;
	}
	if (sig == SIGBUS)
		w->sigbus++;
	/* SIGBUS only once the teardown started; never SIGSEGV in our own mapping. */
	if (sig != SIGBUS || st_stayed_live(w->ctl, e0))
		st_violation(w, "signal %d touching region page %llu%s", sig,
			     (unsigned long long)(m->first + k),
			     sig == SIGBUS ? " while live" : "");
}

static void st_do_pin(struct st_worker *w, int fd, struct st_map *m)
{
	uint64_t off = st_below(w, m->npages), n = 1 + st_below(w, m->npages - off), h = 0;
	uint32_t flags = st_below(w, 2) ? RUST_PGMAP_PIN_WRITE : 0;
	unsigned long e0 = st_epoch(w->ctl);
	int ret;

	w->ops[S_PIN]++;
	ret = rpg_pin(fd, m->addr + off * RPG_PAGE, n, flags, &h);
	if (ret) {
		/* Any errno is fine once the teardown started; none while it cannot have. */
		if (ret == -EFAULT)
			w->pin_efault++;
		if (st_stayed_live(w->ctl, e0))
			st_violation(w, "PIN of %llu pages from region page %llu while live: %s",
				     (unsigned long long)n, (unsigned long long)(m->first + off),
				     strerror(-ret));
		return;
	}
	w->ok[S_PIN]++;
	/* Now and then hold the pin a little, so that a teardown waits for it. */
	if (!st_below(w, 4)) {
		w->held_pins++;
		usleep(1 + st_below(w, 1000));
	}
	ret = rpg_unpin(fd, h);
	if (ret)
		st_violation(w, "UNPIN %llu: %s", (unsigned long long)h, strerror(-ret));
}

static void st_do_request(struct st_worker *w, int fd)
{
	uint64_t n = 1 + st_below(w, st_max_request), h = 0;
	uint64_t first = w->win + st_below(w, st_win_folios - n + 1) * st_folio_pages;
	unsigned long e0 = st_epoch(w->ctl);
	int ret;

	n *= st_folio_pages;
	w->ops[S_REQUEST]++;
	ret = rpg_request(fd, first, n, &h);
	if (ret) {
		/* Our own mappings keep pages busy; ENXIO only once the teardown started. */
		if (ret != -EBUSY && !(ret == -ENXIO && !st_stayed_live(w->ctl, e0)))
			st_violation(w, "REQUEST of %llu pages from %llu: %s",
				     (unsigned long long)n, (unsigned long long)first,
				     strerror(-ret));
		return;
	}
	w->ok[S_REQUEST]++;
	ret = rpg_release(fd, h);
	if (ret)
		st_violation(w, "RELEASE %llu: %s", (unsigned long long)h, strerror(-ret));
}

static void *st_worker_main(void *arg)
{
	struct st_worker *w = arg;
	int fd = open(RPG_DEV, O_RDWR);

	if (fd < 0) {
		st_violation(w, "open: %s", strerror(errno));
		return NULL;
	}
	for (int i = 0; i < ST_MAPS; i++)
		st_remap(w, fd, &w->maps[i]);

	while (!__atomic_load_n(&w->ctl->stop, __ATOMIC_SEQ_CST)) {
		uint32_t r = st_below(w, 100);
		struct st_map *m = st_pick(w);

		if (r < 80 && !m)
			r = 80;
		if (r < 45)
			st_do_touch(w, m);
		else if (r < 70)
			st_do_pin(w, fd, m);
		else if (r < 80)
			st_do_request(w, fd);
		else
			st_remap(w, fd, &w->maps[st_below(w, ST_MAPS)]);
		/*
		 * While the pgmap is down every op fails at once: keep racing the teardown, but
		 * leave the two vCPUs some time for its drain, memunmap and memremap.
		 */
		if (st_epoch(w->ctl) & 1)
			usleep(100);
	}

	for (int i = 0; i < ST_MAPS; i++)
		if (w->maps[i].addr)
			munmap(w->maps[i].addr, w->maps[i].npages * RPG_PAGE);
	close(fd);
	return NULL;
}

RPG_FIXTURE(stress)

FIXTURE_SETUP(stress)
{
	bool large;

	RPG_FIXTURE_OPEN();
	st_folio_pages = rpg_folio_pages();
	ASSERT_LT(0, st_folio_pages) TH_LOG("no folio_size in the module's status");
	large = st_folio_pages > 1;
	st_win_folios = large ? ST_LARGE_WIN_FOLIOS : ST_WIN_FOLIOS;
	st_max_n = large ? ST_LARGE_MAX_N : ST_MAX_N;
	st_max_request = large ? ST_LARGE_MAX_N : ST_MAX_REQUEST;
	st_data_first = rpg_round_up(ST_DATA_FIRST, st_folio_pages);
	ASSERT_LE(ST_WIN_FIRST + ST_WORKERS * st_win_folios * st_folio_pages, st_data_first);
	if (self->st.nr_pages < st_data_first + rpg_round_up(ST_DATA_PAGES, st_folio_pages))
		SKIP(return, "region of %llu pages, the test needs %llu",
		     (unsigned long long)self->st.nr_pages,
		     (unsigned long long)(st_data_first +
					  rpg_round_up(ST_DATA_PAGES, st_folio_pages)));
}

TEST_F_TIMEOUT(stress, stress_teardown_attach_vs_workers, 240)
{
	unsigned long want = rpg_env_ulong("RUST_PGMAP_STRESS_CYCLES", ST_DEFAULT_CYCLES);
	uint64_t secs = rpg_env_ulong("RUST_PGMAP_STRESS_SECS", ST_DEFAULT_SECS);
	struct sigaction sa = { .sa_handler = st_on_fault }, old_bus, old_segv;
	unsigned long cycles = 0, violations = 0, ops[S_NR] = { 0 }, ok[S_NR] = { 0 };
	unsigned long sigbus = 0, pin_efault = 0, held_pins = 0, killed_busy = 0;
	uint64_t start, deadline, lost = 0, waited_ns = 0, max_out = 0;
	uint64_t data_len = rpg_round_up(ST_DATA_PAGES, st_folio_pages) * RPG_PAGE;
	struct st_worker workers[ST_WORKERS];
	struct st_ctl ctl = { 0 };
	struct rust_pgmap_status st;
	uint32_t rng = 0x57e55u;
	bool timed_out = false;
	int started = 0;

	/* Process-wide handlers; which thread jumps where is decided by its own st_armed. */
	ASSERT_EQ(0, sigaction(SIGBUS, &sa, &old_bus));
	ASSERT_EQ(0, sigaction(SIGSEGV, &sa, &old_segv));

	memset(workers, 0, sizeof(workers));
	for (int i = 0; i < ST_WORKERS; i++) {
		struct st_worker *w = &workers[i];
		int err;

		w->ctl = &ctl;
		w->idx = i;
		w->rng = 0x9e3779b9u * (i + 1);
		w->win = ST_WIN_FIRST + i * st_win_folios * st_folio_pages;
		err = pthread_create(&w->tid, NULL, st_worker_main, w);
		if (err) {
			TH_LOG("pthread_create: %s", strerror(err));
			break;
		}
		started++;
	}
	EXPECT_EQ(ST_WORKERS, started);

	start = rpg_now_ns();
	deadline = start + secs * 1000000000ULL;
	/* No ASSERT from here until the workers are joined: they must be stopped first. */
	while (started == ST_WORKERS && cycles < want) {
		uint32_t seed = 0x5eed0000u + cycles;
		struct rust_pgmap_teardown td = { 0 };
		uint64_t bad = 0;
		uint8_t *d;
		int ret;

		if (rpg_now_ns() > deadline) {
			timed_out = true;
			break;
		}
		d = rpg_map(self->fd, st_data_first, data_len / RPG_PAGE);
		if (d == MAP_FAILED) {
			TH_LOG("cycle %lu: mmap: %s", cycles, strerror(errno));
			violations++;
			break;
		}
		if (st_guarded_fill(d, seed)) {
			TH_LOG("cycle %lu: fault writing the pattern while live", cycles);
			violations++;
		}
		/* Let the workers run against the live pgmap for a moment. */
		usleep(2000 + st_rnd(&rng) % 8000);

		__atomic_add_fetch(&ctl.epoch, 1, __ATOMIC_SEQ_CST);
		ret = rpg_teardown(self->fd, &td);
		munmap(d, data_len);
		if (ret) {
			TH_LOG("cycle %lu: TEARDOWN: %s", cycles, strerror(-ret));
			violations++;
			break;
		}
		waited_ns += td.waited_ns;
		if (td.outstanding > max_out)
			max_out = td.outstanding;
		killed_busy += td.outstanding > 0;
		ret = rpg_attach(self->fd);
		if (ret) {
			TH_LOG("cycle %lu: ATTACH: %s", cycles, strerror(-ret));
			violations++;
			break;
		}
		__atomic_add_fetch(&ctl.epoch, 1, __ATOMIC_SEQ_CST);

		d = rpg_map(self->fd, st_data_first, data_len / RPG_PAGE);
		if (d == MAP_FAILED) {
			TH_LOG("cycle %lu: mmap after attach: %s", cycles, strerror(errno));
			violations++;
			break;
		}
		if (st_guarded_verify(d, seed, &bad)) {
			TH_LOG("cycle %lu: fault reading the pattern back while live", cycles);
			violations++;
			bad = ST_DATA_PAGES * RPG_PAGE;
		}
		if (bad)
			TH_LOG("cycle %lu: %llu bytes lost", cycles, (unsigned long long)bad);
		lost += bad;
		munmap(d, data_len);
		cycles++;
	}

	__atomic_store_n(&ctl.stop, 1, __ATOMIC_SEQ_CST);
	for (int i = 0; i < started; i++) {
		struct st_worker *w = &workers[i];

		pthread_join(w->tid, NULL);
		for (int k = 0; k < S_NR; k++) {
			ops[k] += w->ops[k];
			ok[k] += w->ok[k];
		}
		sigbus += w->sigbus;
		pin_efault += w->pin_efault;
		held_pins += w->held_pins;
		violations += w->violations;
		if (w->violations)
			TH_LOG("worker %d: %lu violations, the first: %s", i, w->violations,
			       w->first_violation);
	}
	sigaction(SIGBUS, &old_bus, NULL);
	sigaction(SIGSEGV, &old_segv, NULL);

	ksft_print_msg("stress: %lu cycles in %.1f s%s, %llu bytes lost\n", cycles,
		       (rpg_now_ns() - start) / 1e9, timed_out ? " (time bound hit)" : "",
		       (unsigned long long)lost);
	for (int k = 0; k < S_NR; k++)
		ksft_print_msg("stress: %-8s %8lu ops, %8lu succeeded\n", st_kind_names[k], ops[k],
			       ok[k]);
	ksft_print_msg("stress: %lu SIGBUS, %lu PIN EFAULT, %lu pins held for a while\n", sigbus,
		       pin_efault, held_pins);
	ksft_print_msg("stress: teardowns waited %.1f ms, at most %llu folios out at a kill\n",
		       waited_ns / 1e6, (unsigned long long)max_out);

	EXPECT_EQ(0, violations);
	EXPECT_EQ(0, lost) TH_LOG("bytes lost across teardown and attach");
	EXPECT_TRUE(cycles >= want || timed_out) TH_LOG("%lu of %lu cycles", cycles, want);
	EXPECT_LE(ST_MIN_CYCLES < want ? ST_MIN_CYCLES : want, cycles)
		TH_LOG("only %lu cycles: too few to prove anything", cycles);
	/* Teardowns met the workers' folios, and waited for them. */
	EXPECT_LT(0, killed_busy) TH_LOG("no teardown found a folio in use");
	EXPECT_LT(0, waited_ns) TH_LOG("no teardown waited");
	/* The workers did get to run against a live pgmap. */
	EXPECT_LT(0, ok[S_PIN]);
	EXPECT_LT(0, ok[S_TOUCH]);

	ASSERT_EQ(0, rpg_make_live(self->fd));
	ASSERT_EQ(0, rpg_status(self->fd, &st));
	EXPECT_EQ(RUST_PGMAP_STATE_LIVE, st.state);
	EXPECT_EQ(0, st.outstanding) TH_LOG("folios leaked");
	EXPECT_EQ(st.requested, st.freed);
	EXPECT_EQ(0, st.pinned) TH_LOG("pins leaked");
	EXPECT_EQ(0, st.held) TH_LOG("requests leaked");
}

TEST_HARNESS_MAIN
