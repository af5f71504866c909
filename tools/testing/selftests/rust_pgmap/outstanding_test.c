// SPDX-License-Identifier: GPL-2.0
/*
 * /sys/kernel/debug/rust_pgmap/outstanding: the list of requested pages whose page_free has not
 * run yet, with what holds each (a mapping, a DMA pin, or another reference such as a pipe
 * buffer), and the summary the module logs when a teardown starts to drain. While live it names
 * the mapped pages; during a drain it names exactly the pages a pipe and a PIN still hold, and
 * is empty again once they let go.
 */
#define _GNU_SOURCE
#include "rust_pgmap_lib.h"

#include <inttypes.h>
#include <poll.h>
#include <sys/klog.h>
#include <sys/uio.h>
#include <sys/vfs.h>

#include <linux/magic.h>

#include "kselftest_harness.h"
#include "rust_pgmap_fixture.h"
#include "rust_pgmap_teardown.h"

#define OS_PATH "/sys/kernel/debug/rust_pgmap/outstanding"
#define OS_HEADER "offset refcount pinned mapcount holder"
/* Pages the parser keeps; the tests expect at most 16. */
#define OS_MAX 64
/* The file of a few pages is far smaller; a bigger one is malformed. */
#define OS_MAX_BYTES (1 << 20)

/* A teardown that does not complete within this is stuck. */
#define TD_TIMEOUT_MS 10000
/* How long the drain's first log line may lag the state turning dying. */
#define KLOG_TIMEOUT_MS 5000

/* Not in a uapi header: include/linux/syslog.h. */
#ifndef SYSLOG_ACTION_READ_ALL
#define SYSLOG_ACTION_READ_ALL 3
#endif
#ifndef SYSLOG_ACTION_SIZE_BUFFER
#define SYSLOG_ACTION_SIZE_BUFFER 10
#endif

RPG_FIXTURE(outstanding)

FIXTURE_SETUP(outstanding)
{
	struct statfs fs;

	RPG_FIXTURE_OPEN();
	/* Without debugfs there is nothing to test; with it, the module must provide the file. */
	if (statfs("/sys/kernel/debug", &fs) || fs.f_type != DEBUGFS_MAGIC)
		SKIP(return, "debugfs is not mounted at /sys/kernel/debug");
	ASSERT_EQ(0, access(OS_PATH, R_OK)) TH_LOG(OS_PATH ": %s", strerror(errno));
}

/* The outstanding file, parsed. */

struct os_page {
	uint64_t offset;
	long long refcount;
	unsigned int pinned;
	long long mapcount;
	char holder[64]; /* the module with a hold on the page, or "-" */
};

struct os_file {
	bool header_ok;
	bool total_seen;
	unsigned int n; /* page lines; only the first OS_MAX are kept */
	struct os_page p[OS_MAX];
	char total[128]; /* the total line as read */
	unsigned long long t_total, t_pinned, t_mapped, t_other;
	unsigned int bad; /* lines that match no format, or follow the total */
	char first_bad[128];
};

static void os_bad(struct os_file *f, const char *line)
{
	if (!f->bad++)
		snprintf(f->first_bad, sizeof(f->first_bad), "%s", line);
}

/* One line, without its newline. Formats are checked by printing the values back. */
static void os_parse_line(struct os_file *f, const char *line, bool first)
{
	char again[160];
	struct os_page pg;
	unsigned long long off;

	if (first) {
		f->header_ok = !strcmp(line, OS_HEADER);
		if (!f->header_ok)
			os_bad(f, line);
		return;
	}
	if (f->total_seen) {
		os_bad(f, line);
		return;
	}
	if (!strncmp(line, "total ", 6)) {
		f->total_seen = true;
		snprintf(f->total, sizeof(f->total), "%s", line);
		if (sscanf(line, "total %llu (%llu pinned, %llu mapped, %llu other)", &f->t_total,
			   &f->t_pinned, &f->t_mapped, &f->t_other) != 4)
			os_bad(f, line);
		snprintf(again, sizeof(again), "total %llu (%llu pinned, %llu mapped, %llu other)",
			 f->t_total, f->t_pinned, f->t_mapped, f->t_other);
		if (strcmp(again, line))
			os_bad(f, line);
		return;
	}
	if (sscanf(line, "%llu %lld %u %lld %63s", &off, &pg.refcount, &pg.pinned, &pg.mapcount,
		   pg.holder) != 5) {
		os_bad(f, line);
		return;
	}
	pg.offset = off;
	snprintf(again, sizeof(again), "%llu %lld %u %lld %s", off, pg.refcount, pg.pinned,
		 pg.mapcount, pg.holder);
	if (strcmp(again, line) || pg.pinned > 1) {
		os_bad(f, line);
		return;
	}
	if (f->n < OS_MAX)
		f->p[f->n] = pg;
	f->n++;
}

