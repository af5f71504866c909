// SPDX-License-Identifier: GPL-2.0
/*
 * The paths through which the kernel takes references on /dev/rust_pgmap pages: gup_test,
 * vmsplice(), O_DIRECT (sync and io_uring), process_vm_readv/writev(), fork() and the
 * module's own PIN. For each, the gup works while the pgmap is live, fails once it is killed,
 * and the teardown's drain waits for the holder and completes promptly after it lets go.
 */
#define _GNU_SOURCE
#include "rust_pgmap_lib.h"

#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include <linux/io_uring.h>

#include "mm/gup_test.h"

#include "kselftest_harness.h"
#include "rust_pgmap_fixture.h"
#include "rust_pgmap_teardown.h"
#include "rust_pgmap_uring.h"

#define GUP_TEST_PATH "/sys/kernel/debug/gup_test"
#define NULLB_PATH "/dev/nullb0"

/* FOLL_WRITE in include/linux/mm_types.h: gup_test passes gup_flags to the kernel as is. */
#define GUP_FOLL_WRITE 0x1

#define MS 1000000ULL
/* How long a holder keeps its pages before the test checks that the teardown still waits. */
#define HOLD_US 300000
/* The drain must complete this soon after the holder let go. */
#define PROMPT_NS (1000 * MS)
/* A teardown that does not complete within this is stuck. */
#define TD_TIMEOUT_MS 10000
/* null_blk.completion_nsec: the timer completes an I/O no sooner after its submission. */
#define NULLB_COMPLETION_NS (1000 * MS)

FIXTURE(gup_paths)
{
	int fd;
	struct rust_pgmap_status st; /* at setup */
	int gfd;		     /* gup_test */
};

FIXTURE_SETUP(gup_paths)
{
	self->gfd = -1;
	RPG_FIXTURE_OPEN();
	self->gfd = open(GUP_TEST_PATH, O_RDWR);
	ASSERT_LE(0, self->gfd) TH_LOG(GUP_TEST_PATH ": %s", strerror(errno));
}

FIXTURE_TEARDOWN(gup_paths)
{
	if (self->gfd >= 0)
		close(self->gfd);
	if (self->fd >= 0) {
		EXPECT_EQ(0, rpg_make_live(self->fd));
		close(self->fd);
	}
}

/* Maps n region pages from first and fills them with the pattern of seed. */
static uint8_t *map_filled(struct __test_metadata *_metadata, int fd, uint64_t first, uint64_t n,
			   uint32_t seed)
{
	uint8_t *a = rpg_map(fd, first, n);

	EXPECT_NE(MAP_FAILED, a) TH_LOG("mmap of %llu pages from %llu: %s",
					(unsigned long long)n, (unsigned long long)first,
					strerror(errno));
	if (a != MAP_FAILED)
		rpg_fill(a, first, n, seed);
	return a;
}

/* Prints when the drain completed relative to the release; it must follow promptly. */
static void expect_prompt(struct __test_metadata *_metadata, const char *path,
			  const struct td_child *c, uint64_t released)
{
	int64_t delta = (int64_t)(c->done_ns - released);

	ksft_print_msg("%s: drain completed %.1f ms after release (waited %.1f ms in all)\n",
		       path, delta / 1e6, c->td.waited_ns / 1e6);
	EXPECT_LT(delta, (int64_t)PROMPT_NS) TH_LOG("%s: the drain lagged the release", path);
}

/* After a completed teardown: dead, and every requested folio was freed. */
static void expect_drained(struct __test_metadata *_metadata, int fd)
{
	struct rust_pgmap_status st;

	ASSERT_EQ(0, rpg_status(fd, &st));
	EXPECT_EQ(RUST_PGMAP_STATE_DEAD, st.state);
	EXPECT_EQ(st.requested, st.freed);
	EXPECT_EQ(0, st.outstanding);
}

/*
 * The state turns DYING before the kill's zap runs. Once p faults, and the fault fails, the
 * zap has passed it; p should be the last page of its mapping, as the zap goes up.
 */
static int wait_zapped(uint8_t *p, int timeout_ms)
{
	for (int i = 0; i < timeout_ms; i++) {
		if (rpg_touch(p, false) == SIGBUS)
			return 0;
		usleep(1000);
	}
	return -1;
}

/* Waits until a kill ran; with no holder left the pgmap may be dead by then. */
static int wait_killed(int fd, int timeout_ms)
{
	struct rust_pgmap_status st;

	for (int i = 0; i < timeout_ms / 10; i++) {
		if (!rpg_status(fd, &st) && st.state != RUST_PGMAP_STATE_LIVE)
			return 0;
		usleep(10000);
	}
	return -1;
}

/* Re-attaches, maps the range again and counts the bytes that differ from the pattern. */
static uint64_t verify_after_attach(struct __test_metadata *_metadata, int fd, uint64_t first,
				    uint64_t n, uint32_t seed)
{
	uint64_t bad;
	uint8_t *a;

	ASSERT_EQ(0, rpg_make_live(fd));
	a = rpg_map(fd, first, n);
	ASSERT_NE(MAP_FAILED, a);
	bad = rpg_verify(a, first, n, seed);
	munmap(a, n * RPG_PAGE);
	return bad;
}

