// SPDX-License-Identifier: GPL-2.0
/*
 * The result buffers of TEARDOWN and ATTACH: either the call succeeds and writes its result,
 * or it fails and changes nothing. A buffer inside a mapping of the device is refused, one that
 * another thread unmaps or write-protects during the drain still gets the result, one that
 * straddles a page boundary is written whole, and a read-only one fails before any work.
 */
#define _GNU_SOURCE
#include "rust_pgmap_lib.h"

#include <pthread.h>

#include "kselftest_harness.h"
#include "rust_pgmap_fixture.h"

/* The region page mapped as the result buffer, the one requested to hold the drain. */
#define OWN_PAGE 3
#define OWN_SEED 0x42
#define HOLD_PAGE 20
#define MAPPED_PAGE 9

/* A TEARDOWN that has not returned by then is stuck: it is interrupted (EINTR) and fails. */
#define TD_TIMEOUT_S 15
/* How long the helper thread waits for the kill. */
#define DYING_TIMEOUT_MS 5000
/* waited_ns beyond this is garbage. */
#define SANE_WAIT_NS (10 * 1000000000ULL)

RPG_FIXTURE(result_buffer)

FIXTURE_SETUP(result_buffer)
{
	RPG_FIXTURE_OPEN();
	ASSERT_LT(HOLD_PAGE, self->st.nr_pages);
}

static void on_alarm(int sig)
{
}

/*
 * TEARDOWN with @arg as the result buffer, as 0 or -errno. A drain that does not complete
 * within TD_TIMEOUT_S is interrupted, so a wrong wait fails the test instead of hanging it.
 */
static int teardown_bounded(int fd, void *arg)
{
	struct sigaction sa = { .sa_handler = on_alarm }, old;
	int ret;

	/* No SA_RESTART: the alarm must end the wait with EINTR. */
	sigaction(SIGALRM, &sa, &old);
	alarm(TD_TIMEOUT_S);
	ret = ioctl(fd, RUST_PGMAP_IOC_TEARDOWN, arg) ? -errno : 0;
	alarm(0);
	sigaction(SIGALRM, &old, NULL);
	return ret;
}

/* An anonymous private mapping of @npages, every byte 0xff so that a missing write shows. */
static uint8_t *map_ff(uint64_t npages)
{
	uint8_t *p = mmap(NULL, npages * RPG_PAGE, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p != MAP_FAILED)
		memset(p, 0xff, npages * RPG_PAGE);
	return p;
}

/* Whether the @len bytes at @p are all still 0xff. */
static bool all_ff(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != 0xff)
			return false;
	return true;
}

/*
 * A thread that, once the TEARDOWN has killed the pgmap, takes the result buffer away from
 * under it (munmap or mprotect) and only then releases the request that holds the drain: the
 * result is written after the buffer changed.
 */
struct drain_job {
	pthread_t tid;
	int fd;
	uint64_t handle;	/* the request holding the drain */
	void *buf;		/* the result buffer, one page */
	bool protect;		/* mprotect(PROT_READ) rather than munmap */
	int wait_ret;		/* 0 when the thread saw the pgmap dying */
	int buf_ret;		/* 0 or -errno of munmap/mprotect */
	int release_ret;	/* 0 or -errno of RELEASE */
};

static void *drain_thread(void *arg)
{
	struct drain_job *j = arg;

	j->wait_ret = rpg_wait_state(j->fd, RUST_PGMAP_STATE_DYING, DYING_TIMEOUT_MS);
	if (!j->wait_ret) {
		if (j->protect)
			j->buf_ret = mprotect(j->buf, RPG_PAGE, PROT_READ) ? -errno : 0;
		else
			j->buf_ret = munmap(j->buf, RPG_PAGE) ? -errno : 0;
	}
	/* Even without the kill, so that nothing can wait for this request forever. */
	j->release_ret = rpg_release(j->fd, j->handle);
	return NULL;
}

/* Starts drain_thread with SIGALRM blocked in it, so that the alarm interrupts the TEARDOWN. */
static int drain_thread_start(struct drain_job *j)
{
	sigset_t alrm, old;
	int err;

	sigemptyset(&alrm);
	sigaddset(&alrm, SIGALRM);
	pthread_sigmask(SIG_BLOCK, &alrm, &old);
	err = pthread_create(&j->tid, NULL, drain_thread, j);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return err;
}

/*
 * Runs TEARDOWN with j->buf as its result buffer while drain_thread changes the buffer during
 * the drain. Returns what TEARDOWN returned; *st is the status after the thread is done.
 * No ASSERT while the thread runs: it must be joined whatever happens.
 */
static int teardown_while_buffer_changes(struct __test_metadata *_metadata, struct drain_job *j,
					 struct rust_pgmap_status *st)
{
	int ret, err;

