// SPDX-License-Identifier: GPL-2.0
/*
 * The in-kernel API through the sample driver rust_pgmap_consumer.ko: a teardown revokes its
 * hold and the drain completes once it lets go (from a hard-IRQ timer), the data it wrote
 * survives a re-attach, a holder that ignores revoke keeps the drain waiting until it is
 * unloaded, requests fail with ENXIO while dying and EBUSY on pages in use, and rust_pgmap
 * cannot be unloaded under a consumer; the Rust sample rust_pgmap_consumer_rs.ko does the same
 * through the same C API. $CONSUMER_MODULE and $CONSUMER_RS_MODULE name the samples' .ko files.
 */
#define _GNU_SOURCE
#include "rust_pgmap_lib.h"


#include "kselftest_harness.h"
#include "rust_pgmap_fixture.h"
#include "rust_pgmap_teardown.h"
#include "rust_pgmap_trace.h"

#define CONSUMER "rust_pgmap_consumer"
#define OFFSET 1024
#define NR 64
#define CONSUMER_RS "rust_pgmap_consumer_rs"
#define RS_OFFSET 2048
#define RS_NR 16
/* A teardown that takes longer is stuck. */
#define TD_TIMEOUT_MS 30000

/* The sample's pattern (samples/kernel/rust_pgmap_consumer.c). */
static uint8_t consumer_pattern(uint64_t page, uint64_t byte)
{
	return (uint8_t)(page * 13 + byte * 3 + 0x5a);
}

/* The Rust sample's pattern (samples/kernel/rust_pgmap_consumer_rs.rs). */
static uint8_t consumer_rs_pattern(uint64_t page, uint64_t byte)
{
	return (uint8_t)(page * 7 + byte * 5 + 0x33);
}

static int load(const char *env, const char *params)
{
	return rpg_load_module(env, params);
}

static int consumer_load(const char *params)
{
	return load("CONSUMER_MODULE", params);
}

static int unload(const char *name)
{
	return rpg_unload_module(name);
}

static void on_alarm(int sig)
{
}

/*
 * Writes other bytes over the pages that a sample is about to hold: the region keeps its bytes
 * across the programs of a boot, and what the sample writes must be read back from this run.
 */
static int scrub(int fd, uint64_t first, uint64_t n)
{
	uint8_t *a = rpg_map(fd, first, n);

	if (a == MAP_FAILED)
		return -errno;
	rpg_fill(a, first, n, 0x5c);
	munmap(a, n * RPG_PAGE);
	return rpg_wait_outstanding(fd, 0, 5000);
}

FIXTURE(consumer)
{
	int fd;
	struct rust_pgmap_status st;
};

FIXTURE_SETUP(consumer)
{
	RPG_FIXTURE_OPEN();
	if (!getenv("CONSUMER_MODULE"))
		SKIP(return, "CONSUMER_MODULE does not name " CONSUMER ".ko");
	ASSERT_LT(OFFSET + NR, self->st.nr_pages);
}

FIXTURE_TEARDOWN(consumer)
{
	unload(CONSUMER);
	unload(CONSUMER_RS);
	if (self->fd >= 0) {
		EXPECT_EQ(0, rpg_make_live(self->fd));
		close(self->fd);
	}
}