/* gup_test */

struct gup_cmd {
	unsigned long cmd;
	const char *name;
	uint32_t gup_flags;
};

static const struct gup_cmd gup_cmds[] = {
	{ GUP_FAST_BENCHMARK, "GUP_FAST_BENCHMARK", 0 },
	{ GUP_BASIC_TEST, "GUP_BASIC_TEST", GUP_FOLL_WRITE },
	{ PIN_BASIC_TEST, "PIN_BASIC_TEST", GUP_FOLL_WRITE },
	{ PIN_FAST_BENCHMARK, "PIN_FAST_BENCHMARK", GUP_FOLL_WRITE },
};

/*
 * Runs one gup_test command. The driver releases its references before it returns and reports
 * how far it got in *size (it returns 0 even when the gup failed); with per_call == 1 that is
 * exactly the bytes it obtained.
 */
static int gup_test_run(int gfd, const struct gup_cmd *c, void *addr, uint64_t npages,
			uint32_t per_call, uint64_t *size)
{
	struct gup_test g = {
		.addr = (uintptr_t)addr,
		.size = npages * RPG_PAGE,
		.nr_pages_per_call = per_call,
		.gup_flags = c->gup_flags,
	};

	if (ioctl(gfd, c->cmd, &g))
		return -errno;
	*size = g.size;
	return 0;
}

TEST_F(gup_paths, gup_test_gets_and_pins_whole_range)
{
	const uint64_t n = 32, first = 1000;
	struct rust_pgmap_status st;
	uint64_t size = 0;
	uint8_t *a;
	int ret;

	a = map_filled(_metadata, self->fd, first, n, 11);
	ASSERT_NE(MAP_FAILED, a);

	for (unsigned int i = 0; i < ARRAY_SIZE(gup_cmds); i++) {
		ret = gup_test_run(self->gfd, &gup_cmds[i], a, n, n, &size);
		EXPECT_EQ(0, ret) TH_LOG("%s: %s", gup_cmds[i].name, strerror(-ret));
		EXPECT_EQ(n * RPG_PAGE, size) TH_LOG("%s covered %llu of %llu bytes",
						     gup_cmds[i].name, (unsigned long long)size,
						     (unsigned long long)(n * RPG_PAGE));
		/* The mapping keeps the pages: gup neither requests new ones nor leaks any. */
		ASSERT_EQ(0, rpg_status(self->fd, &st));
		EXPECT_EQ(self->st.requested + n, st.requested) TH_LOG("%s", gup_cmds[i].name);
		EXPECT_EQ(n, st.outstanding) TH_LOG("%s left references", gup_cmds[i].name);
	}
	EXPECT_EQ(0, rpg_verify(a, first, n, 11));

	ASSERT_EQ(0, munmap(a, n * RPG_PAGE));
	ASSERT_EQ(0, rpg_status(self->fd, &st));
	EXPECT_EQ(st.requested, st.freed);
	EXPECT_EQ(0, st.outstanding);
}

/*
 * gup-fast takes a folio only if it can vouch for its mapping; with CONFIG_SECRETMEM a NULL
 * folio->mapping sends every page to the slow path, several times slower. Mapped device pages
 * must name the device's mapping, as device-dax pages do, and stay on the fast path.
 */
TEST_F(gup_paths, gup_fast_takes_mapped_pages_without_slow_path)
{
	const uint64_t n = 64, first = 3000;
	uint64_t taken = 0;
	uint8_t *a, *anon;

	anon = mmap(NULL, n * RPG_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, anon);
	memset(anon, 1, n * RPG_PAGE);
	ASSERT_EQ(0, rpg_gup_fast_probe(self->fd, anon, n, &taken));
	ASSERT_EQ(n, taken) TH_LOG("the probe fails on anonymous memory: it proves nothing");

	a = map_filled(_metadata, self->fd, first, n, 21);
	ASSERT_NE(MAP_FAILED, a);
	ASSERT_EQ(0, rpg_gup_fast_probe(self->fd, a, n, &taken));
	EXPECT_EQ(n, taken) TH_LOG("gup-fast left device pages to the slow path from page %llu",
				   (unsigned long long)taken);

	/* Freed pages drop their mapping; requested again they must name it again. */
	ASSERT_EQ(0, munmap(a, n * RPG_PAGE));
	ASSERT_EQ(0, rpg_wait_outstanding(self->fd, 0, 5000));
	a = rpg_map(self->fd, first, n);
	ASSERT_NE(MAP_FAILED, a);
	EXPECT_EQ(0, rpg_verify(a, first, n, 21));
	ASSERT_EQ(0, rpg_gup_fast_probe(self->fd, a, n, &taken));
	EXPECT_EQ(n, taken);

	/* Nothing is held: the probe puts what it took. */
	ASSERT_EQ(0, munmap(a, n * RPG_PAGE));
	EXPECT_EQ(0, rpg_wait_outstanding(self->fd, 0, 5000));
	munmap(anon, n * RPG_PAGE);
}

/*
 * A page that a REQUEST holds and a mapping then shares names the device's mapping too, so
 * gup-fast takes it as it takes pages that a fault requested.
 */
