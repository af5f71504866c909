// SPDX-License-Identifier: GPL-2.0
/*
 * The pgmap lifecycle through /dev/rust_pgmap: requests, mappings, the module's own pins,
 * the two-phase teardown and re-attach.
 */
#include <pthread.h>

#include "rust_pgmap_lib.h"

#include "kselftest_harness.h"
#include "rust_pgmap_fixture.h"
#include "rust_pgmap_teardown.h"
#include "rust_pgmap_trace.h"

/* A teardown that does not complete within this is stuck. */
#define TD_TIMEOUT_MS 10000

RPG_FIXTURE(pgmap)

FIXTURE_SETUP(pgmap)
{
	RPG_FIXTURE_OPEN();
}

TEST_F(pgmap, request_takes_and_release_returns_folios)
{
	struct rust_pgmap_status st;
	uint64_t h = 0;

	ASSERT_EQ(0, rpg_request(self->fd, 0, 4, &h));
	ASSERT_EQ(0, rpg_status(self->fd, &st));
	EXPECT_EQ(self->st.requested + 4, st.requested);
	EXPECT_EQ(4, st.outstanding);
	EXPECT_EQ(4, st.held);

	ASSERT_EQ(0, rpg_release(self->fd, h));
	ASSERT_EQ(0, rpg_status(self->fd, &st));
	EXPECT_EQ(st.requested, st.freed);
	EXPECT_EQ(0, st.outstanding);
	EXPECT_EQ(0, st.held);
}

TEST_F(pgmap, request_in_use_ebusy_takes_nothing)
{
	struct rust_pgmap_status st;
	uint64_t h = 0, h2 = 0;

	ASSERT_EQ(0, rpg_request(self->fd, 8, 4, &h));
	/* Overlaps page 11 only: all or nothing. */
	EXPECT_EQ(-EBUSY, rpg_request(self->fd, 11, 4, &h2));
	ASSERT_EQ(0, rpg_status(self->fd, &st));
	EXPECT_EQ(self->st.requested + 4, st.requested);
	EXPECT_EQ(4, st.outstanding);
	ASSERT_EQ(0, rpg_release(self->fd, h));
}

TEST_F(pgmap, request_out_of_range_erange)
{
	struct rust_pgmap_status st;
	uint64_t h = 0, n = self->st.nr_pages;

	EXPECT_EQ(-ERANGE, rpg_request(self->fd, n - 1, 2, &h));
	EXPECT_EQ(-ERANGE, rpg_request(self->fd, n, 1, &h));
	EXPECT_EQ(-ERANGE, rpg_request(self->fd, 0, n + 1, &h));
	ASSERT_EQ(0, rpg_status(self->fd, &st));
	EXPECT_EQ(self->st.requested, st.requested);
	/* The last page is in range. */
	ASSERT_EQ(0, rpg_request(self->fd, n - 1, 1, &h));
	ASSERT_EQ(0, rpg_release(self->fd, h));
}

TEST_F(pgmap, request_overflow_or_empty_einval)
{
	struct rust_pgmap_status st;
	uint64_t h = 0;

	EXPECT_EQ(-EINVAL, rpg_request(self->fd, UINT64_MAX - 1, 4, &h));
	EXPECT_EQ(-EINVAL, rpg_request(self->fd, 4, UINT64_MAX, &h));
	EXPECT_EQ(-EINVAL, rpg_request(self->fd, 0, 0, &h));
	ASSERT_EQ(0, rpg_status(self->fd, &st));
	EXPECT_EQ(self->st.requested, st.requested);
}

TEST_F(pgmap, release_unknown_or_twice_enoent)
{
	uint64_t h = 0;

	EXPECT_EQ(-ENOENT, rpg_release(self->fd, 12345));
	ASSERT_EQ(0, rpg_request(self->fd, 0, 1, &h));
	EXPECT_EQ(0, rpg_release(self->fd, h));
	EXPECT_EQ(-ENOENT, rpg_release(self->fd, h));
	EXPECT_EQ(-ENOENT, rpg_unpin(self->fd, h));
}

