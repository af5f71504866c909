// SPDX-License-Identifier: GPL-2.0
/*
 * Long-term pins take nothing that is not theirs. Each long-term pinner (the module's PIN with
 * LONGTERM, gup_test's PIN_LONGTERM_TEST_START, io_uring's IORING_REGISTER_BUFFERS) pins
 * mapped device pages while another holder has them too: none, a vmsplice pipe, a second
 * long-term pinner racing it, an O_DIRECT write in flight, a REQUEST hold, an API hold. In
 * either refmode the pin succeeds and neither frees, moves nor re-homes a page: no page is
 * requested again while referenced, the counters balance, what is written through the mapping
 * after the pin is what every holder sees and what a new mapping reads, and a teardown waits
 * for every holder and completes promptly after the last lets go.
 *
 * With 2 MiB folios (large_folios.sh runs it so) the pinned pages are 16 of one PMD-mapped
 * folio: the mapping, the request and the counters take the whole folio.
 */
#define _GNU_SOURCE
#include "rust_pgmap_lib.h"

#include <pthread.h>
#include <sys/uio.h>

#include "mm/gup_test.h"

#include "kselftest_harness.h"
#include "rust_pgmap_holder.h"
#include "rust_pgmap_teardown.h"
#include "rust_pgmap_uring.h"

#define GUP_TEST_PATH "/sys/kernel/debug/gup_test"
#define NULLB_PATH "/dev/nullb0"
#define NR 16
#define LEN (NR * RPG_PAGE)
#define MS 1000000ULL
/* How long a holder keeps its pages before the test checks that the teardown still waits. */
#define HOLD_US 300000
/* The drain must complete this soon after the last holder let go. */
#define PROMPT_NS (1000 * MS)
#define TD_TIMEOUT_MS 20000

enum lt_kind { LT_PIN_IOCTL, LT_GUP_TEST, LT_IO_URING };
enum other_holder { NONE, VMSPLICE_PIPE, SECOND_PINNER, O_DIRECT_WRITE, REQUEST_HOLD, API_HOLD };

static const char *const lt_names[] = { "PIN LONGTERM", "gup_test PIN_LONGTERM_TEST_START",
					"io_uring REGISTER_BUFFERS" };

/* A long-term pin of the NR pages at addr, by one of the three pinners. */
struct lt_pin {
	enum lt_kind kind;
	bool pinned;
	int dev_fd;
	uint64_t handle; /* LT_PIN_IOCTL */
	int gfd;	 /* LT_GUP_TEST */
	struct uring u;	 /* LT_IO_URING */
	bool ring;
	void *addr;
	int ret; /* of the pin */
};

static int lt_start(struct lt_pin *p)
{
	struct pin_longterm_test lt = {
		.addr = (uintptr_t)p->addr,
		.size = LEN,
		.flags = PIN_LONGTERM_TEST_FLAG_USE_WRITE,
	};
	int ret;

	switch (p->kind) {
	case LT_PIN_IOCTL:
		ret = rpg_pin(p->dev_fd, p->addr, NR, RUST_PGMAP_PIN_WRITE | RUST_PGMAP_PIN_LONGTERM,
			      &p->handle);
		break;
	case LT_GUP_TEST:
		ret = ioctl(p->gfd, PIN_LONGTERM_TEST_START, &lt) ? -errno : 0;
		break;
	default:
		ret = uring_register_buffer(&p->u, p->addr, LEN);
		break;
	}
	p->pinned = !ret;
	return ret;
}

static int lt_stop(struct lt_pin *p)
{
	int ret = 0;

	if (!p->pinned)
		return 0;
	switch (p->kind) {
	case LT_PIN_IOCTL:
		ret = rpg_unpin(p->dev_fd, p->handle);
		break;
	case LT_GUP_TEST:
		ret = ioctl(p->gfd, PIN_LONGTERM_TEST_STOP) ? -errno : 0;
		break;
	default:
		ret = uring_unregister_buffers(&p->u);
		break;
	}
	p->pinned = false;
	return ret;
}

/*
 * What the pinner sees in its pages, into the LEN bytes at buf: gup_test copies them out,
 * io_uring writes its registered buffer to null_blk at dev_off, read back with O_DIRECT.
 * -EOPNOTSUPP for the module's PIN, which has no way to show them.
 */