TEST_F(gup_paths, gup_fast_takes_requested_pages_mapped_later)
{
	const uint64_t n = 16, first = 3500;
	uint64_t taken = 0, h = 0;
	uint8_t *a;

	ASSERT_EQ(0, rpg_request(self->fd, first, n, &h));
	a = map_filled(_metadata, self->fd, first, n, 22);
	ASSERT_NE(MAP_FAILED, a);
	ASSERT_EQ(0, rpg_gup_fast_probe(self->fd, a, n, &taken));
	EXPECT_EQ(n, taken) TH_LOG("gup-fast left requested pages to the slow path from page %llu",
				   (unsigned long long)taken);
	ASSERT_EQ(0, munmap(a, n * RPG_PAGE));
	ASSERT_EQ(0, rpg_release(self->fd, h));
	EXPECT_EQ(0, rpg_wait_outstanding(self->fd, 0, 5000));
}

/*
 * Both refmodes use device-dax's page type, whose pages are longterm-pinnable on 6.12. The pin
 * works, and what it buys is safe: a teardown waits for it like for any other reference.
 * longterm_test covers the pinners with other holders present.
 */
TEST_F(gup_paths, gup_test_longterm_pin_holds_teardown)
{
	static const uint32_t lt_flags[] = {
		PIN_LONGTERM_TEST_FLAG_USE_WRITE,
		PIN_LONGTERM_TEST_FLAG_USE_WRITE | PIN_LONGTERM_TEST_FLAG_USE_FAST,
	};
	const uint64_t n = 8, first = 1100;
	const uint32_t seed = 12;
	uint8_t *a, *copy = malloc(n * RPG_PAGE);
	uint64_t dst = (uintptr_t)copy, released;
	struct td_child c;

	ASSERT_NE(NULL, copy);
	for (unsigned int i = 0; i < ARRAY_SIZE(lt_flags); i++) {
		struct pin_longterm_test lt = {
			.size = n * RPG_PAGE,
			.flags = lt_flags[i],
		};

		ASSERT_EQ(0, rpg_make_live(self->fd));
		a = map_filled(_metadata, self->fd, first, n, seed + i);
		ASSERT_NE(MAP_FAILED, a);
		lt.addr = (uintptr_t)a;
		ASSERT_EQ(0, ioctl(self->gfd, PIN_LONGTERM_TEST_START, &lt))
			TH_LOG("flags %#x: %s", lt_flags[i], strerror(errno));
		ASSERT_EQ(0, td_start(&c));
		ASSERT_EQ(0, rpg_wait_state(self->fd, RUST_PGMAP_STATE_DYING, 5000));
		usleep(HOLD_US);
		EXPECT_TRUE(td_running(&c)) TH_LOG("the teardown did not wait for the longterm pin");
		/* The pinned pages still hold the data, through the zap. */
		ASSERT_EQ(0, ioctl(self->gfd, PIN_LONGTERM_TEST_READ, &dst));
		EXPECT_EQ(0, rpg_verify(copy, first, n, seed + i));
		released = rpg_now_ns();
		ASSERT_EQ(0, ioctl(self->gfd, PIN_LONGTERM_TEST_STOP));
		ASSERT_EQ(0, td_finish(&c, TD_TIMEOUT_MS));
		expect_prompt(_metadata, "longterm pin", &c, released);
		expect_drained(_metadata, self->fd);
		munmap(a, n * RPG_PAGE);
		EXPECT_EQ(0, verify_after_attach(_metadata, self->fd, first, n, seed + i));
	}
	free(copy);
}

TEST_F(gup_paths, gup_test_fails_after_kill_drain_waits_for_holder)
{
	const uint64_t n = 16, first = 1200, holder_page = 1299;
	struct rust_pgmap_status st, st_dying;
	struct td_child c;
	uint64_t h = 0, size, released;
	uint8_t *a;
	int ret;

	a = map_filled(_metadata, self->fd, first, n, 13);
	ASSERT_NE(MAP_FAILED, a);
	/* gup_test drops its references inside the ioctl, so a request keeps the pgmap dying. */
	ASSERT_EQ(0, rpg_request(self->fd, holder_page, 1, &h));

	ASSERT_EQ(0, td_start(&c));
	ASSERT_EQ(0, rpg_wait_state(self->fd, RUST_PGMAP_STATE_DYING, 5000));
	/* Only the request is left once the zap dropped every mapped page. */
	ASSERT_EQ(0, rpg_wait_outstanding(self->fd, 1, 5000))
		TH_LOG("the kill did not zap the mapping");
	ASSERT_EQ(0, rpg_status(self->fd, &st_dying));

	for (unsigned int i = 0; i < ARRAY_SIZE(gup_cmds); i++) {
		size = 0;
		ret = gup_test_run(self->gfd, &gup_cmds[i], a, n, 1, &size);
		EXPECT_TRUE(ret < 0 || size == 0)
			TH_LOG("%s after the kill got %llu bytes", gup_cmds[i].name,
			       (unsigned long long)size);
	}
	EXPECT_EQ(SIGBUS, rpg_touch(a, false));
	ASSERT_EQ(0, rpg_status(self->fd, &st));
	EXPECT_EQ(st_dying.requested, st.requested) TH_LOG("a gup took a page of a dying pgmap");
	EXPECT_EQ(1, st.outstanding);

	usleep(HOLD_US);
	EXPECT_TRUE(td_running(&c)) TH_LOG("the teardown did not wait for the request");
	released = rpg_now_ns();
	ASSERT_EQ(0, rpg_release(self->fd, h));
	ASSERT_EQ(0, td_finish(&c, TD_TIMEOUT_MS));
	expect_prompt(_metadata, "gup_test", &c, released);
	EXPECT_EQ(n + 1, c.td.outstanding);
	expect_drained(_metadata, self->fd);
	munmap(a, n * RPG_PAGE);

	EXPECT_EQ(0, verify_after_attach(_metadata, self->fd, first, n, 13));
}

