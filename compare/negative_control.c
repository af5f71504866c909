// SPDX-License-Identifier: GPL-2.0
/*
 * The negative control of `make compare`: one holder keeps references on device pages while
 * the device is torn down, then lets go.
 *
 *   negative_control HOLDER TARGET
 *
 * HOLDER is vmsplice (a pipe holds 16 pages), odirect (an O_DIRECT write of 16 pages to
 * null_blk, completing 1 s after submission), longterm (gup_test PIN_LONGTERM_TEST_START on
 * 16 pages) or rdma (an RDMA memory region of 16 pages, registered with ibv_reg_mr() on the
 * first verbs device: soft-RoCE in the compare guest); TARGET is rust_pgmap or daxN.M (see
 * target.h).
 *
 * It prints key=value lines as it goes, each flushed and synced to the file named by
 * $NEGATIVE_CONTROL_LOG, so that what was measured before the holder lets go survives an Oops
 * in the release. rust_pgmap is left live again.
 */
#define _GNU_SOURCE
#include "target.h"

#include <pthread.h>
#include <stdarg.h>
#include <sys/uio.h>

#include <infiniband/verbs.h>

#include "mm/gup_test.h"

#define NPAGES 16
#define MAP_PAGES 512 /* 2 MiB */
#define SEED 0x5c
/* How long a holder that releases on its own terms keeps the pages after the teardown began. */
#define HOLD_NS 2000000000ULL

static FILE *logf;

static void __attribute__((format(printf, 1, 2))) report(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
	if (logf) {
		va_start(ap, fmt);
		vfprintf(logf, fmt, ap);
		va_end(ap);
		fflush(logf);
		fsync(fileno(logf));
	}
}

struct teardown_thread {
	const struct target *t;
	pthread_t thread;
	uint64_t start_ns, end_ns; /* end_ns is 0 while it runs */
	int ret;
};

static void *teardown_fn(void *arg)
{
	struct teardown_thread *td = arg;
	int ret = target_teardown(td->t);

	td->ret = ret;
	__atomic_store_n(&td->end_ns, rpg_now_ns(), __ATOMIC_RELEASE);
	return NULL;
}

static void teardown_start(struct teardown_thread *td, const struct target *t)
{
	td->t = t;
	td->end_ns = 0;
	td->start_ns = rpg_now_ns();
	pthread_create(&td->thread, NULL, teardown_fn, td);
}

/* Waits until the teardown returns or deadline_ns passes; true if it returned. */
static bool teardown_wait(struct teardown_thread *td, uint64_t deadline_ns)
{
	while (!__atomic_load_n(&td->end_ns, __ATOMIC_ACQUIRE)) {
		if (rpg_now_ns() >= deadline_ns)
			return false;
		usleep(1000);
	}
	return true;
}

static void report_teardown(struct teardown_thread *td, const char *when)
{
	uint64_t end = __atomic_load_n(&td->end_ns, __ATOMIC_ACQUIRE);

	if (end)
		report("%s teardown=returned teardown_ms=%.1f teardown_rc=%d\n", when,
		       (end - td->start_ns) / 1e6, td->ret);
	else
		report("%s teardown=waiting waited_ms=%.1f\n", when,
		       (rpg_now_ns() - td->start_ns) / 1e6);
}

/* An RDMA memory region on the pages: a FOLL_LONGTERM pin until it is deregistered. */
struct rdma_region {
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct ibv_mr *mr;
};

/* 0, or -errno; on failure what was set up stays for rdma_release(). */
static int rdma_register(struct rdma_region *r, void *addr, size_t len)
{
	struct ibv_device **list = ibv_get_device_list(NULL);

	if (list && list[0])
		r->ctx = ibv_open_device(list[0]);
	if (list)
		ibv_free_device_list(list);
	if (!r->ctx)
		return -ENODEV;
	r->pd = ibv_alloc_pd(r->ctx);
	if (!r->pd)
		return -(errno ?: ENOMEM);
	r->mr = ibv_reg_mr(r->pd, addr, len, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ |
						IBV_ACCESS_REMOTE_WRITE);
	return r->mr ? 0 : -(errno ?: EIO);
}