static int lt_read(struct lt_pin *p, int blk, off_t dev_off, uint8_t *buf)
{
	uint64_t dst = (uintptr_t)buf;
	int res = 0, ret;

	switch (p->kind) {
	case LT_PIN_IOCTL:
		return -EOPNOTSUPP;
	case LT_GUP_TEST:
		return ioctl(p->gfd, PIN_LONGTERM_TEST_READ, &dst) ? -errno : 0;
	default:
		ret = uring_submit_op(&p->u, IORING_OP_WRITE_FIXED, blk, p->addr, LEN, dev_off, 0);
		if (!ret)
			ret = uring_wait(&p->u, &res);
		if (!ret && res != (int)LEN)
			ret = res < 0 ? res : -EIO;
		if (!ret && pread(blk, buf, LEN, dev_off) != (ssize_t)LEN)
			ret = -errno ?: -EIO;
		return ret;
	}
}

static void *lt_start_thread(void *arg)
{
	struct lt_pin *p = arg;

	p->ret = lt_start(p);
	return NULL;
}

FIXTURE(longterm)
{
	int fd;
	struct rust_pgmap_status st;
	/* The NR pages from first are pinned; the span of whole folios around them is mapped. */
	uint64_t first, folio_pages, span, folios;
	off_t dev_off;
	uint32_t seed;
	int blk;
	uint8_t *a, *b, *buf;
	struct lt_pin pin, second;
	int pipe[2];
	struct uring dio; /* the O_DIRECT write */
	bool dio_ring, dio_pending;
	uint64_t request;
	bool requested, holder_loaded, holder_holds;
};

FIXTURE_VARIANT(longterm)
{
	unsigned int index; /* places each case on pages and null_blk sectors of its own */
	enum lt_kind kind;
	enum other_holder other;
};

#define LT_VARIANT(name, i, k, o)						\
	FIXTURE_VARIANT_ADD(longterm, name) { .index = i, .kind = k, .other = o }

LT_VARIANT(pin_ioctl_alone, 0, LT_PIN_IOCTL, NONE);
LT_VARIANT(pin_ioctl_with_vmsplice_pipe, 1, LT_PIN_IOCTL, VMSPLICE_PIPE);
LT_VARIANT(pin_ioctl_with_second_pinner, 2, LT_PIN_IOCTL, SECOND_PINNER);
LT_VARIANT(pin_ioctl_with_o_direct_write, 3, LT_PIN_IOCTL, O_DIRECT_WRITE);
LT_VARIANT(pin_ioctl_with_request_hold, 4, LT_PIN_IOCTL, REQUEST_HOLD);
LT_VARIANT(pin_ioctl_with_api_hold, 5, LT_PIN_IOCTL, API_HOLD);
LT_VARIANT(gup_test_alone, 6, LT_GUP_TEST, NONE);
LT_VARIANT(gup_test_with_vmsplice_pipe, 7, LT_GUP_TEST, VMSPLICE_PIPE);
LT_VARIANT(gup_test_with_second_pinner, 8, LT_GUP_TEST, SECOND_PINNER);
LT_VARIANT(gup_test_with_o_direct_write, 9, LT_GUP_TEST, O_DIRECT_WRITE);
LT_VARIANT(gup_test_with_request_hold, 10, LT_GUP_TEST, REQUEST_HOLD);
LT_VARIANT(gup_test_with_api_hold, 11, LT_GUP_TEST, API_HOLD);
LT_VARIANT(io_uring_alone, 12, LT_IO_URING, NONE);
LT_VARIANT(io_uring_with_vmsplice_pipe, 13, LT_IO_URING, VMSPLICE_PIPE);
LT_VARIANT(io_uring_with_second_pinner, 14, LT_IO_URING, SECOND_PINNER);
LT_VARIANT(io_uring_with_o_direct_write, 15, LT_IO_URING, O_DIRECT_WRITE);
LT_VARIANT(io_uring_with_request_hold, 16, LT_IO_URING, REQUEST_HOLD);
LT_VARIANT(io_uring_with_api_hold, 17, LT_IO_URING, API_HOLD);