/* vmsplice */

TEST_F(gup_paths, vmsplice_pipe_holds_teardown_until_read)
{
	const uint64_t n = 16, first = 2000, first_new = 2100, n_new = 4;
	const size_t len = n * RPG_PAGE;
	struct rust_pgmap_status st;
	struct td_child c;
	uint64_t released;
	struct iovec iov;
	int pp[2], pp2[2], err;
	size_t got = 0;
	uint8_t *a, *b, *buf;
	ssize_t ret;

	buf = malloc(len);
	ASSERT_NE(NULL, buf);
	a = map_filled(_metadata, self->fd, first, n, 21);
	ASSERT_NE(MAP_FAILED, a);
	ASSERT_EQ(0, pipe(pp));
	ASSERT_LE((int)len, fcntl(pp[1], F_SETPIPE_SZ, 2 * len));

	iov = (struct iovec){ .iov_base = a, .iov_len = len };
	ret = vmsplice(pp[1], &iov, 1, SPLICE_F_NONBLOCK);
	ASSERT_EQ((ssize_t)len, ret) TH_LOG("vmsplice: %s", strerror(errno));
	/* From now on only the pipe buffers hold the pages. */
	ASSERT_EQ(0, munmap(a, len));
	ASSERT_EQ(0, rpg_status(self->fd, &st));
	EXPECT_EQ(n, st.outstanding);

	ASSERT_EQ(0, td_start(&c));
	ASSERT_EQ(0, rpg_wait_state(self->fd, RUST_PGMAP_STATE_DYING, 5000));

	/* A mapping made after the kill cannot fault pages in, so vmsplice's gup fails. */
	b = rpg_map(self->fd, first_new, n_new);
	ASSERT_NE(MAP_FAILED, b);
	ASSERT_EQ(0, pipe(pp2));
	iov = (struct iovec){ .iov_base = b, .iov_len = n_new * RPG_PAGE };
	ret = vmsplice(pp2[1], &iov, 1, SPLICE_F_NONBLOCK);
	err = errno;
	EXPECT_EQ(-1, ret) TH_LOG("vmsplice of a dying pgmap spliced %zd bytes", ret);
	EXPECT_TRUE(ret >= 0 || err == EFAULT) TH_LOG("vmsplice after the kill: %s", strerror(err));
	EXPECT_EQ(SIGBUS, rpg_touch(b, false));
	close(pp2[0]);
	close(pp2[1]);
	munmap(b, n_new * RPG_PAGE);

	usleep(HOLD_US);
	EXPECT_TRUE(td_running(&c)) TH_LOG("the teardown did not wait for the pipe");
	ASSERT_EQ(0, rpg_status(self->fd, &st));
	EXPECT_EQ(n, st.outstanding);

	/* Consuming a pipe buffer drops its page reference: reading is the release. */
	released = rpg_now_ns();
	while (got < len) {
		ret = read(pp[0], buf + got, len - got);
		if (ret <= 0)
			break;
		got += ret;
	}
	EXPECT_EQ(len, got);
	EXPECT_EQ(0, rpg_verify(buf, first, n, 21)) TH_LOG("the pipe returned other bytes");
	close(pp[0]);
	close(pp[1]);

	ASSERT_EQ(0, td_finish(&c, TD_TIMEOUT_MS));
	expect_prompt(_metadata, "vmsplice", &c, released);
	EXPECT_EQ(n, c.td.outstanding);
	expect_drained(_metadata, self->fd);
	free(buf);
}

/* O_DIRECT */

struct dio_job {
	int fd;
	void *buf;
	size_t len;
	off_t off;
	ssize_t ret;
	int err;
	uint64_t end_ns;
};

static void *pwrite_thread(void *arg)
{
	struct dio_job *job = arg;

	job->ret = pwrite(job->fd, job->buf, job->len, job->off);
	job->err = errno;
	__atomic_store_n(&job->end_ns, rpg_now_ns(), __ATOMIC_RELEASE);
	return NULL;
}

/* Reads the device with O_DIRECT into an aligned buffer and counts the bad bytes. */
static uint64_t verify_nullb(struct __test_metadata *_metadata, int blk, off_t off,
			     uint64_t first, uint64_t n, uint32_t seed)
{
	size_t len = n * RPG_PAGE;
	uint64_t bad;
	void *buf;

	ASSERT_EQ(0, posix_memalign(&buf, RPG_PAGE, len));
	memset(buf, 0, len);
	EXPECT_EQ((ssize_t)len, pread(blk, buf, len, off)) TH_LOG("pread: %s", strerror(errno));
	bad = rpg_verify(buf, first, n, seed);
	free(buf);
	return bad;
}

