// SPDX-License-Identifier: GPL-2.0
/*
 * A page must not be handed out again while its free is still in flight: between the last put
 * of a folio and the end of its page_free, neither a REQUEST nor a fault may take it. For a
 * fixed time, threads churn the same four pages (region pages 0..3) every way they can be taken
 * and let go:
 *   A  REQUEST and RELEASE of 1..4 of them (EBUSY while one is in use is expected);
 *   B  mmap, write, munmap;
 *   C  one mapping: write all four, MADV_DONTNEED, over and over;
 *   D, E  O_DIRECT writes of one page (rotating) to /dev/nullb0 through io_uring, dropping
 *         their own mapping while the write is in flight, so that the unpin in the null_blk
 *         timer completion is now and then the last put and the page is freed in hard IRQ.
 * Then the module's freed_live (page_free found the page in use again) must be 0, and every
 * requested page freed.
 *
 * RUST_PGMAP_RACE_SECONDS sets the time (8 s). Should no page have been freed in IRQ by then,
 * the race goes on for up to RACE_EXTEND_SECS more before the test fails for it.
 */
#define _GNU_SOURCE
#include "rust_pgmap_lib.h"

#include <pthread.h>
#include <sys/syscall.h>

#include <linux/io_uring.h>

#include "kselftest_harness.h"
#include "rust_pgmap_fixture.h"
#include "rust_pgmap_uring.h"

#define NULLB_PATH "/dev/nullb0"
#define RACE_PAGES 4
#define RACE_DEFAULT_SECS 8
/* Bounded by the harness timeout below, with room for RACE_EXTEND_SECS and the alarm margin. */
#define RACE_MAX_SECS 480
#define RACE_EXTEND_SECS 20
#define RACE_ALARM_MARGIN 60
#define RACE_TIMEOUT 600
/* Threads A, B and C each run far more operations than this in a second. */
#define RACE_MIN_OPS 100
/* Where D and E write on the null device: clear of what other tests write. */
#define RACE_DEV_OFF (64 << 20)

enum { R_REQ, R_MAP, R_DONTNEED, R_DIO1, R_DIO2, R_NR };

static const char *const racer_names[R_NR] = {
	"A request/release", "B mmap/write/munmap", "C write/dontneed", "D o_direct", "E o_direct",
};


/* What every thread shares. */
struct race {
	int fd;  /* the device */
	int blk; /* NULLB_PATH, O_DIRECT */
	int stop;
};

struct racer {
	pthread_t tid;
	bool started;
	struct race *r;
	int kind; /* R_* */
	struct uring u; /* D and E */
	unsigned long ops, ok, ebusy, errors, sigbus;
	char first_error[128];
};

static bool race_stopped(struct race *r)
{
	return __atomic_load_n(&r->stop, __ATOMIC_ACQUIRE);
}

static void racer_error(struct racer *w, const char *what, int err)
{
	if (!w->errors++)
		snprintf(w->first_error, sizeof(w->first_error), "%s: %s", what, strerror(err));
}

/*
 * A fault on a live pgmap never fails; should one raise SIGBUS, the faulting thread counts it
 * and goes on. Outside race_write() the signal keeps its default action.
 */
static __thread sigjmp_buf race_jmp;
static __thread volatile int race_armed;

static void race_on_fault(int sig)
{
	if (race_armed)
		siglongjmp(race_jmp, sig);
	/* Not ours: fault again with the default action. */
	signal(sig, SIG_DFL);
}

/* Writes one byte in each of npages pages at p; false if that faulted. */
static bool race_write(struct racer *w, uint8_t *p, uint64_t npages, uint8_t v)
{
	if (sigsetjmp(race_jmp, 1)) {
		race_armed = 0;
		w->sigbus++;
		return false;
	}
	race_armed = 1;
	for (uint64_t i = 0; i < npages; i++)
		((volatile uint8_t *)p)[i * RPG_PAGE] = v;
	race_armed = 0;
	return true;
}

/* A: REQUEST 1..4 of the pages, RELEASE them at once. */
static void race_request(struct racer *w)
{
	uint32_t rng = 0x9e3779b9;
	uint64_t h = 0;
	int ret;

	while (!race_stopped(w->r)) {
		uint64_t npages, first;

		rng = rng * 1103515245 + 12345;
		npages = 1 + (rng >> 16) % RACE_PAGES;
		first = (rng >> 8) % (RACE_PAGES - npages + 1);
		w->ops++;
		ret = rpg_request(w->r->fd, first, npages, &h);
		if (ret == -EBUSY) {
			w->ebusy++;
			continue;
		}
		if (ret) {
			racer_error(w, "REQUEST", -ret);
			continue;
		}
		w->ok++;
		ret = rpg_release(w->r->fd, h);
		if (ret)
			racer_error(w, "RELEASE", -ret);
	}
}