TEST_F(pgmap, request_while_dying_enxio)
{
	uint64_t h = 0, h2 = 0;
	struct td_child c;

	ASSERT_EQ(0, rpg_request(self->fd, 0, 1, &h));
	ASSERT_EQ(0, td_start(&c));
	ASSERT_EQ(0, rpg_wait_state(self->fd, RUST_PGMAP_STATE_DYING, 5000));
	EXPECT_EQ(-ENXIO, rpg_request(self->fd, 1, 1, &h2));
	EXPECT_TRUE(td_running(&c)) TH_LOG("teardown did not wait");
	ASSERT_EQ(0, rpg_release(self->fd, h));
	ASSERT_EQ(0, td_finish(&c, TD_TIMEOUT_MS));
	EXPECT_EQ(0, rpg_wait_state(self->fd, RUST_PGMAP_STATE_DEAD, 1000));
}

/*
 * The last folio of a drain freed in hard interrupt context, as a device's completion would
 * free it, wakes the teardown; the host then checks that lockdep saw nothing a PREEMPT_RT
 * kernel would forbid there.
 */
TEST_F(pgmap, release_in_hard_irq_wakes_the_drain)
{
	struct rust_pgmap_status st;
	struct td_child c;
	uint64_t h = 0;

	ASSERT_EQ(0, rpg_request(self->fd, 40, 4, &h));
	ASSERT_EQ(0, td_start(&c));
	ASSERT_EQ(0, rpg_wait_state(self->fd, RUST_PGMAP_STATE_DYING, 5000));
	/* Blocked on the request before the release, or the wake-up proves nothing. */
	usleep(100000);
	EXPECT_TRUE(td_running(&c)) TH_LOG("the teardown did not wait for the request");
	ASSERT_EQ(0, ioctl(self->fd, RUST_PGMAP_IOC_RELEASE_HARDIRQ, &h)) TH_LOG("%s", strerror(errno));
	ASSERT_EQ(0, td_finish(&c, TD_TIMEOUT_MS));
	ASSERT_EQ(0, rpg_status(self->fd, &st));
	EXPECT_EQ(RUST_PGMAP_STATE_DEAD, st.state);
	EXPECT_EQ(self->st.freed_in_irq + 4, st.freed_in_irq);
	EXPECT_EQ(0, st.held);
	EXPECT_EQ(-ENOENT, rpg_release(self->fd, h));
}

/*
 * PREEMPT_RT forbids freeing memory in hard interrupt context, where the slab allocators'
 * locks sleep. A release from a hard-IRQ timer, as a device's completion would release, must
 * only put the pages and wake the drain: the kmem trace events, watched from outside the
 * module, show no free in hard IRQ whose stack runs through rust_pgmap. Closing a second file
 * inside the window frees the module's per-file state in task context, which proves that the
 * trace sees the module's frees at all.
 */
TEST_F(pgmap, release_in_hard_irq_frees_nothing)
{
	struct module_frees frees;
	uint64_t h = 0;
	int ret, fd2;

	fd2 = open(RPG_DEV, O_RDWR);
	ASSERT_LE(0, fd2);
	ASSERT_EQ(0, rpg_request(self->fd, 50, 8, &h));
	ret = trace_frees(true);
	ASSERT_EQ(0, ret) TH_LOG("tracefs: %s", strerror(-ret));
	ASSERT_EQ(0, ioctl(self->fd, RUST_PGMAP_IOC_RELEASE_HARDIRQ, &h)) TH_LOG("%s", strerror(errno));
	close(fd2);
	ASSERT_EQ(0, trace_frees_stop(&frees));
	ksft_print_msg("frees through rust_pgmap: %d, in hard IRQ: %d\n", frees.all,
		       frees.in_hardirq);
	EXPECT_LT(0, frees.all) TH_LOG("the trace saw no free from the module at all");
	EXPECT_EQ(0, frees.in_hardirq);
}