	err = drain_thread_start(j);
	if (err) {
		rpg_release(j->fd, j->handle);
		ASSERT_EQ(0, err) TH_LOG("pthread_create: %s", strerror(err));
	}
	ret = teardown_bounded(j->fd, j->buf);
	ASSERT_EQ(0, pthread_join(j->tid, NULL));

	EXPECT_EQ(0, j->wait_ret) TH_LOG("the pgmap never became dying");
	EXPECT_EQ(0, j->buf_ret) TH_LOG("%s of the result buffer: %s",
				       j->protect ? "mprotect" : "munmap", strerror(-j->buf_ret));
	EXPECT_EQ(0, j->release_ret) TH_LOG("RELEASE: %s", strerror(-j->release_ret));
	EXPECT_EQ(0, rpg_status(j->fd, st));
	/* The rule: success and the work done, or failure and nothing changed. */
	EXPECT_TRUE((ret == 0 && st->state == RUST_PGMAP_STATE_DEAD) ||
		    (ret != 0 && st->state == RUST_PGMAP_STATE_LIVE))
		TH_LOG("TEARDOWN returned %d (%s) with the pgmap in state %u", ret,
		       ret ? strerror(-ret) : "success", st->state);
	return ret;
}

TEST_F(result_buffer, teardown_result_in_own_mapping_is_refused)
{
	struct rust_pgmap_status st;
	uint8_t *a;
	int ret;

	a = rpg_map(self->fd, OWN_PAGE, 1);
	ASSERT_NE(MAP_FAILED, a);
	ASSERT_EQ(0, rpg_touch(a, true));
	rpg_fill(a, OWN_PAGE, 1, OWN_SEED);

	/* Pinning it would hold up the drain that the call waits for. */
	ret = teardown_bounded(self->fd, a + 256);
	EXPECT_EQ(-EINVAL, ret) TH_LOG("TEARDOWN into its own mapping: %s",
				       ret ? strerror(-ret) : "success");
	ASSERT_EQ(0, rpg_status(self->fd, &st));
	EXPECT_EQ(RUST_PGMAP_STATE_LIVE, st.state) TH_LOG("the refused TEARDOWN acted");
	EXPECT_EQ(self->st.generation, st.generation);
	EXPECT_EQ(1, st.outstanding);
	/* Not zapped, and no result written into it. */
	ASSERT_EQ(0, rpg_touch(a, false)) TH_LOG("the mapping was zapped");
	EXPECT_EQ(0, rpg_verify(a, OWN_PAGE, 1, OWN_SEED)) TH_LOG("the buffer was written");
	EXPECT_EQ(0, munmap(a, RPG_PAGE));
}

/* The result buffer goes away during the drain: unmapped, or made read-only. */
RPG_FIXTURE(taken_buffer)

FIXTURE_VARIANT(taken_buffer)
{
	bool protect; /* else unmap */
};

FIXTURE_VARIANT_ADD(taken_buffer, unmapped)
{
	.protect = false,
};

FIXTURE_VARIANT_ADD(taken_buffer, write_protected)
{
	.protect = true,
};

FIXTURE_SETUP(taken_buffer)
{
	RPG_FIXTURE_OPEN();
	ASSERT_LT(HOLD_PAGE, self->st.nr_pages);
}

TEST_F(taken_buffer, teardown_succeeds_and_writes_what_it_still_can)
{
	struct drain_job j = { .fd = self->fd, .protect = variant->protect };
	const struct rust_pgmap_teardown *td;
	struct rust_pgmap_status st;
	int ret;

	j.buf = map_ff(1);
	ASSERT_NE(MAP_FAILED, j.buf);
	ASSERT_EQ(0, rpg_request(self->fd, HOLD_PAGE, 1, &j.handle));

	ret = teardown_while_buffer_changes(_metadata, &j, &st);
	EXPECT_EQ(0, ret) TH_LOG("TEARDOWN: %s", strerror(-ret));
	EXPECT_EQ(RUST_PGMAP_STATE_DEAD, st.state);
	EXPECT_EQ(0, st.outstanding);
	if (!variant->protect) {
		/* The thread unmapped the buffer: there is nothing to read back. */
		if (j.wait_ret || j.buf_ret)
			munmap(j.buf, RPG_PAGE);
		return;
	}

	/* Read-only to us now, but the kernel wrote through its pin. */
	td = j.buf;
	EXPECT_EQ(1, td->outstanding) TH_LOG("outstanding %#llx",
					     (unsigned long long)td->outstanding);
	EXPECT_GT(SANE_WAIT_NS, td->waited_ns) TH_LOG("waited_ns %#llx",
						      (unsigned long long)td->waited_ns);
	EXPECT_TRUE(all_ff((uint8_t *)j.buf + sizeof(*td), 64))
		TH_LOG("bytes past the result were written");
	EXPECT_EQ(0, munmap(j.buf, RPG_PAGE));
}

