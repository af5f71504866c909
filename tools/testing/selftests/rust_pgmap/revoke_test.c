// SPDX-License-Identifier: GPL-2.0
/*
 * The revoke contract of the API (Documentation/api.rst), each ordering forced with the delay
 * points of /sys/kernel/debug/rust_pgmap/delay and the test holder module
 * ($TEST_HOLDER_MODULE), which counts every call that breaks the contract:
 * - a teardown that starts while a request is returning revokes the hold only after the request
 *   returned;
 * - a release that comes after the teardown decided to revoke, and before the revoke runs,
 *   learns that the revoke is coming, and the holder's data outlives it;
 * - a hold released before the teardown is never revoked;
 * - a module whose init is still running is never called, even if its init then fails;
 * - a hold that a module leaked when it was unloaded is released, and never revoked.
 */
#define _GNU_SOURCE
#include "rust_pgmap_lib.h"

#include <pthread.h>

#include "kselftest_harness.h"
#include "rust_pgmap_fixture.h"
#include "rust_pgmap_holder.h"
#include "rust_pgmap_teardown.h"

#define NR 16
#define TD_TIMEOUT_MS 20000

FIXTURE(revoke)
{
	int fd;
	struct rust_pgmap_status st; /* at setup */
	uint64_t first;
};

FIXTURE_SETUP(revoke)
{
	RPG_FIXTURE_OPEN();
	if (!getenv("TEST_HOLDER_MODULE"))
		SKIP(return, "TEST_HOLDER_MODULE does not name " HOLDER ".ko");
	self->first = 9600;
}

FIXTURE_TEARDOWN(revoke)
{
	rpg_delay("request_return", 0);
	rpg_delay("revoke_call", 0);
	holder_ctl("release");
	rpg_unload_module(HOLDER);
	if (self->fd >= 0) {
		EXPECT_EQ(0, rpg_make_live(self->fd));
		close(self->fd);
	}
}

struct ctl_job {
	const char *cmd;
	int ret;
};

static void *ctl_thread(void *arg)
{
	struct ctl_job *job = arg;

	job->ret = holder_ctl("%s", job->cmd);
	return NULL;
}

TEST_F(revoke, a_teardown_during_a_request_revokes_after_it_returned)
{
	char cmd[64];
	struct ctl_job job = { .cmd = cmd };
	struct rust_pgmap_status st;
	struct td_child c;
	pthread_t th;
	long before;

	ASSERT_EQ(0, holder_load("revoke=release"));
	snprintf(cmd, sizeof(cmd), "request %llu %d", (unsigned long long)self->first, NR);
	before = rpg_delay_passed("request_return");
	ASSERT_LE(0, before);
	ASSERT_EQ(0, rpg_delay("request_return", 1000));
	ASSERT_EQ(0, pthread_create(&th, NULL, ctl_thread, &job));
	/* The hold is registered, and its request sleeps before returning it. */
	ASSERT_EQ(0, rpg_wait_delay_passed("request_return", before, 5000));
	ASSERT_EQ(0, rpg_delay("request_return", 0));
	ASSERT_EQ(0, td_start(&c));
	ASSERT_EQ(0, td_finish(&c, TD_TIMEOUT_MS));
	ASSERT_EQ(0, pthread_join(th, NULL));
	EXPECT_EQ(0, job.ret) TH_LOG("request: %s", strerror(-job.ret));
	EXPECT_EQ(1, holder_stat("revoke_calls"));
	EXPECT_EQ(0, holder_stat("revoke_before_return"))
		TH_LOG("the holder was revoked before its request returned");
	EXPECT_EQ(0, holder_stat("held"));
	ASSERT_EQ(0, rpg_status(self->fd, &st));
	EXPECT_EQ(RUST_PGMAP_STATE_DEAD, st.state);
	EXPECT_EQ(st.requested, st.freed);
}