/* Sets up a pinner of kind; gup_test pins only one range at a time, so its second is a PIN. */
static int lt_init(struct lt_pin *p, enum lt_kind kind, int fd, void *addr)
{
	memset(p, 0, sizeof(*p));
	p->kind = kind;
	p->dev_fd = fd;
	p->gfd = -1;
	p->addr = addr;
	if (kind == LT_GUP_TEST) {
		p->gfd = open(GUP_TEST_PATH, O_RDWR);
		return p->gfd < 0 ? -errno : 0;
	}
	if (kind == LT_IO_URING) {
		int ret = uring_init(&p->u);

		p->ring = !ret;
		return ret;
	}
	return 0;
}

static void lt_exit(struct lt_pin *p)
{
	lt_stop(p);
	if (p->gfd >= 0)
		close(p->gfd);
	if (p->ring)
		uring_exit(&p->u);
	p->gfd = -1;
	p->ring = false;
}

FIXTURE_SETUP(longterm)
{
	self->fd = -1;
	self->blk = -1;
	self->pipe[0] = self->pipe[1] = -1;
	self->pin.gfd = self->second.gfd = -1;
	self->fd = open(RPG_DEV, O_RDWR);
	if (self->fd < 0)
		SKIP(return, RPG_DEV ": %s (module not loaded?)", strerror(errno));
	ASSERT_EQ(0, rpg_make_live(self->fd));
	ASSERT_EQ(0, rpg_status(self->fd, &self->st));
	ASSERT_EQ(0, self->st.outstanding) TH_LOG("a previous test leaked folios");
	self->folio_pages = rpg_folio_pages();
	ASSERT_LT(0, self->folio_pages) TH_LOG("no folio_size in the module's status");
	self->span = rpg_round_up(NR, self->folio_pages);
	self->folios = self->span / self->folio_pages;
	self->first = 8192 + variant->index * rpg_round_up(64, self->folio_pages);
	self->dev_off = (off_t)(16 + variant->index) << 20;
	self->seed = variant->index;
	/* O_DIRECT reads land here. */
	ASSERT_EQ(0, posix_memalign((void **)&self->buf, RPG_PAGE, LEN));
	self->blk = open(NULLB_PATH, O_RDWR | O_DIRECT);
	ASSERT_LE(0, self->blk) TH_LOG(NULLB_PATH ": %s", strerror(errno));
	if (variant->other == API_HOLD) {
		ASSERT_EQ(0, holder_load("revoke=defer")) TH_LOG("$TEST_HOLDER_MODULE");
		self->holder_loaded = true;
	}
}

FIXTURE_TEARDOWN(longterm)
{
	int res = 0;

	lt_exit(&self->second);
	lt_exit(&self->pin);
	if (self->dio_pending)
		uring_wait(&self->dio, &res);
	if (self->dio_ring)
		uring_exit(&self->dio);
	for (int i = 0; i < 2; i++)
		if (self->pipe[i] >= 0)
			close(self->pipe[i]);
	if (self->requested)
		rpg_release(self->fd, self->request);
	if (self->holder_holds)
		holder_ctl("release");
	if (self->holder_loaded)
		EXPECT_EQ(0, holder_unload());
	if (self->a)
		munmap(self->a, self->span * RPG_PAGE);
	if (self->b)
		munmap(self->b, self->span * RPG_PAGE);
	if (self->blk >= 0)
		close(self->blk);
	free(self->buf);
	if (self->fd >= 0) {
		EXPECT_EQ(0, rpg_make_live(self->fd));
		close(self->fd);
	}
}

/* requested - freed == outstanding, and page_free never found a page in use again. */
static void expect_balanced(struct __test_metadata *_metadata, int fd, uint64_t outstanding)
{
	struct rust_pgmap_status st;

	ASSERT_EQ(0, rpg_status(fd, &st));
	EXPECT_EQ(st.requested - st.freed, st.outstanding);
	EXPECT_EQ(outstanding, st.outstanding);
	EXPECT_EQ(0, st.freed_live);
}

/* After a holder other than the last let go, the teardown still waits for the rest. */
static void expect_still_waiting(struct __test_metadata *_metadata, struct td_child *c,
				 const char *who)
{
	usleep(50000);
	EXPECT_TRUE(td_running(c)) TH_LOG("the teardown ended when %s let go", who);
}