/* Deregisters (unpins) and closes; the deregistration's result. */
static int rdma_release(struct rdma_region *r)
{
	int ret = 0;

	if (r->mr)
		ret = ibv_dereg_mr(r->mr);
	if (r->pd)
		ibv_dealloc_pd(r->pd);
	if (r->ctx)
		ibv_close_device(r->ctx);
	return ret > 0 ? -ret : ret;
}

struct odirect_write {
	int fd;
	const uint8_t *buf;
	ssize_t ret;
	uint64_t done_ns;
};

static void *odirect_fn(void *arg)
{
	struct odirect_write *w = arg;

	w->ret = pwrite(w->fd, w->buf, NPAGES * RPG_PAGE, 0);
	__atomic_store_n(&w->done_ns, rpg_now_ns(), __ATOMIC_RELEASE);
	return NULL;
}

int main(int argc, char **argv)
{
	const uint64_t len = MAP_PAGES * RPG_PAGE;
	struct teardown_thread td;
	struct odirect_write w = { 0 };
	struct rdma_region mr = { 0 };
	pthread_t writer;
	struct target t;
	uint8_t *a, *copy;
	const char *holder;
	uint64_t released_ns, bad;
	int pipefd[2], gfd = -1, nfd = -1, ret, read_err;

	if (argc != 3) {
		fprintf(stderr, "usage: %s vmsplice|odirect|longterm rust_pgmap|daxN.M\n", argv[0]);
		return 2;
	}
	holder = argv[1];
	if (getenv("NEGATIVE_CONTROL_LOG"))
		logf = fopen(getenv("NEGATIVE_CONTROL_LOG"), "a");
	ret = target_init(&t, argv[2]);
	if (ret || t.anon) {
		fprintf(stderr, "%s: not a device (%s)\n", argv[2], strerror(-ret));
		return 1;
	}
	if (posix_memalign((void **)&copy, RPG_PAGE, NPAGES * RPG_PAGE))
		return 1;
	a = target_map(&t, len);
	if (a == MAP_FAILED) {
		fprintf(stderr, "%s: mmap: %s\n", t.name, strerror(errno));
		return 1;
	}
	rpg_fill(a, 0, MAP_PAGES, SEED);
	report("case holder=%s target=%s pages=%d\n", holder, t.name, NPAGES);

	/* The holder takes its references. */
	if (!strcmp(holder, "vmsplice")) {
		struct iovec iov = { .iov_base = a, .iov_len = NPAGES * RPG_PAGE };

		if (pipe(pipefd) || fcntl(pipefd[1], F_SETPIPE_SZ, NPAGES * RPG_PAGE) < 0)
			return 1;
		ret = vmsplice(pipefd[1], &iov, 1, 0);
		report("hold rc=%d\n", ret == NPAGES * (int)RPG_PAGE ? 0 : -errno);
	} else if (!strcmp(holder, "odirect")) {
		nfd = open("/dev/nullb0", O_RDWR | O_DIRECT);
		if (nfd < 0)
			return 1;
		w.fd = nfd;
		w.buf = a;
		pthread_create(&writer, NULL, odirect_fn, &w);
		/* Submitted (and pinned) well before null_blk's timer completes it after 1 s. */
		usleep(200000);
		report("hold rc=0 in_flight=%s\n",
		       __atomic_load_n(&w.done_ns, __ATOMIC_ACQUIRE) ? "no" : "yes");
	} else if (!strcmp(holder, "longterm")) {
		struct pin_longterm_test pin = {
			.addr = (uintptr_t)a,
			.size = NPAGES * RPG_PAGE,
			.flags = PIN_LONGTERM_TEST_FLAG_USE_WRITE,
		};

		gfd = open("/sys/kernel/debug/gup_test", O_RDWR);
		if (gfd < 0)
			return 1;
		if (ioctl(gfd, PIN_LONGTERM_TEST_START, &pin)) {
			/* Refused: there is no holder, and the teardown must not wait. */
			report("hold rc=%d refused=%s\n", -errno, strerrorname_np(errno));
			teardown_start(&td, &t);
			teardown_wait(&td, rpg_now_ns() + 30 * HOLD_NS);
			report_teardown(&td, "no-holder");
			pthread_join(td.thread, NULL);
			if (!t.dax)
				target_recreate(&t);
			report("result clean=yes\n");
			return 0;
		}
		report("hold rc=0\n");
	} else if (!strcmp(holder, "rdma")) {
		ret = rdma_register(&mr, a, NPAGES * RPG_PAGE);
		report("hold rc=%d\n", ret);
		if (ret)
			return 1;
	} else {
		fprintf(stderr, "unknown holder %s\n", holder);
		return 2;
	}

	/* Tear the device down while the holder keeps its references. */
	teardown_start(&td, &t);
	if (!strcmp(holder, "odirect")) {
		/* The holder lets go when the I/O completes. */
		while (!__atomic_load_n(&w.done_ns, __ATOMIC_ACQUIRE) &&
		       !__atomic_load_n(&td.end_ns, __ATOMIC_ACQUIRE))
			usleep(1000);
		report_teardown(&td, "before-release");
		pthread_join(writer, NULL);
		released_ns = w.done_ns;
		report("release rc=%d\n", w.ret == NPAGES * (ssize_t)RPG_PAGE ? 0 : -errno);
		/* What the write delivered, read back from null_blk. */
		ret = pread(nfd, copy, NPAGES * RPG_PAGE, 0);
		read_err = ret == NPAGES * (int)RPG_PAGE ? 0 : ret < 0 ? errno : EIO;
	} else {
		teardown_wait(&td, td.start_ns + HOLD_NS);
		report_teardown(&td, "before-release");
		released_ns = rpg_now_ns();
		if (!strcmp(holder, "vmsplice")) {
			/* The pipe's data, then its buffers: close puts any the read left. */
			ret = read(pipefd[0], copy, NPAGES * RPG_PAGE);
			read_err = ret == NPAGES * (int)RPG_PAGE ? 0 : ret < 0 ? errno : EIO;
			report("read rc=%d\n", -read_err);
			close(pipefd[0]);
			close(pipefd[1]);
			report("release rc=0\n");
		} else if (!strcmp(holder, "rdma")) {
			/* A memory region gives this process no view of its own to read back. */
			read_err = -1;
			report("release rc=%d\n", rdma_release(&mr));
		} else {
			uint64_t dst = (uintptr_t)copy;

			ret = ioctl(gfd, PIN_LONGTERM_TEST_READ, &dst);
			read_err = ret ? errno : 0;
			report("read rc=%d\n", -read_err);
			ret = ioctl(gfd, PIN_LONGTERM_TEST_STOP);
			report("release rc=%d\n", ret ? -errno : 0);
		}
	}
	if (read_err < 0) {
		report("data unread=no_cpu_view\n");
	} else if (read_err) {
		report("data unreadable=%s\n", strerrorname_np(read_err));
	} else {
		bad = rpg_verify(copy, 0, NPAGES, SEED);
		report("data bytes_wrong=%llu intact=%s\n", (unsigned long long)bad,
		       bad ? "no" : "yes");
	}
	if (!teardown_wait(&td, released_ns + 10 * HOLD_NS)) {
		report_teardown(&td, "stuck");
		return 1;
	}
	report("after-release teardown_ms=%.1f returned_ms_after_release=%.1f\n",
	       (td.end_ns - td.start_ns) / 1e6, ((int64_t)(td.end_ns - released_ns)) / 1e6);
	pthread_join(td.thread, NULL);
	if (!t.dax)
		target_recreate(&t);
	report("result clean=yes\n");
	return 0;
}