TEST_F(pgmap, map_write_read_back)
{
	const uint64_t n = 16;
	uint8_t *a, *b;

	a = rpg_map(self->fd, 32, n);
	ASSERT_NE(MAP_FAILED, a);
	rpg_fill(a, 32, n, 1);
	/* A second mapping of the same pages shares them. */
	b = rpg_map(self->fd, 32, n);
	ASSERT_NE(MAP_FAILED, b);
	EXPECT_EQ(0, rpg_verify(b, 32, n, 1));
	ASSERT_EQ(0, munmap(a, n * RPG_PAGE));
	ASSERT_EQ(0, munmap(b, n * RPG_PAGE));

	a = rpg_map(self->fd, 32, n);
	ASSERT_NE(MAP_FAILED, a);
	EXPECT_EQ(0, rpg_verify(a, 32, n, 1)) TH_LOG("pmem lost data across unmap");
	ASSERT_EQ(0, munmap(a, n * RPG_PAGE));
}

static void *read_first_byte(void *addr)
{
	return (void *)(uintptr_t)*(volatile uint8_t *)addr;
}

/*
 * A fault that finds its page in use shares it. If the last other holder lets go between the
 * look and the share, the page is freed and idle again: the fault must then request it, as it
 * does an idle page, and not map a page that nothing counts.
 */
TEST_F(pgmap, a_fault_racing_the_last_put_requests_the_page)
{
	const uint64_t off = 60;
	struct rust_pgmap_status st;
	uint64_t h = 0;
	pthread_t reader;
	long before;
	uint8_t *a;

	ASSERT_EQ(0, rpg_request(self->fd, off, 1, &h));
	a = rpg_map(self->fd, off, 1);
	ASSERT_NE(MAP_FAILED, a);
	before = rpg_delay_passed("fault_share");
	ASSERT_LE(0, before);
	ASSERT_EQ(0, rpg_delay("fault_share", 1000));
	ASSERT_EQ(0, pthread_create(&reader, NULL, read_first_byte, a));
	EXPECT_EQ(0, rpg_wait_delay_passed("fault_share", before, 5000))
		TH_LOG("the fault did not find the page in use");
	/* The last put of the request, while the fault sleeps before its share. */
	ASSERT_EQ(0, rpg_release(self->fd, h));
	ASSERT_EQ(0, pthread_join(reader, NULL));
	ASSERT_EQ(0, rpg_delay("fault_share", 0));

	ASSERT_EQ(0, rpg_status(self->fd, &st));
	EXPECT_EQ(1, st.outstanding) TH_LOG("the mapped page is not counted as requested");
	EXPECT_EQ(self->st.requested + 2, st.requested);
	ASSERT_EQ(0, munmap(a, RPG_PAGE));
	EXPECT_EQ(0, rpg_wait_outstanding(self->fd, 0, 5000));
}

TEST_F(pgmap, munmap_frees_every_page)
{
	const uint64_t n = 64;
	struct rust_pgmap_status st;
	uint8_t *a;

	a = rpg_map(self->fd, 0, n);
	ASSERT_NE(MAP_FAILED, a);
	for (uint64_t i = 0; i < n; i++)
		a[i * RPG_PAGE] = 1;
	ASSERT_EQ(0, rpg_status(self->fd, &st));
	EXPECT_EQ(self->st.requested + n, st.requested);
	EXPECT_EQ(n, st.outstanding);

	ASSERT_EQ(0, munmap(a, n * RPG_PAGE));
	ASSERT_EQ(0, rpg_status(self->fd, &st));
	EXPECT_EQ(st.requested, st.freed);
	EXPECT_EQ(0, st.outstanding);
}