/* B: map, write, unmap. */
static void race_map(struct racer *w)
{
	uint8_t *p;

	while (!race_stopped(w->r)) {
		p = rpg_map(w->r->fd, 0, RACE_PAGES);
		if (p == MAP_FAILED) {
			racer_error(w, "mmap", errno);
			continue;
		}
		w->ok += race_write(w, p, RACE_PAGES, (uint8_t)w->ops);
		if (munmap(p, RACE_PAGES * RPG_PAGE))
			racer_error(w, "munmap", errno);
		w->ops++;
	}
}

/* C: one mapping, write all, drop all. */
static void race_dontneed(struct racer *w)
{
	uint8_t *p = rpg_map(w->r->fd, 0, RACE_PAGES);

	if (p == MAP_FAILED) {
		racer_error(w, "mmap", errno);
		return;
	}
	while (!race_stopped(w->r)) {
		w->ok += race_write(w, p, RACE_PAGES, (uint8_t)w->ops);
		if (madvise(p, RACE_PAGES * RPG_PAGE, MADV_DONTNEED))
			racer_error(w, "madvise", errno);
		w->ops++;
	}
	if (munmap(p, RACE_PAGES * RPG_PAGE))
		racer_error(w, "munmap", errno);
}

/*
 * D and E: an O_DIRECT write of one page, the page rotating. The thread drops its mapping as
 * soon as the write is submitted: the write's pin, released by the timer completion in hard
 * IRQ, is then the last reference unless B, C or A hold the page at that moment. Sync pwrite()
 * would not do: it unpins in the writer after the wait (__blkdev_direct_IO_simple()).
 */
static void race_dio(struct racer *w)
{
	int n = w->kind - R_DIO1, res = 0, ret;
	uint8_t *p = rpg_map(w->r->fd, 0, RACE_PAGES);
	uint64_t k = n * 2;

	if (p == MAP_FAILED) {
		racer_error(w, "mmap", errno);
		return;
	}
	while (!race_stopped(w->r)) {
		uint8_t *pg = p + k * RPG_PAGE;

		race_write(w, pg, 1, (uint8_t)w->ops);
		ret = uring_submit(&w->u, IORING_OP_WRITE, w->r->blk, pg, RPG_PAGE,
				   RACE_DEV_OFF + (n * RACE_PAGES + k) * RPG_PAGE);
		if (ret) {
			racer_error(w, "io_uring submit", -ret);
			usleep(10000);
			continue;
		}
		if (madvise(p, RACE_PAGES * RPG_PAGE, MADV_DONTNEED))
			racer_error(w, "madvise", errno);
		ret = uring_wait(&w->u, &res);
		if (ret) {
			/* The write's fate is unknown: stop before the ring gets confused. */
			racer_error(w, "io_uring wait", -ret);
			break;
		}
		w->ops++;
		if (res == (int)RPG_PAGE)
			w->ok++;
		else
			racer_error(w, "O_DIRECT write", res < 0 ? -res : EIO);
		k = (k + 1) % RACE_PAGES;
	}
	if (munmap(p, RACE_PAGES * RPG_PAGE))
		racer_error(w, "munmap", errno);
}

static void *racer_main(void *arg)
{
	struct racer *w = arg;

	switch (w->kind) {
	case R_REQ:
		race_request(w);
		break;
	case R_MAP:
		race_map(w);
		break;
	case R_DONTNEED:
		race_dontneed(w);
		break;
	default:
		race_dio(w);
		break;
	}
	return NULL;
}

RPG_FIXTURE(free_race)

FIXTURE_SETUP(free_race)
{
	RPG_FIXTURE_OPEN();
	if (self->st.nr_pages < RACE_PAGES)
		SKIP(return, "region of %llu pages", (unsigned long long)self->st.nr_pages);
}