TEST_F(consumer, teardown_revokes_the_hold_and_the_data_survives)
{
	struct rust_pgmap_status st;
	struct module_frees frees;
	struct td_child c;
	size_t mark;
	uint64_t bad = 0;
	uint8_t *a;

	ASSERT_EQ(0, scrub(self->fd, OFFSET, NR));
	ASSERT_EQ(0, consumer_load("nr=64 offset=1024"));
	ASSERT_EQ(0, rpg_status(self->fd, &st));
	EXPECT_EQ(NR, st.outstanding);
	/* Let the writer go round a few times. */
	usleep(200000);

	mark = rpg_klog_mark();
	/* The sample releases from a hard-IRQ timer: through the API, that frees nothing. */
	ASSERT_EQ(0, trace_frees(true));
	ASSERT_EQ(0, td_start(&c));
	ASSERT_EQ(0, td_finish(&c, TD_TIMEOUT_MS)) TH_LOG("TEARDOWN failed or timed out");
	ASSERT_EQ(0, trace_frees_stop(&frees));
	ksft_print_msg("frees through rust_pgmap during the teardown: %d, in hard IRQ: %d\n",
		       frees.all, frees.in_hardirq);
	/* The teardown frees what it allocated: a trace that saw none of it proves nothing. */
	EXPECT_LT(0, frees.all) TH_LOG("the trace saw no free from the module at all");
	EXPECT_EQ(0, frees.in_hardirq);
	EXPECT_EQ(NR, c.td.outstanding);
	EXPECT_EQ(1, rpg_klog_count(mark, CONSUMER ": revoke: stopping the writer"));
	ASSERT_EQ(0, rpg_status(self->fd, &st));
	EXPECT_EQ(RUST_PGMAP_STATE_DEAD, st.state);
	EXPECT_EQ(0, st.outstanding);
	/* Released from the sample's hard-IRQ timer. */
	EXPECT_LE(self->st.freed_in_irq + NR, st.freed_in_irq);
	ksft_print_msg("drain after revoke: %.1f ms for %d folios\n", c.td.waited_ns / 1e6, NR);

	ASSERT_EQ(0, rpg_attach(self->fd));
	a = rpg_map(self->fd, OFFSET, NR);
	ASSERT_NE(MAP_FAILED, a);
	for (uint64_t pg = 0; pg < NR; pg++)
		for (uint64_t b = 0; b < RPG_PAGE; b++)
			bad += a[pg * RPG_PAGE + b] != consumer_pattern(OFFSET + pg, b);
	EXPECT_EQ(0, bad) TH_LOG("%llu bytes the consumer wrote are gone", (unsigned long long)bad);
	munmap(a, NR * RPG_PAGE);
	EXPECT_EQ(0, unload(CONSUMER));
}

TEST_F_TIMEOUT(consumer, a_holder_ignoring_revoke_is_waited_for_until_unloaded, 120)
{
	struct sigaction sa = { .sa_handler = on_alarm };
	struct rust_pgmap_teardown td;
	struct rust_pgmap_status st;
	uint64_t unloaded;
	struct td_child c;
	size_t mark;

	ASSERT_EQ(0, consumer_load("nr=64 offset=1024 ignore_revoke=1"));
	mark = rpg_klog_mark();

	/* A signal ends the wait; the pgmap stays dying. */
	sigaction(SIGALRM, &sa, NULL);
	alarm(2);
	EXPECT_EQ(-EINTR, rpg_teardown(self->fd, &td));
	alarm(0);
	ASSERT_EQ(0, rpg_status(self->fd, &st));
	EXPECT_EQ(RUST_PGMAP_STATE_DYING, st.state);
	EXPECT_EQ(NR, st.outstanding);
	EXPECT_EQ(1, rpg_klog_count(mark, CONSUMER ": revoke: ignored"));
	/* The drain log names who it waits for. */
	EXPECT_LE(1, rpg_klog_count(mark, "holds: " CONSUMER " holds 64 at 1024 (revoked)"));

	/* A second TEARDOWN resumes the wait, and unloading the holder ends it. */
	ASSERT_EQ(0, td_start(&c));
	usleep(300000);
	EXPECT_TRUE(td_running(&c)) TH_LOG("the teardown did not wait");
	unloaded = rpg_now_ns();
	ASSERT_EQ(0, unload(CONSUMER));
	ASSERT_EQ(0, td_finish(&c, TD_TIMEOUT_MS));
	ksft_print_msg("drain completed %.1f ms after the ignoring holder was unloaded\n",
		       (c.done_ns - unloaded) / 1e6);
	ASSERT_EQ(0, rpg_status(self->fd, &st));
	EXPECT_EQ(RUST_PGMAP_STATE_DEAD, st.state);
	EXPECT_EQ(st.requested, st.freed);
}

TEST_F(consumer, a_request_while_dying_fails_with_enxio)
{
	struct rust_pgmap_status st;
	struct td_child c;
	uint64_t h = 0;

	/* A user-space hold without revoke keeps the pgmap dying. */
	ASSERT_EQ(0, rpg_request(self->fd, 0, 1, &h));
	ASSERT_EQ(0, td_start(&c));
	ASSERT_EQ(0, rpg_wait_state(self->fd, RUST_PGMAP_STATE_DYING, 5000));
	EXPECT_EQ(-ENXIO, consumer_load("nr=64 offset=1024"));
	ASSERT_EQ(0, rpg_release(self->fd, h));
	ASSERT_EQ(0, td_finish(&c, TD_TIMEOUT_MS));
	ASSERT_EQ(0, rpg_status(self->fd, &st));
	EXPECT_EQ(st.requested, st.freed);
}