TEST_F(result_buffer, teardown_result_straddling_two_pages_is_written)
{
	const size_t off = RPG_PAGE - 8;
	struct rust_pgmap_teardown *td;
	struct rust_pgmap_status st;
	uint8_t *p;
	int ret;

	p = map_ff(2);
	ASSERT_NE(MAP_FAILED, p);
	td = (struct rust_pgmap_teardown *)(p + off);

	ret = teardown_bounded(self->fd, td);
	ASSERT_EQ(0, ret) TH_LOG("TEARDOWN: %s", strerror(-ret));
	ASSERT_EQ(0, rpg_status(self->fd, &st));
	EXPECT_EQ(RUST_PGMAP_STATE_DEAD, st.state);
	/* outstanding lies in the first page, waited_ns in the second. */
	EXPECT_EQ(0, td->outstanding) TH_LOG("outstanding %#llx",
					     (unsigned long long)td->outstanding);
	EXPECT_GT(SANE_WAIT_NS, td->waited_ns) TH_LOG("waited_ns %#llx",
						      (unsigned long long)td->waited_ns);
	EXPECT_TRUE(all_ff(p, off)) TH_LOG("bytes before the result were written");
	EXPECT_TRUE(all_ff(p + off + sizeof(*td), 64)) TH_LOG("bytes past the result were written");
	EXPECT_EQ(0, munmap(p, 2 * RPG_PAGE));
}

TEST_F(result_buffer, attach_result_straddling_two_pages_is_written)
{
	/* Half of the status in each page, 8-byte aligned. */
	const size_t off = RPG_PAGE - ((sizeof(struct rust_pgmap_status) / 2) & ~7UL);
	struct rust_pgmap_teardown td;
	struct rust_pgmap_status before, after, *res;
	uint8_t *p;
	int ret;

	ASSERT_EQ(0, teardown_bounded(self->fd, &td));
	ASSERT_EQ(0, rpg_status(self->fd, &before));
	ASSERT_EQ(RUST_PGMAP_STATE_DEAD, before.state);
	p = map_ff(2);
	ASSERT_NE(MAP_FAILED, p);
	res = (struct rust_pgmap_status *)(p + off);

	ret = ioctl(self->fd, RUST_PGMAP_IOC_ATTACH, res) ? -errno : 0;
	ASSERT_EQ(0, ret) TH_LOG("ATTACH: %s", strerror(-ret));
	ASSERT_EQ(0, rpg_status(self->fd, &after));
	EXPECT_EQ(RUST_PGMAP_STATE_LIVE, after.state);
	EXPECT_EQ(RUST_PGMAP_STATE_LIVE, res->state);
	EXPECT_EQ(before.generation + 1, res->generation);
	EXPECT_EQ(after.generation, res->generation);
	EXPECT_EQ(self->st.nr_pages, res->nr_pages);
	EXPECT_EQ(0, res->outstanding);
	EXPECT_EQ(0, res->freed_live);
	EXPECT_TRUE(all_ff(p, off)) TH_LOG("bytes before the result were written");
	EXPECT_TRUE(all_ff(p + off + sizeof(*res), 64)) TH_LOG("bytes past the result were written");
	EXPECT_EQ(0, munmap(p, 2 * RPG_PAGE));
}

TEST_F(result_buffer, teardown_result_readonly_buffer_efault_changes_nothing)
{
	struct rust_pgmap_status st;
	uint8_t *a, *ro;
	int ret;

	ro = mmap(NULL, RPG_PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, ro);
	/* A mapped page, so that a teardown would have a mapping to zap and a folio to drain. */
	a = rpg_map(self->fd, MAPPED_PAGE, 1);
	ASSERT_NE(MAP_FAILED, a);
	ASSERT_EQ(0, rpg_touch(a, true));

	ret = teardown_bounded(self->fd, ro);
	EXPECT_EQ(-EFAULT, ret) TH_LOG("TEARDOWN into a read-only buffer: %s",
				       ret ? strerror(-ret) : "success");
	ASSERT_EQ(0, rpg_status(self->fd, &st));
	EXPECT_EQ(RUST_PGMAP_STATE_LIVE, st.state) TH_LOG("the failed TEARDOWN acted");
	EXPECT_EQ(self->st.generation, st.generation);
	EXPECT_EQ(1, st.outstanding);
	EXPECT_EQ(0, rpg_touch(a, true)) TH_LOG("the mapping was zapped");
	EXPECT_EQ(0, munmap(a, RPG_PAGE));
	EXPECT_EQ(0, munmap(ro, RPG_PAGE));
}

TEST_HARNESS_MAIN