TEST_F(pgmap, pin_blocks_teardown_until_unpin)
{
	const uint64_t n = 16;
	struct rust_pgmap_status st;
	uint64_t h = 0, unpinned;
	struct td_child c;
	uint8_t *a;

	a = rpg_map(self->fd, 0, n);
	ASSERT_NE(MAP_FAILED, a);
	rpg_fill(a, 0, n, 2);
	ASSERT_EQ(0, rpg_pin(self->fd, a, n, RUST_PGMAP_PIN_WRITE, &h));
	ASSERT_EQ(0, td_start(&c));

	ASSERT_EQ(0, rpg_wait_state(self->fd, RUST_PGMAP_STATE_DYING, 5000));
	usleep(500000);
	EXPECT_TRUE(td_running(&c)) TH_LOG("teardown did not wait for the pin");
	ASSERT_EQ(0, rpg_status(self->fd, &st));
	EXPECT_EQ(n, st.outstanding);
	EXPECT_EQ(n, st.pinned);
	/* The kill zapped our mapping: the pages are held by the pin alone. */
	EXPECT_EQ(SIGBUS, rpg_touch(a, false));

	unpinned = rpg_now_ns();
	ASSERT_EQ(0, rpg_unpin(self->fd, h));
	ASSERT_EQ(0, td_finish(&c, TD_TIMEOUT_MS));
	EXPECT_EQ(n, c.td.outstanding);
	EXPECT_GE(c.td.waited_ns, 500000000ULL);
	ksft_print_msg("teardown waited %.1f ms in all, returned %.1f ms after the unpin\n",
		       c.td.waited_ns / 1e6, (c.done_ns - unpinned) / 1e6);

	ASSERT_EQ(0, rpg_status(self->fd, &st));
	EXPECT_EQ(RUST_PGMAP_STATE_DEAD, st.state);
	EXPECT_EQ(0, st.outstanding);
	EXPECT_EQ(st.requested, st.freed);
	munmap(a, n * RPG_PAGE);
}

/* Both refmodes' pages are longterm-pinnable: the pin holds the pages until UNPIN. */
TEST_F(pgmap, longterm_pin_holds_pages_until_unpin)
{
	const uint64_t n = 4;
	struct rust_pgmap_status st;
	uint64_t h = 0;
	uint8_t *a;

	a = rpg_map(self->fd, 0, n);
	ASSERT_NE(MAP_FAILED, a);
	rpg_fill(a, 0, n, 3);
	ASSERT_EQ(0, rpg_pin(self->fd, a, n, RUST_PGMAP_PIN_LONGTERM | RUST_PGMAP_PIN_WRITE, &h));
	ASSERT_EQ(0, rpg_status(self->fd, &st));
	EXPECT_EQ(n, st.pinned);
	ASSERT_EQ(0, munmap(a, n * RPG_PAGE));
	ASSERT_EQ(0, rpg_status(self->fd, &st));
	EXPECT_EQ(n, st.outstanding) TH_LOG("the longterm pin did not hold the pages");
	EXPECT_EQ(0, rpg_unpin(self->fd, h));
	ASSERT_EQ(0, rpg_status(self->fd, &st));
	EXPECT_EQ(0, st.outstanding) TH_LOG("the unpin left a reference");
	EXPECT_EQ(st.requested, st.freed);
}

TEST_F(pgmap, sigbus_after_kill)
{
	struct rust_pgmap_teardown td;
	uint8_t *a, *b;

	a = rpg_map(self->fd, 0, 2);
	ASSERT_NE(MAP_FAILED, a);
	a[0] = 1;
	ASSERT_EQ(0, rpg_teardown(self->fd, &td));
	/* The existing mapping was zapped, and a new one cannot fault pages in. */
	EXPECT_EQ(SIGBUS, rpg_touch(a, false));
	EXPECT_EQ(SIGBUS, rpg_touch(a + RPG_PAGE, true));
	b = rpg_map(self->fd, 0, 1);
	ASSERT_NE(MAP_FAILED, b);
	EXPECT_EQ(SIGBUS, rpg_touch(b, false));
	munmap(a, 2 * RPG_PAGE);
	munmap(b, RPG_PAGE);
}

TEST_F(pgmap, sigbus_beyond_region)
{
	uint64_t last = self->st.nr_pages - 1;
	uint8_t *a;

	/* A mapping may run past the region's end, as one past a file's end. */
	a = rpg_map(self->fd, last, 2);
	ASSERT_NE(MAP_FAILED, a);
	EXPECT_EQ(0, rpg_touch(a, true));
	EXPECT_EQ(SIGBUS, rpg_touch(a + RPG_PAGE, false));
	munmap(a, 2 * RPG_PAGE);
}