TEST_F(revoke, a_release_racing_the_revoke_keeps_the_data_until_it_returned)
{
	struct rust_pgmap_status st;
	struct td_child c;
	long before;

	ASSERT_EQ(0, holder_load("revoke=defer"));
	ASSERT_EQ(0, holder_ctl("request %llu %d", (unsigned long long)self->first, NR));
	before = rpg_delay_passed("revoke_call");
	ASSERT_LE(0, before);
	ASSERT_EQ(0, rpg_delay("revoke_call", 1000));
	ASSERT_EQ(0, td_start(&c));
	/* The teardown decided to revoke, and sleeps before the call. */
	ASSERT_EQ(0, rpg_wait_delay_passed("revoke_call", before, 5000));
	ASSERT_EQ(0, rpg_delay("revoke_call", 0));
	/* The holder releases, and frees its data when the contract says it may. */
	EXPECT_EQ(0, holder_ctl("release"));
	ASSERT_EQ(0, td_finish(&c, TD_TIMEOUT_MS));
	EXPECT_EQ(1, holder_stat("revoke_calls"));
	EXPECT_EQ(0, holder_stat("revoke_after_free"))
		TH_LOG("revoke was called with data that the contract let the holder free");
	EXPECT_EQ(0, holder_stat("revoke_bad_data"));
	ASSERT_EQ(0, rpg_status(self->fd, &st));
	EXPECT_EQ(st.requested, st.freed);
}

TEST_F(revoke, a_hold_released_before_the_teardown_is_not_revoked)
{
	struct td_child c;

	ASSERT_EQ(0, holder_load("revoke=release"));
	ASSERT_EQ(0, holder_ctl("request %llu %d", (unsigned long long)self->first, NR));
	ASSERT_EQ(0, holder_ctl("release"));
	ASSERT_EQ(0, td_start(&c));
	ASSERT_EQ(0, td_finish(&c, TD_TIMEOUT_MS));
	EXPECT_EQ(0, holder_stat("revoke_calls"));
	EXPECT_EQ(0, c.td.outstanding);
}

struct load_job {
	char params[256];
	int ret;
};

static void *load_thread(void *arg)
{
	struct load_job *job = arg;

	job->ret = holder_load(job->params);
	return NULL;
}

/*
 * The holder requests in its init, sleeps, then fails its init; a revoke that ran meanwhile
 * would still be sleeping in the holder's code when the kernel frees it.
 */
TEST_F_TIMEOUT(revoke, a_module_whose_init_runs_is_never_revoked, 60)
{
	struct load_job job;
	struct rust_pgmap_status st;
	struct td_child c;
	size_t mark = rpg_klog_mark();
	pthread_t th;
	int i;

	snprintf(job.params, sizeof(job.params),
		 "revoke=release revoke_sleep_ms=3000 init_offset=%llu init_nr=%d "
		 "init_sleep_ms=2000 init_fail=1",
		 (unsigned long long)self->first, NR);
	ASSERT_EQ(0, pthread_create(&th, NULL, load_thread, &job));
	for (i = 0; i < 500; i++) {
		ASSERT_EQ(0, rpg_status(self->fd, &st));
		if (st.outstanding == NR)
			break;
		usleep(10000);
	}
	ASSERT_EQ(NR, st.outstanding) TH_LOG("the holder's init did not request");
	ASSERT_EQ(0, td_start(&c));
	ASSERT_EQ(0, td_finish(&c, TD_TIMEOUT_MS));
	ASSERT_EQ(0, pthread_join(th, NULL));
	EXPECT_EQ(-EAGAIN, job.ret) TH_LOG("the holder's init: %s", strerror(-job.ret));
	EXPECT_EQ(0, rpg_klog_count(mark, HOLDER ": revoke:"))
		TH_LOG("a module was revoked during its init");
	ASSERT_EQ(0, rpg_status(self->fd, &st));
	EXPECT_EQ(st.requested, st.freed);
}

TEST_F_TIMEOUT(revoke, a_hold_leaked_by_an_unloaded_module_is_released_not_revoked, 60)
{
	struct rust_pgmap_status st;
	char needle[128];
	struct td_child c;
	size_t mark;

	ASSERT_EQ(0, holder_load("revoke=release leak_hold=1"));
	ASSERT_EQ(0, holder_ctl("request %llu %d", (unsigned long long)self->first, NR));
	mark = rpg_klog_mark();
	ASSERT_EQ(0, holder_unload());
	snprintf(needle, sizeof(needle), "rust_pgmap: " HOLDER " went away holding %d folios at %llu",
		 NR, (unsigned long long)self->first);
	EXPECT_EQ(1, rpg_klog_count(mark, needle));
	ASSERT_EQ(0, rpg_status(self->fd, &st));
	EXPECT_EQ(0, st.outstanding) TH_LOG("the leaked hold still holds its folios");
	ASSERT_EQ(0, td_start(&c));
	ASSERT_EQ(0, td_finish(&c, 10000)) TH_LOG("the teardown waits for a module that is gone");
	EXPECT_EQ(0, rpg_klog_count(mark, HOLDER ": revoke:"));
}

TEST_HARNESS_MAIN