/* Reads and parses the file; 0 or -errno. */
static int os_read(struct os_file *f)
{
	size_t len = 0;
	char *buf, *line, *nl;
	ssize_t ret = 0;
	int fd;

	memset(f, 0, sizeof(*f));
	fd = open(OS_PATH, O_RDONLY);
	if (fd < 0)
		return -errno;
	buf = malloc(OS_MAX_BYTES + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	while (len < OS_MAX_BYTES) {
		ret = read(fd, buf + len, OS_MAX_BYTES - len);
		if (ret < 0 && errno == EINTR)
			continue;
		if (ret <= 0)
			break;
		len += ret;
	}
	close(fd);
	if (ret < 0 || len >= OS_MAX_BYTES) {
		free(buf);
		return ret < 0 ? -errno : -EFBIG;
	}
	buf[len] = '\0';
	for (line = buf; *line; line = nl + 1) {
		nl = strchr(line, '\n');
		if (!nl) {
			/* Every line ends with a newline, the last one too. */
			os_bad(f, line);
			break;
		}
		*nl = '\0';
		os_parse_line(f, line, line == buf);
	}
	free(buf);
	return 0;
}

/* The file is well formed, and its total line agrees with its page lines. */
static void os_expect_consistent(struct __test_metadata *_metadata, const struct os_file *f)
{
	unsigned long long pinned = 0, mapped = 0, other = 0;

	EXPECT_TRUE(f->header_ok) TH_LOG("no header line \"%s\"", OS_HEADER);
	EXPECT_TRUE(f->total_seen) TH_LOG("no total line");
	EXPECT_EQ(0, f->bad) TH_LOG("%u malformed lines, the first: \"%s\"", f->bad,
				     f->first_bad);
	for (unsigned int i = 0; i < f->n && i < OS_MAX; i++) {
		if (i)
			EXPECT_LT(f->p[i - 1].offset, f->p[i].offset)
				TH_LOG("offsets not ascending at line %u", i + 2);
		if (f->p[i].pinned)
			pinned++;
		else if (f->p[i].mapcount > 0)
			mapped++;
		else
			other++;
	}
	if (f->n <= OS_MAX) {
		EXPECT_EQ(f->n, f->t_total) TH_LOG("\"%s\" after %u page lines", f->total, f->n);
		EXPECT_EQ(pinned, f->t_pinned) TH_LOG("\"%s\"", f->total);
		EXPECT_EQ(mapped, f->t_mapped) TH_LOG("\"%s\"", f->total);
		EXPECT_EQ(other, f->t_other) TH_LOG("\"%s\"", f->total);
	}
}

/* The kernel log, read with klogctl() */

/* The whole log buffer, NUL-terminated, or NULL. */
static char *klog_read(void)
{
	int size = klogctl(SYSLOG_ACTION_SIZE_BUFFER, NULL, 0), len;
	char *buf;

	if (size <= 0)
		return NULL;
	buf = malloc(size + 1);
	if (!buf)
		return NULL;
	len = klogctl(SYSLOG_ACTION_READ_ALL, buf, size);
	if (len < 0) {
		free(buf);
		return NULL;
	}
	buf[len] = '\0';
	return buf;
}

/* The last complete line of the log (with its timestamp), marking where new lines begin. */
static char *klog_mark(void)
{
	char *log = klog_read(), *end, *start, *mark;

	if (!log)
		return NULL;
	end = log + strlen(log);
	while (end > log && end[-1] == '\n')
		end--;
	*end = '\0';
	start = strrchr(log, '\n');
	start = start ? start + 1 : log;
	mark = strdup(start);
	free(log);
	return mark;
}

/*
 * Whether needle is in a line logged after the mark. Without the mark in the buffer (an empty
 * log, or one that wrapped past it) the whole buffer is searched.
 */
static bool klog_logged_since(const char *mark, const char *needle)
{
	char *log = klog_read(), *from, *at;
	bool found;

	if (!log)
		return false;
	from = log;
	if (mark && *mark) {
		for (at = strstr(log, mark); at; at = strstr(at + 1, mark))
			if (at == log || at[-1] == '\n')
				from = at + strlen(mark);
	}
	found = strstr(from, needle);
	free(log);
	return found;
}

static bool klog_wait(const char *mark, const char *needle, int timeout_ms)
{
	for (int i = 0; i < timeout_ms / 50; i++) {
		if (klog_logged_since(mark, needle))
			return true;
		usleep(50000);
	}
	return klog_logged_since(mark, needle);
}


TEST_F(outstanding, outstanding_lists_mapped_pages_while_live)
{
	const uint64_t n = 16;
	struct os_file f;
	uint8_t *a;
	int ret;

	a = rpg_map(self->fd, 0, n);
	ASSERT_NE(MAP_FAILED, a);
	rpg_fill(a, 0, n, 71);

	ret = os_read(&f);
	ASSERT_EQ(0, ret) TH_LOG(OS_PATH ": %s", strerror(-ret));
	os_expect_consistent(_metadata, &f);
	ASSERT_EQ(n, f.n) TH_LOG("%u pages listed for %llu mapped", f.n, (unsigned long long)n);
	for (uint64_t i = 0; i < n; i++) {
		EXPECT_EQ(i, f.p[i].offset);
		EXPECT_EQ(0, f.p[i].pinned) TH_LOG("page %llu", (unsigned long long)i);
		EXPECT_GE(f.p[i].mapcount, 1) TH_LOG("page %llu", (unsigned long long)i);
		EXPECT_GE(f.p[i].refcount, 1) TH_LOG("page %llu", (unsigned long long)i);
		/* Faulted in, not requested through a hold. */
		EXPECT_STREQ("-", f.p[i].holder) TH_LOG("page %llu", (unsigned long long)i);
	}
	EXPECT_STREQ("total 16 (0 pinned, 16 mapped, 0 other)", f.total);

	ASSERT_EQ(0, munmap(a, n * RPG_PAGE));
	ret = os_read(&f);
	ASSERT_EQ(0, ret) TH_LOG(OS_PATH ": %s", strerror(-ret));
	os_expect_consistent(_metadata, &f);
	EXPECT_EQ(0, f.n) TH_LOG("pages listed after the munmap freed them");
	EXPECT_STREQ("total 0 (0 pinned, 0 mapped, 0 other)", f.total);
}

TEST_F_TIMEOUT(outstanding, outstanding_names_the_pipe_and_the_pin_holding_a_drain, 60)
{
	static const uint64_t want[] = { 0, 1, 2, 3, 8, 9, 10, 11 };
	const uint64_t n = 16, n_want = ARRAY_SIZE(want);
	const size_t len = n * RPG_PAGE, spliced = 4 * RPG_PAGE;
	struct rust_pgmap_status st;
	struct td_child c;
	struct os_file f;
	struct iovec iov;
	uint64_t h = 0;
	bool dying;
	char *mark, buf[4096];
	size_t got = 0;
	ssize_t r;
	int pp[2], ret;
	uint8_t *a;

	a = rpg_map(self->fd, 0, n);
	ASSERT_NE(MAP_FAILED, a);
	rpg_fill(a, 0, n, 72);
	ASSERT_EQ(0, pipe(pp));
	ASSERT_LE((int)spliced, fcntl(pp[1], F_SETPIPE_SZ, (int)len));
	ASSERT_EQ(0, fcntl(pp[0], F_SETFL, O_NONBLOCK));

	/* Pages 0..3: plain references held by the pipe buffers, not DMA pins. */
	iov = (struct iovec){ .iov_base = a, .iov_len = spliced };
	r = vmsplice(pp[1], &iov, 1, SPLICE_F_NONBLOCK);
	ASSERT_EQ((ssize_t)spliced, r) TH_LOG("vmsplice: %s", strerror(errno));
	/* Pages 8..11: DMA pins. */
	ASSERT_EQ(0, rpg_pin(self->fd, a + 8 * RPG_PAGE, 4, RUST_PGMAP_PIN_WRITE, &h));
	ASSERT_EQ(0, munmap(a, len));
	ASSERT_EQ(0, rpg_status(self->fd, &st));
	ASSERT_EQ(n_want, st.outstanding);

	mark = klog_mark();
	EXPECT_NE(NULL, mark) TH_LOG("klogctl: %s", strerror(errno));
	ASSERT_EQ(0, td_start(&c));
	/*
	 * No ASSERT from here until the pipe and the pin are released: the fixture's teardown
	 * would wait for them.
	 */
	dying = !rpg_wait_state(self->fd, RUST_PGMAP_STATE_DYING, 5000);
	EXPECT_TRUE(dying) TH_LOG("the teardown did not kill the pgmap");

	ret = os_read(&f);
	EXPECT_EQ(0, ret) TH_LOG(OS_PATH ": %s", strerror(-ret));
	if (!ret) {
		os_expect_consistent(_metadata, &f);
		EXPECT_EQ(n_want, f.n) TH_LOG("%u pages listed, 8 are held", f.n);
		for (uint64_t i = 0; i < n_want && i < f.n; i++) {
			EXPECT_EQ(want[i], f.p[i].offset);
			EXPECT_EQ(want[i] >= 8, f.p[i].pinned)
				TH_LOG("page %llu", (unsigned long long)f.p[i].offset);
			EXPECT_EQ(0, f.p[i].mapcount)
				TH_LOG("page %llu", (unsigned long long)f.p[i].offset);
			EXPECT_GE(f.p[i].refcount, 1)
				TH_LOG("page %llu", (unsigned long long)f.p[i].offset);
			EXPECT_STREQ("-", f.p[i].holder)
				TH_LOG("page %llu", (unsigned long long)f.p[i].offset);
		}
		EXPECT_STREQ("total 8 (4 pinned, 0 mapped, 4 other)", f.total);
	}

	EXPECT_TRUE(klog_wait(mark, "draining: 8 folios outstanding: 4 pinned, 0 mapped, 4 other",
			      KLOG_TIMEOUT_MS))
		TH_LOG("no drain summary in the kernel log");
	EXPECT_TRUE(klog_logged_since(mark, "draining: 8 folios outstanding: 4 pinned, 0 mapped, "
					    "4 other; first offsets 0 1 2 3 8 9 10 11\n"))
		TH_LOG("the drain summary does not name offsets 0 1 2 3 8 9 10 11");
	free(mark);

	/* Reading the pipe drops its references; unpinning drops the pins. */
	while (got < spliced) {
		r = read(pp[0], buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += r;
	}
	EXPECT_EQ(spliced, got);
	close(pp[0]);
	close(pp[1]);
	EXPECT_EQ(0, rpg_unpin(self->fd, h));

	ret = td_finish(&c, TD_TIMEOUT_MS);
	EXPECT_EQ(0, ret) TH_LOG("teardown: %s", strerror(-ret));
	if (!ret)
		EXPECT_EQ(n_want, c.td.outstanding);

	ret = os_read(&f);
	ASSERT_EQ(0, ret) TH_LOG(OS_PATH ": %s", strerror(-ret));
	os_expect_consistent(_metadata, &f);
	EXPECT_EQ(0, f.n) TH_LOG("pages listed after the drain");
	EXPECT_STREQ("total 0 (0 pinned, 0 mapped, 0 other)", f.total);
	ASSERT_EQ(0, rpg_status(self->fd, &st));
	EXPECT_EQ(RUST_PGMAP_STATE_DEAD, st.state);
	EXPECT_EQ(0, st.outstanding);
	EXPECT_EQ(0, st.freed_live);
}

TEST_HARNESS_MAIN