TEST_F(pgmap, teardown_twice_enxio)
{
	struct rust_pgmap_teardown td;

	ASSERT_EQ(0, rpg_teardown(self->fd, &td));
	EXPECT_EQ(0, td.outstanding);
	EXPECT_EQ(-ENXIO, rpg_teardown(self->fd, &td));
}

TEST_F(pgmap, attach_while_live_ebusy)
{
	EXPECT_EQ(-EBUSY, rpg_attach(self->fd));
}

TEST_F(pgmap, attach_after_teardown_keeps_data)
{
	const uint64_t n = 32, first = 100;
	struct rust_pgmap_teardown td;
	struct rust_pgmap_status st;
	uint8_t *a;

	a = rpg_map(self->fd, first, n);
	ASSERT_NE(MAP_FAILED, a);
	rpg_fill(a, first, n, 4);
	ASSERT_EQ(0, rpg_teardown(self->fd, &td));
	munmap(a, n * RPG_PAGE);

	ASSERT_EQ(0, rpg_attach(self->fd));
	ASSERT_EQ(0, rpg_status(self->fd, &st));
	EXPECT_EQ(RUST_PGMAP_STATE_LIVE, st.state);
	EXPECT_EQ(self->st.generation + 1, st.generation);
	EXPECT_EQ(0, st.requested) TH_LOG("a new pgmap starts its counters at zero");
	a = rpg_map(self->fd, first, n);
	ASSERT_NE(MAP_FAILED, a);
	EXPECT_EQ(0, rpg_verify(a, first, n, 4)) TH_LOG("bytes lost across teardown and attach");
	munmap(a, n * RPG_PAGE);
}

static void on_alarm(int sig)
{
}

TEST_F(pgmap, teardown_eintr_then_resume)
{
	struct rust_pgmap_teardown td;
	struct rust_pgmap_status st;
	int status;
	uint64_t h = 0;
	pid_t pid;

	ASSERT_EQ(0, rpg_request(self->fd, 0, 1, &h));
	pid = fork();
	if (pid == 0) {
		/* No SA_RESTART: the signal must end the wait with EINTR. */
		struct sigaction sa = { .sa_handler = on_alarm };

		sigaction(SIGALRM, &sa, NULL);
		alarm(1);
		_exit(rpg_teardown(self->fd, &td) == -EINTR ? 0 : 1);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_EQ(0, WEXITSTATUS(status)) TH_LOG("TEARDOWN did not fail with EINTR");
	ASSERT_EQ(0, rpg_status(self->fd, &st));
	EXPECT_EQ(RUST_PGMAP_STATE_DYING, st.state);
	EXPECT_EQ(1, st.outstanding);

	ASSERT_EQ(0, rpg_release(self->fd, h));
	/* The second TEARDOWN resumes the drain, which is now complete. */
	ASSERT_EQ(0, rpg_teardown(self->fd, &td));
	ASSERT_EQ(0, rpg_status(self->fd, &st));
	EXPECT_EQ(RUST_PGMAP_STATE_DEAD, st.state);
	EXPECT_EQ(0, st.outstanding);
}

TEST_F(pgmap, close_releases_pins_and_requests)
{
	struct rust_pgmap_status st;
	uint64_t h = 0;
	uint8_t *a;
	int fd2;

	fd2 = open(RPG_DEV, O_RDWR);
	ASSERT_LE(0, fd2);
	a = rpg_map(fd2, 0, 4);
	ASSERT_NE(MAP_FAILED, a);
	a[0] = 1;
	ASSERT_EQ(0, rpg_pin(fd2, a, 4, RUST_PGMAP_PIN_WRITE, &h));
	ASSERT_EQ(0, rpg_request(fd2, 10, 2, &h));
	ASSERT_EQ(0, munmap(a, 4 * RPG_PAGE));
	ASSERT_EQ(0, rpg_status(self->fd, &st));
	EXPECT_EQ(6, st.outstanding);
	close(fd2);
	ASSERT_EQ(0, rpg_status(self->fd, &st));
	EXPECT_EQ(0, st.outstanding);
	EXPECT_EQ(0, st.pinned);
	EXPECT_EQ(0, st.held);
}

TEST_HARNESS_MAIN