/*
 * Starts the teardown while a write from the n pages at `a` is in flight, waits for the kill
 * and its zap, and checks that the teardown still waits for the write's pins. done() says
 * whether the write completed; it is asked after the teardown, so that a write still running
 * then was running when the teardown was seen waiting.
 */
static void kill_during_write(struct __test_metadata *_metadata, int fd, const char *path,
			      uint8_t *a, uint64_t n, bool (*done)(void *), void *write,
			      struct td_child *c)
{
	struct rust_pgmap_status st;
	bool alive;

	/* Lets the write pin the pages and submit before the kill makes its gup fail. */
	usleep(50000);
	ASSERT_EQ(0, td_start(c));
	ASSERT_EQ(0, wait_killed(fd, 5000));
	ASSERT_EQ(0, wait_zapped(a + (n - 1) * RPG_PAGE, 5000));

	/* The mapping is gone: only the write's pins can still hold the pages. */
	ASSERT_EQ(0, rpg_status(fd, &st));
	alive = td_running(c);
	ASSERT_FALSE(done(write))
		TH_LOG("%s: the write completed before the teardown was looked at: null_blk's 1 s "
		       "completion is too short for this guest", path);
	EXPECT_TRUE(alive) TH_LOG("%s: the teardown completed with the write in flight", path);
	EXPECT_EQ(n, st.outstanding);
}

static bool dio_done(void *write)
{
	return __atomic_load_n(&((struct dio_job *)write)->end_ns, __ATOMIC_ACQUIRE) != 0;
}

static bool uring_done(void *write)
{
	return uring_completed(write);
}

TEST_F(gup_paths, o_direct_write_in_flight_holds_teardown)
{
	const uint64_t n = 16, first = 3000;
	const size_t len = n * RPG_PAGE;
	struct rust_pgmap_status st0, st;
	struct dio_job job;
	struct td_child c;
	uint64_t submitted;
	pthread_t th;
	uint8_t *a;
	int blk, err;
	ssize_t ret;

	blk = open(NULLB_PATH, O_RDWR | O_DIRECT);
	if (blk < 0)
		SKIP(return, NULLB_PATH ": %s", strerror(errno));
	a = map_filled(_metadata, self->fd, first, n, 31);
	ASSERT_NE(MAP_FAILED, a);
	ASSERT_EQ(0, rpg_status(self->fd, &st0));

	job = (struct dio_job){ .fd = blk, .buf = a, .len = len, .off = 0 };
	submitted = rpg_now_ns();
	ASSERT_EQ(0, pthread_create(&th, NULL, pwrite_thread, &job));
	kill_during_write(_metadata, self->fd, "o_direct", a, n, dio_done, &job, &c);
	/* A new O_DIRECT write from the zapped mapping: its gup faults, and the fault fails. */
	ret = pwrite(blk, a, RPG_PAGE, len);
	err = errno;
	EXPECT_EQ(-1, ret) TH_LOG("O_DIRECT from a dying pgmap wrote %zd bytes", ret);
	EXPECT_TRUE(ret >= 0 || err == EFAULT) TH_LOG("pwrite after the kill: %s", strerror(err));

	ASSERT_EQ(0, pthread_join(th, NULL));
	EXPECT_EQ((ssize_t)len, job.ret) TH_LOG("pwrite: %s", strerror(job.err));
	ASSERT_EQ(0, td_finish(&c, TD_TIMEOUT_MS));
	/* Holds however slow the guest is: the pins go no sooner than the timer completion. */
	EXPECT_GE(c.done_ns, submitted + NULLB_COMPLETION_NS)
		TH_LOG("the drain completed before the write did");
	/* The sync path unpins in the writer after the wait, just before pwrite returns. */
	expect_prompt(_metadata, "o_direct", &c, job.end_ns);
	EXPECT_EQ(n, c.td.outstanding);
	expect_drained(_metadata, self->fd);
	ASSERT_EQ(0, rpg_status(self->fd, &st));
	ksft_print_msg("o_direct: freed_in_irq %llu (+%llu during the write)\n",
		       (unsigned long long)st.freed_in_irq,
		       (unsigned long long)(st.freed_in_irq - st0.freed_in_irq));
	munmap(a, len);

	EXPECT_EQ(0, verify_nullb(_metadata, blk, 0, first, n, 31))
		TH_LOG("the device does not hold what the write sent");
	close(blk);
}