TEST_F(consumer, overlapping_requests_fail_with_ebusy_and_take_nothing)
{
	struct rust_pgmap_status st;
	uint64_t h = 0;

	ASSERT_EQ(0, consumer_load("nr=64 offset=1024"));
	/* The ioctl path requests through the same API. */
	EXPECT_EQ(-EBUSY, rpg_request(self->fd, OFFSET + NR - 1, 2, &h));
	EXPECT_EQ(0, unload(CONSUMER));
	ASSERT_EQ(0, rpg_request(self->fd, OFFSET + NR - 1, 2, &h));
	EXPECT_EQ(-EBUSY, consumer_load("nr=64 offset=1024"));
	ASSERT_EQ(0, rpg_release(self->fd, h));
	ASSERT_EQ(0, rpg_status(self->fd, &st));
	EXPECT_EQ(st.requested, st.freed);
	EXPECT_EQ(0, st.outstanding);
}

TEST_F(consumer, rust_pgmap_cannot_be_unloaded_under_a_consumer)
{
	ASSERT_EQ(0, consumer_load("nr=1 offset=1024"));
	EXPECT_EQ(-EWOULDBLOCK, unload("rust_pgmap"));
	EXPECT_EQ(0, access(RPG_DEV, F_OK));
	EXPECT_EQ(0, unload(CONSUMER));
}

TEST_F(consumer, the_rust_sample_is_revoked_and_its_data_survives)
{
	struct rust_pgmap_status st;
	struct td_child c;
	uint64_t bad = 0;
	size_t mark;
	uint8_t *a;

	if (!getenv("CONSUMER_RS_MODULE"))
		SKIP(return, "CONSUMER_RS_MODULE does not name " CONSUMER_RS ".ko");
	ASSERT_EQ(0, scrub(self->fd, RS_OFFSET, RS_NR));
	ASSERT_EQ(0, load("CONSUMER_RS_MODULE", ""));
	ASSERT_EQ(0, rpg_status(self->fd, &st));
	EXPECT_EQ(RS_NR, st.outstanding);

	mark = rpg_klog_mark();
	ASSERT_EQ(0, td_start(&c));
	ASSERT_EQ(0, td_finish(&c, TD_TIMEOUT_MS));
	EXPECT_EQ(RS_NR, c.td.outstanding);
	EXPECT_EQ(1, rpg_klog_count(mark, CONSUMER_RS ": revoke: released 16 folios"));
	ksft_print_msg("drain after revoke: %.1f ms for %d folios (Rust sample)\n",
		       c.td.waited_ns / 1e6, RS_NR);

	ASSERT_EQ(0, rpg_attach(self->fd));
	a = rpg_map(self->fd, RS_OFFSET, RS_NR);
	ASSERT_NE(MAP_FAILED, a);
	for (uint64_t pg = 0; pg < RS_NR; pg++)
		for (uint64_t b = 0; b < RPG_PAGE; b++)
			bad += a[pg * RPG_PAGE + b] != consumer_rs_pattern(RS_OFFSET + pg, b);
	EXPECT_EQ(0, bad);
	munmap(a, RS_NR * RPG_PAGE);
	EXPECT_EQ(0, unload(CONSUMER_RS));
}

TEST_F(consumer, two_drivers_cannot_hold_the_same_folio)
{
	struct rust_pgmap_status st;

	if (!getenv("CONSUMER_RS_MODULE"))
		SKIP(return, "CONSUMER_RS_MODULE does not name " CONSUMER_RS ".ko");
	/* The C sample's last folio is the Rust sample's first. */
	ASSERT_EQ(0, consumer_load("nr=16 offset=2033"));
	EXPECT_EQ(-EBUSY, load("CONSUMER_RS_MODULE", ""));
	EXPECT_EQ(0, unload(CONSUMER));
	ASSERT_EQ(0, load("CONSUMER_RS_MODULE", ""));
	EXPECT_EQ(0, unload(CONSUMER_RS));
	ASSERT_EQ(0, rpg_status(self->fd, &st));
	EXPECT_EQ(st.requested, st.freed);
}

TEST_HARNESS_MAIN