TEST_F_TIMEOUT(longterm, pin_takes_nothing_that_is_not_its_own, 120)
{
	const enum lt_kind second_kind = variant->kind == LT_GUP_TEST ? LT_PIN_IOCTL : variant->kind;
	const char *pinner = lt_names[variant->kind];
	struct rust_pgmap_status before, st;
	pthread_t th;
	struct td_child c;
	uint64_t released, h;
	struct iovec iov;
	size_t got = 0;
	ssize_t ret;
	int res = 0;

	ASSERT_EQ(0, lt_init(&self->pin, variant->kind, self->fd, NULL))
		TH_LOG("%s: %s", pinner, strerror(errno));
	if (variant->other == SECOND_PINNER)
		ASSERT_EQ(0, lt_init(&self->second, second_kind, self->fd, NULL));

	/* Holders that need the pages idle take them before the mapping does. */
	if (variant->other == REQUEST_HOLD) {
		ASSERT_EQ(0, rpg_request(self->fd, self->first, self->span, &self->request));
		self->requested = true;
	} else if (variant->other == API_HOLD) {
		ASSERT_EQ(0, holder_ctl("request %llu %llu",
					(unsigned long long)(self->first / self->folio_pages),
					(unsigned long long)self->folios));
		self->holder_holds = true;
	}
	self->a = rpg_map(self->fd, self->first, self->span);
	ASSERT_NE(MAP_FAILED, self->a);
	rpg_fill(self->a, self->first, NR, self->seed);
	ASSERT_EQ(0, rpg_status(self->fd, &before));
	EXPECT_EQ(self->st.requested + self->folios, before.requested);
	self->pin.addr = self->second.addr = self->a;

	if (variant->other == VMSPLICE_PIPE) {
		ASSERT_EQ(0, pipe(self->pipe));
		ASSERT_LE((int)LEN, fcntl(self->pipe[1], F_SETPIPE_SZ, 2 * LEN));
		iov = (struct iovec){ .iov_base = self->a, .iov_len = LEN };
		ASSERT_EQ((ssize_t)LEN, vmsplice(self->pipe[1], &iov, 1, SPLICE_F_NONBLOCK));
	} else if (variant->other == O_DIRECT_WRITE) {
		/* The bio is built and its data copied at submission; it completes 1 s later. */
		ASSERT_EQ(0, uring_init(&self->dio));
		self->dio_ring = true;
		ASSERT_EQ(0, uring_submit(&self->dio, IORING_OP_WRITE, self->blk, self->a, LEN,
					  self->dev_off));
		self->dio_pending = true;
	}

	/* The long-term pin, raced by a second one on the same pages. */
	if (variant->other == SECOND_PINNER) {
		ASSERT_EQ(0, pthread_create(&th, NULL, lt_start_thread, &self->second));
		self->pin.ret = lt_start(&self->pin);
		ASSERT_EQ(0, pthread_join(th, NULL));
		EXPECT_EQ(0, self->second.ret) TH_LOG("the second long-term pin: %s",
						      strerror(-self->second.ret));
	} else {
		self->pin.ret = lt_start(&self->pin);
	}
	ASSERT_EQ(0, self->pin.ret) TH_LOG("%s: %s", pinner, strerror(-self->pin.ret));

	/* What is written now must reach the pages that every holder has. */
	rpg_fill(self->a, self->first, NR, self->seed + 1);
	self->b = rpg_map(self->fd, self->first, self->span);
	ASSERT_NE(MAP_FAILED, self->b);
	EXPECT_EQ(0, rpg_verify(self->b, self->first, NR, self->seed + 1))
		TH_LOG("a new mapping does not read what the pinned mapping wrote");
	EXPECT_EQ(-EBUSY, rpg_request(self->fd, self->first, self->span, &h))
		TH_LOG("pages in use were handed out again");
	ASSERT_EQ(0, rpg_status(self->fd, &st));
	EXPECT_EQ(before.requested, st.requested) TH_LOG("a referenced page was requested again");
	expect_balanced(_metadata, self->fd, self->folios);
	if (variant->other == API_HOLD) {
		ASSERT_EQ(0, holder_data(self->buf, LEN));
		EXPECT_EQ(0, rpg_verify(self->buf, self->first, NR, self->seed + 1))
			TH_LOG("the API holder does not see what the mapping wrote");
	}
	munmap(self->b, self->span * RPG_PAGE);
	self->b = NULL;

	/* A teardown waits for every holder, and the pinners still see the pages. */
	ASSERT_EQ(0, td_start(&c));
	ASSERT_EQ(0, rpg_wait_state(self->fd, RUST_PGMAP_STATE_DYING, 5000));
	usleep(HOLD_US);
	EXPECT_TRUE(td_running(&c)) TH_LOG("the teardown did not wait for the %s", pinner);
	EXPECT_EQ(SIGBUS, rpg_touch(self->a, false)) TH_LOG("the kill did not zap the mapping");
	expect_balanced(_metadata, self->fd, self->folios);
	ret = lt_read(&self->pin, self->blk, self->dev_off + (64 << 20), self->buf);
	if (ret != -EOPNOTSUPP) {
		EXPECT_EQ(0, ret) TH_LOG("%s cannot read its pages: %s", pinner, strerror(-ret));
		EXPECT_EQ(0, rpg_verify(self->buf, self->first, NR, self->seed + 1))
			TH_LOG("%s does not see what the mapping wrote", pinner);
	}

	switch (variant->other) {
	case VMSPLICE_PIPE:
		while (got < LEN && (ret = read(self->pipe[0], self->buf + got, LEN - got)) > 0)
			got += ret;
		EXPECT_EQ(LEN, got);
		EXPECT_EQ(0, rpg_verify(self->buf, self->first, NR, self->seed + 1))
			TH_LOG("the pipe does not see what the mapping wrote");
		close(self->pipe[0]);
		close(self->pipe[1]);
		self->pipe[0] = self->pipe[1] = -1;
		expect_still_waiting(_metadata, &c, "the pipe");
		break;
	case SECOND_PINNER:
		EXPECT_EQ(0, lt_stop(&self->second));
		expect_still_waiting(_metadata, &c, "the second pinner");
		break;
	case O_DIRECT_WRITE:
		ASSERT_EQ(0, uring_wait(&self->dio, &res));
		self->dio_pending = false;
		EXPECT_EQ((int)LEN, res) TH_LOG("O_DIRECT write: %s", strerror(-res));
		ASSERT_EQ((ssize_t)LEN, pread(self->blk, self->buf, LEN, self->dev_off));
		EXPECT_EQ(0, rpg_verify(self->buf, self->first, NR, self->seed))
			TH_LOG("the O_DIRECT write did not send what the mapping held");
		expect_still_waiting(_metadata, &c, "the O_DIRECT write");
		break;
	case REQUEST_HOLD:
		EXPECT_EQ(0, rpg_release(self->fd, self->request));
		self->requested = false;
		expect_still_waiting(_metadata, &c, "the REQUEST hold");
		break;
	case API_HOLD:
		EXPECT_EQ(1, holder_stat("revoke_calls")) TH_LOG("the teardown did not revoke");
		EXPECT_EQ(0, holder_ctl("release"));
		self->holder_holds = false;
		expect_still_waiting(_metadata, &c, "the API hold");
		break;
	case NONE:
		break;
	}
	expect_balanced(_metadata, self->fd, self->folios);

	released = rpg_now_ns();
	EXPECT_EQ(0, lt_stop(&self->pin));
	ASSERT_EQ(0, td_finish(&c, TD_TIMEOUT_MS));
	EXPECT_LT(c.done_ns - released, PROMPT_NS) TH_LOG("the drain lagged the last release");
	EXPECT_EQ(self->folios, c.td.outstanding);
	ASSERT_EQ(0, rpg_status(self->fd, &st));
	EXPECT_EQ(RUST_PGMAP_STATE_DEAD, st.state);
	EXPECT_EQ(st.requested, st.freed);
	EXPECT_EQ(0, st.freed_live);

	/* The bytes live in the device, not in a copy somewhere else. */
	munmap(self->a, self->span * RPG_PAGE);
	self->a = NULL;
	ASSERT_EQ(0, rpg_attach(self->fd));
	self->b = rpg_map(self->fd, self->first, self->span);
	ASSERT_NE(MAP_FAILED, self->b);
	EXPECT_EQ(0, rpg_verify(self->b, self->first, NR, self->seed + 1))
		TH_LOG("the bytes written under the pin did not reach pmem");
}

TEST_HARNESS_MAIN