TEST_F(gup_paths, o_direct_read_lands_in_mapping)
{
	const uint64_t n = 16, first = 3100;
	const size_t len = n * RPG_PAGE;
	const off_t dev_off = 1 << 20;
	struct td_child c;
	void *buf;
	uint8_t *a;
	ssize_t ret;
	int blk;

	blk = open(NULLB_PATH, O_RDWR | O_DIRECT);
	if (blk < 0)
		SKIP(return, NULLB_PATH ": %s", strerror(errno));
	ASSERT_EQ(0, posix_memalign(&buf, RPG_PAGE, len));
	rpg_fill(buf, first, n, 32);
	ASSERT_EQ((ssize_t)len, pwrite(blk, buf, len, dev_off))
		TH_LOG("pwrite: %s", strerror(errno));
	free(buf);

	a = rpg_map(self->fd, first, n);
	ASSERT_NE(MAP_FAILED, a);
	/* Other bytes first, so that a read that moved nothing shows. */
	rpg_fill(a, first, n, 33);
	ret = pread(blk, a, len, dev_off);
	EXPECT_EQ((ssize_t)len, ret) TH_LOG("pread: %s", strerror(errno));
	EXPECT_EQ(0, rpg_verify(a, first, n, 32)) TH_LOG("the read did not land in the mapping");

	/* The read's pins are gone with the read: the teardown has only the mapping to zap. */
	ASSERT_EQ(0, td_start(&c));
	ASSERT_EQ(0, td_finish(&c, TD_TIMEOUT_MS));
	EXPECT_EQ(n, c.td.outstanding);
	expect_drained(_metadata, self->fd);
	munmap(a, len);
	close(blk);

	EXPECT_EQ(0, verify_after_attach(_metadata, self->fd, first, n, 32))
		TH_LOG("the read did not reach pmem");
}

TEST_F(gup_paths, o_direct_io_uring_write_unpins_from_irq)
{
	const uint64_t n = 16, first = 3200;
	const size_t len = n * RPG_PAGE;
	const off_t dev_off = 2 << 20;
	struct rust_pgmap_status st0, st;
	struct td_child c;
	struct uring u;
	uint64_t submitted;
	int blk, ret, res = 0;
	uint8_t *a;

	blk = open(NULLB_PATH, O_RDWR | O_DIRECT);
	if (blk < 0)
		SKIP(return, NULLB_PATH ": %s", strerror(errno));
	ret = uring_init(&u);
	if (ret) {
		close(blk);
		SKIP(return, "io_uring_setup: %s", strerror(-ret));
	}
	a = map_filled(_metadata, self->fd, first, n, 34);
	ASSERT_NE(MAP_FAILED, a);
	ASSERT_EQ(0, rpg_status(self->fd, &st0));

	submitted = rpg_now_ns();
	ASSERT_EQ(0, uring_submit(&u, IORING_OP_WRITE, blk, a, len, dev_off));
	kill_during_write(_metadata, self->fd, "o_direct io_uring", a, n, uring_done, &u, &c);

	ASSERT_EQ(0, uring_wait(&u, &res));
	EXPECT_EQ((int)len, res) TH_LOG("io_uring write: %s", strerror(-res));
	ASSERT_EQ(0, td_finish(&c, TD_TIMEOUT_MS));
	EXPECT_GE(c.done_ns, submitted + NULLB_COMPLETION_NS)
		TH_LOG("the drain completed before the write did");
	/* The async path unpins in the bio's end_io, run by the null_blk timer. */
	expect_prompt(_metadata, "o_direct io_uring", &c, submitted + NULLB_COMPLETION_NS);
	EXPECT_EQ(n, c.td.outstanding);
	expect_drained(_metadata, self->fd);
	ASSERT_EQ(0, rpg_status(self->fd, &st));
	ksft_print_msg("o_direct io_uring: freed_in_irq %llu (+%llu during the write)\n",
		       (unsigned long long)st.freed_in_irq,
		       (unsigned long long)(st.freed_in_irq - st0.freed_in_irq));
	/* With the zap done before the timer fired, the timer's unpin freed every page. */
	EXPECT_EQ(n, st.freed_in_irq - st0.freed_in_irq)
		TH_LOG("the unpin in the timer completion did not free the pages");
	munmap(a, len);

	/* The same data back through an io_uring read into a mapping of the new pgmap. */
	ASSERT_EQ(0, rpg_make_live(self->fd));
	a = map_filled(_metadata, self->fd, first, n, 35);
	ASSERT_NE(MAP_FAILED, a);
	ASSERT_EQ(0, uring_submit(&u, IORING_OP_READ, blk, a, len, dev_off));
	ASSERT_EQ(0, uring_wait(&u, &res));
	EXPECT_EQ((int)len, res) TH_LOG("io_uring read: %s", strerror(-res));
	EXPECT_EQ(0, rpg_verify(a, first, n, 34)) TH_LOG("the read did not return the write");
	munmap(a, len);
	/* A read's end_io may leave the unpin to a worker (bio_check_pages_dirty()). */
	EXPECT_EQ(0, rpg_wait_outstanding(self->fd, 0, 2000));
	uring_exit(&u);
	close(blk);
}

/* process_vm_readv / process_vm_writev */

/*
 * Maps the pages, writes seed_a and sends the address. Then serves commands: 'v' checks the
 * mapping holds seed_b, 't' checks that a read and a write of it fault with SIGBUS. Each gets
 * one reply byte, 0 for yes.
 */