TEST_F_TIMEOUT(free_race, free_never_overlaps_a_new_request, RACE_TIMEOUT)
{
	unsigned long secs = rpg_env_ulong("RUST_PGMAP_RACE_SECONDS", RACE_DEFAULT_SECS);
	struct sigaction sa = { .sa_handler = race_on_fault }, old_bus, old_segv;
	struct rust_pgmap_status st0, st;
	struct race r = { .fd = self->fd };
	struct racer w[R_NR];
	uint64_t start, elapsed_ms, irq = 0;
	bool create_failed = false;
	int ret;

	if (!secs)
		secs = 1;
	if (secs > RACE_MAX_SECS) {
		ksft_print_msg("RUST_PGMAP_RACE_SECONDS %lu capped at %u\n", secs, RACE_MAX_SECS);
		secs = RACE_MAX_SECS;
	}
	r.blk = open(NULLB_PATH, O_RDWR | O_DIRECT);
	if (r.blk < 0)
		SKIP(return, NULLB_PATH ": %s", strerror(errno));
	memset(w, 0, sizeof(w));
	for (int i = 0; i < R_NR; i++) {
		w[i].r = &r;
		w[i].kind = i;
	}
	ret = uring_init(&w[R_DIO1].u);
	if (!ret) {
		ret = uring_init(&w[R_DIO2].u);
		if (ret)
			uring_exit(&w[R_DIO1].u);
	}
	if (ret) {
		close(r.blk);
		SKIP(return, "io_uring_setup: %s", strerror(-ret));
	}
	alarm(secs + RACE_EXTEND_SECS + RACE_ALARM_MARGIN);
	sigaction(SIGBUS, &sa, &old_bus);
	sigaction(SIGSEGV, &sa, &old_segv);
	ASSERT_EQ(0, rpg_status(self->fd, &st0));

	/* No ASSERT while the threads run: they would go on racing the fixture's teardown. */
	for (int i = 0; i < R_NR; i++) {
		ret = pthread_create(&w[i].tid, NULL, racer_main, &w[i]);
		EXPECT_EQ(0, ret) TH_LOG("pthread_create %s: %s", racer_names[i], strerror(ret));
		if (ret) {
			create_failed = true;
			break;
		}
		w[i].started = true;
	}

	start = rpg_now_ns();
	for (;;) {
		if (create_failed)
			break;
		usleep(100000);
		elapsed_ms = (rpg_now_ns() - start) / 1000000;
		if (elapsed_ms < secs * 1000)
			continue;
		if (!rpg_status(self->fd, &st))
			irq = st.freed_in_irq - st0.freed_in_irq;
		if (irq || elapsed_ms >= (secs + RACE_EXTEND_SECS) * 1000)
			break;
	}
	__atomic_store_n(&r.stop, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < R_NR; i++)
		if (w[i].started)
			EXPECT_EQ(0, pthread_join(w[i].tid, NULL));
	elapsed_ms = (rpg_now_ns() - start) / 1000000;
	sigaction(SIGBUS, &old_bus, NULL);
	sigaction(SIGSEGV, &old_segv, NULL);
	uring_exit(&w[R_DIO1].u);
	uring_exit(&w[R_DIO2].u);
	close(r.blk);

	/*
	 * Every mapping is gone and every request released. The last unpin of a completed write
	 * may still be running in the IRQ that posted its completion.
	 */
	EXPECT_EQ(0, rpg_wait_outstanding(self->fd, 0, 2000));
	ASSERT_EQ(0, rpg_status(self->fd, &st));
	alarm(0);

	ksft_print_msg("raced %llu ms: requested +%llu, freed +%llu, freed_in_irq +%llu, "
		       "freed_live %llu (+%llu), outstanding %llu\n",
		       (unsigned long long)elapsed_ms,
		       (unsigned long long)(st.requested - st0.requested),
		       (unsigned long long)(st.freed - st0.freed),
		       (unsigned long long)(st.freed_in_irq - st0.freed_in_irq),
		       (unsigned long long)st.freed_live,
		       (unsigned long long)(st.freed_live - st0.freed_live),
		       (unsigned long long)st.outstanding);
	for (int i = 0; i < R_NR; i++)
		ksft_print_msg("%-20s ops %lu ok %lu ebusy %lu sigbus %lu errors %lu%s%s\n",
			       racer_names[i], w[i].ops, w[i].ok, w[i].ebusy, w[i].sigbus,
			       w[i].errors, w[i].errors ? ", first: " : "", w[i].first_error);

	EXPECT_EQ(0, st.freed_live - st0.freed_live)
		TH_LOG("page_free ran on a page that was in use again");
	EXPECT_EQ(0, st.freed_live) TH_LOG("freed_live was already %llu before the test",
					   (unsigned long long)st0.freed_live);
	EXPECT_EQ(0, st.outstanding);
	EXPECT_EQ(st.requested, st.freed);
	EXPECT_EQ(0, st.held);
	EXPECT_EQ(0, st.pinned);
	EXPECT_LE(1, st.freed_in_irq - st0.freed_in_irq)
		TH_LOG("no page was freed in IRQ: the completions never raced the frees");
	for (int i = 0; i < R_NR; i++) {
		EXPECT_EQ(0, w[i].errors) TH_LOG("%s: %s", racer_names[i], w[i].first_error);
		EXPECT_EQ(0, w[i].sigbus) TH_LOG("%s: a fault on a live pgmap failed",
						 racer_names[i]);
		EXPECT_LE(i < R_DIO1 ? RACE_MIN_OPS : 1, w[i].ops)
			TH_LOG("%s hardly ran", racer_names[i]);
	}
}

TEST_HARNESS_MAIN