static void pvm_child(int fd, uint64_t first, uint64_t n, uint32_t seed_a, uint32_t seed_b,
		      int tx, int rx)
{
	uint8_t *a = rpg_map(fd, first, n), cmd, r;
	uintptr_t addr = a == MAP_FAILED ? 0 : (uintptr_t)a;

	if (addr)
		rpg_fill(a, first, n, seed_a);
	if (write(tx, &addr, sizeof(addr)) != sizeof(addr) || !addr)
		_exit(2);
	while (read(rx, &cmd, 1) == 1) {
		if (cmd == 'v')
			r = rpg_verify(a, first, n, seed_b) != 0;
		else if (cmd == 't')
			r = !(rpg_touch(a, false) == SIGBUS &&
			      rpg_touch(a + (n - 1) * RPG_PAGE, true) == SIGBUS);
		else
			break;
		if (write(tx, &r, 1) != 1)
			_exit(2);
	}
	_exit(0);
}

TEST_F(gup_paths, process_vm_rw_then_teardown_zaps_remote)
{
	const uint64_t n = 16, first = 4000;
	const size_t len = n * RPG_PAGE;
	struct rust_pgmap_status st;
	struct iovec local, remote;
	struct td_child c;
	uintptr_t addr = 0;
	int c2p[2], p2c[2], status, err;
	uint8_t *buf, r = 1;
	ssize_t ret;
	pid_t pid;

	buf = malloc(len);
	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, pipe(c2p));
	ASSERT_EQ(0, pipe(p2c));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		close(c2p[0]);
		close(p2c[1]);
		pvm_child(self->fd, first, n, 41, 42, c2p[1], p2c[0]);
	}
	close(c2p[1]);
	close(p2c[0]);
	ASSERT_EQ(sizeof(addr), read(c2p[0], &addr, sizeof(addr)));
	ASSERT_NE(0, addr) TH_LOG("the child could not map the device");

	local = (struct iovec){ .iov_base = buf, .iov_len = len };
	remote = (struct iovec){ .iov_base = (void *)addr, .iov_len = len };
	ret = process_vm_readv(pid, &local, 1, &remote, 1, 0);
	err = errno;
	if (ret < 0 && err == ENOSYS) {
		close(p2c[1]);
		waitpid(pid, &status, 0);
		close(c2p[0]);
		free(buf);
		SKIP(return, "process_vm_readv: ENOSYS");
	}
	EXPECT_EQ((ssize_t)len, ret) TH_LOG("process_vm_readv: %s", strerror(err));
	EXPECT_EQ(0, rpg_verify(buf, first, n, 41));

	rpg_fill(buf, first, n, 42);
	ret = process_vm_writev(pid, &local, 1, &remote, 1, 0);
	EXPECT_EQ((ssize_t)len, ret) TH_LOG("process_vm_writev: %s", strerror(errno));
	ASSERT_EQ(1, write(p2c[1], "v", 1));
	ASSERT_EQ(1, read(c2p[0], &r, 1));
	EXPECT_EQ(0, r) TH_LOG("the child does not see what process_vm_writev wrote");
	/* The remote gups released their pins: only the child's mapping holds the pages. */
	ASSERT_EQ(0, rpg_status(self->fd, &st));
	EXPECT_EQ(n, st.outstanding);

	/* The kill zaps the child's mapping too, so nothing is left to wait for. */
	ASSERT_EQ(0, td_start(&c));
	ASSERT_EQ(0, td_finish(&c, TD_TIMEOUT_MS)) TH_LOG("the child's mapping kept the teardown");
	EXPECT_EQ(n, c.td.outstanding);
	expect_drained(_metadata, self->fd);

	memset(buf, 0, len);
	ret = process_vm_readv(pid, &local, 1, &remote, 1, 0);
	err = errno;
	EXPECT_TRUE(ret < (ssize_t)len) TH_LOG("process_vm_readv read a dead pgmap");
	ksft_print_msg("process_vm: readv after the teardown returned %zd (%s)\n", ret,
		       ret < 0 ? strerror(err) : "short");
	ASSERT_EQ(1, write(p2c[1], "t", 1));
	ASSERT_EQ(1, read(c2p[0], &r, 1));
	EXPECT_EQ(0, r) TH_LOG("the child's mapping survived the kill");

	close(p2c[1]);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(c2p[0]);
	free(buf);

	EXPECT_EQ(0, verify_after_attach(_metadata, self->fd, first, n, 42))
		TH_LOG("process_vm_writev's bytes did not reach pmem");
}

/* fork */

TEST_F(gup_paths, fork_shares_pages_teardown_zaps_both)
{
	const uint64_t n = 8, first = 5000, k = 3;
	struct rust_pgmap_status st;
	struct td_child c;
	int c2p[2], p2c[2], status;
	uint8_t *a, r = 1, bad;
	pid_t pid;

	a = map_filled(_metadata, self->fd, first, n, 51);
	ASSERT_NE(MAP_FAILED, a);
	ASSERT_EQ(0, pipe(c2p));
	ASSERT_EQ(0, pipe(p2c));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		uint8_t cmd;

		close(c2p[0]);
		close(p2c[1]);
		/* The shared mapping is inherited: same pages, so a write shows in the parent. */
		bad = rpg_verify(a, first, n, 51) != 0;
		if (!bad)
			rpg_fill(a + k * RPG_PAGE, first + k, 1, 52);
		if (write(c2p[1], &bad, 1) != 1 || read(p2c[0], &cmd, 1) != 1)
			_exit(2);
		_exit(rpg_touch(a, false) == SIGBUS &&
		      rpg_touch(a + (n - 1) * RPG_PAGE, true) == SIGBUS ? 0 : 1);
	}
	close(c2p[1]);
	close(p2c[0]);
	ASSERT_EQ(1, read(c2p[0], &r, 1));
	EXPECT_EQ(0, r) TH_LOG("the child does not see the parent's pattern");
	EXPECT_EQ(0, rpg_verify(a + k * RPG_PAGE, first + k, 1, 52))
		TH_LOG("the parent does not see the child's write");
	ASSERT_EQ(0, rpg_status(self->fd, &st));
	EXPECT_EQ(n, st.outstanding) TH_LOG("fork must share the pages, not request new ones");

	ASSERT_EQ(0, td_start(&c));
	ASSERT_EQ(0, td_finish(&c, TD_TIMEOUT_MS)) TH_LOG("a forked mapping kept the teardown");
	EXPECT_EQ(n, c.td.outstanding);
	expect_drained(_metadata, self->fd);

	EXPECT_EQ(SIGBUS, rpg_touch(a, false));
	EXPECT_EQ(SIGBUS, rpg_touch(a + (n - 1) * RPG_PAGE, true));
	ASSERT_EQ(1, write(p2c[1], "t", 1));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
		TH_LOG("the child's mapping survived the kill (status %#x)", status);
	close(p2c[1]);
	close(c2p[0]);
	munmap(a, n * RPG_PAGE);

	ASSERT_EQ(0, rpg_make_live(self->fd));
	a = rpg_map(self->fd, first, n);
	ASSERT_NE(MAP_FAILED, a);
	EXPECT_EQ(0, rpg_verify(a, first, k, 51));
	EXPECT_EQ(0, rpg_verify(a + k * RPG_PAGE, first + k, 1, 52));
	EXPECT_EQ(0, rpg_verify(a + (k + 1) * RPG_PAGE, first + k + 1, n - k - 1, 51));
	munmap(a, n * RPG_PAGE);
}

/* The module's own PIN */

static void module_pin_holds_teardown(struct __test_metadata *_metadata, int fd, uint64_t first,
				      uint32_t flags, uint32_t seed, const char *path)
{
	const uint64_t n = 16;
	struct rust_pgmap_status st;
	struct td_child c;
	uint64_t h = 0, h2 = 0, released;
	uint8_t *a, *b;
	int ret;

	a = rpg_map(fd, first, n);
	ASSERT_NE(MAP_FAILED, a);
	rpg_fill(a, first, n, seed);
	ASSERT_EQ(0, rpg_pin(fd, a, n, flags, &h));
	ASSERT_EQ(0, rpg_status(fd, &st));
	EXPECT_EQ(n, st.pinned);

	ASSERT_EQ(0, td_start(&c));
	ASSERT_EQ(0, rpg_wait_state(fd, RUST_PGMAP_STATE_DYING, 5000));
	ASSERT_EQ(0, wait_zapped(a + (n - 1) * RPG_PAGE, 5000));

	/* The pages are pinned but no longer mapped: a new pin has to fault, and fails. */
	ret = rpg_pin(fd, a, n, flags, &h2);
	EXPECT_EQ(-EFAULT, ret) TH_LOG("%s: pin after the kill: %s", path, strerror(-ret));
	if (!ret)
		rpg_unpin(fd, h2);
	b = rpg_map(fd, first, 1);
	ASSERT_NE(MAP_FAILED, b);
	EXPECT_EQ(SIGBUS, rpg_touch(b, false)) TH_LOG("%s: a pinned page was mapped again", path);
	munmap(b, RPG_PAGE);

	usleep(HOLD_US);
	EXPECT_TRUE(td_running(&c)) TH_LOG("%s: the teardown did not wait for the pin", path);
	ASSERT_EQ(0, rpg_status(fd, &st));
	EXPECT_EQ(n, st.outstanding);
	EXPECT_EQ(n, st.pinned);

	released = rpg_now_ns();
	ASSERT_EQ(0, rpg_unpin(fd, h));
	ASSERT_EQ(0, td_finish(&c, TD_TIMEOUT_MS));
	expect_prompt(_metadata, path, &c, released);
	EXPECT_EQ(n, c.td.outstanding);
	expect_drained(_metadata, fd);
	ASSERT_EQ(0, rpg_status(fd, &st));
	EXPECT_EQ(0, st.pinned);
	munmap(a, n * RPG_PAGE);

	EXPECT_EQ(0, verify_after_attach(_metadata, fd, first, n, seed))
		TH_LOG("%s: bytes lost across the pinned teardown", path);
}

TEST_F(gup_paths, module_pin_write_holds_teardown_until_unpin)
{
	module_pin_holds_teardown(_metadata, self->fd, 6000, RUST_PGMAP_PIN_WRITE, 61,
				  "module_pin write");
}

TEST_F(gup_paths, module_pin_read_holds_teardown_until_unpin)
{
	module_pin_holds_teardown(_metadata, self->fd, 6100, 0, 62, "module_pin read");
}

TEST_HARNESS_MAIN
