/* SPDX-License-Identifier: GPL-2.0 */
/* Helpers shared by the rust_pgmap selftests and samples. */
#ifndef RUST_PGMAP_LIB_H
#define RUST_PGMAP_LIB_H

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/klog.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/rust_pgmap.h>

/* The mmap flags that the tests of refused flags use, for C libraries that lack them. */
#ifndef MAP_SHARED_VALIDATE
#define MAP_SHARED_VALIDATE 0x03
#endif
#ifndef MAP_SYNC
#define MAP_SYNC 0x80000
#endif

#define RPG_DEV "/dev/rust_pgmap"
/* The page size: the device maps whole pages. */
static inline uint64_t rpg_page_size(void)
{
	static uint64_t size;

	if (!size)
		size = (uint64_t)sysconf(_SC_PAGESIZE);
	return size;
}
#define RPG_PAGE rpg_page_size()

static inline int rpg_status(int fd, struct rust_pgmap_status *st)
{
	return ioctl(fd, RUST_PGMAP_IOC_STATUS, st) ? -errno : 0;
}

static inline int rpg_pin(int fd, void *addr, uint64_t npages, uint32_t flags, uint64_t *handle)
{
	struct rust_pgmap_pin pin = { .addr = (uintptr_t)addr, .npages = npages, .flags = flags };

	if (ioctl(fd, RUST_PGMAP_IOC_PIN, &pin))
		return -errno;
	*handle = pin.handle;
	return 0;
}

static inline int rpg_unpin(int fd, uint64_t handle)
{
	return ioctl(fd, RUST_PGMAP_IOC_UNPIN, &handle) ? -errno : 0;
}

static inline int rpg_request(int fd, uint64_t offset, uint64_t npages, uint64_t *handle)
{
	struct rust_pgmap_request req = { .offset = offset, .npages = npages };

	if (ioctl(fd, RUST_PGMAP_IOC_REQUEST, &req))
		return -errno;
	*handle = req.handle;
	return 0;
}

static inline int rpg_release(int fd, uint64_t handle)
{
	return ioctl(fd, RUST_PGMAP_IOC_RELEASE, &handle) ? -errno : 0;
}

/* How many of npages from addr gup-fast takes without falling back to the slow path. */
static inline int rpg_gup_fast_probe(int fd, void *addr, uint64_t npages, uint64_t *taken)
{
	struct rust_pgmap_gup_probe probe = { .addr = (uintptr_t)addr, .npages = npages };

	if (ioctl(fd, RUST_PGMAP_IOC_GUP_FAST_PROBE, &probe))
		return -errno;
	*taken = probe.taken;
	return 0;
}

static inline int rpg_teardown(int fd, struct rust_pgmap_teardown *td)
{
	return ioctl(fd, RUST_PGMAP_IOC_TEARDOWN, td) ? -errno : 0;
}

static inline int rpg_attach(int fd)
{
	struct rust_pgmap_status st;

	return ioctl(fd, RUST_PGMAP_IOC_ATTACH, &st) ? -errno : 0;
}

/* Brings the pgmap back to live after a test that tore it down. */
static inline int rpg_make_live(int fd)
{
	struct rust_pgmap_status st;
	struct rust_pgmap_teardown td;

	if (rpg_status(fd, &st))
		return -1;
	if (st.state == RUST_PGMAP_STATE_LIVE)
		return 0;
	if (st.state == RUST_PGMAP_STATE_DYING && rpg_teardown(fd, &td))
		return -1;
	return rpg_attach(fd);
}

/*
 * Pages per folio, as the module was loaded (folio_size in the sysfs status): mappings and
 * requests take whole folios. 0 if the status cannot be read.
 */
static inline uint64_t rpg_folio_pages(void)
{
	char status[1024] = { 0 };
	const char *size;
	int fd = open("/sys/class/misc/rust_pgmap/status", O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return 0;
	n = read(fd, status, sizeof(status) - 1);
	close(fd);
	size = n > 0 ? strstr(status, "folio_size ") : NULL;
	if (!size)
		return 0;
	size += strlen("folio_size ");
	return !strncmp(size, "2M\n", 3) ? (2UL << 20) / RPG_PAGE :
	       !strncmp(size, "4K\n", 3) ? 4096 / RPG_PAGE : 0;
}

/* n pages rounded up to whole folios of folio_pages pages. */
static inline uint64_t rpg_round_up(uint64_t n, uint64_t folio_pages)
{
	return (n + folio_pages - 1) / folio_pages * folio_pages;
}

static inline void *rpg_map(int fd, uint64_t first_page, uint64_t npages)
{
	return mmap(NULL, npages * RPG_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		    first_page * RPG_PAGE);
}

static inline uint64_t rpg_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/*
 * Mixed into every pattern, and different in every run: the region keeps its bytes across the
 * programs of a boot, so a pattern that was the same in each could be read back from what an
 * earlier program left. Set before main(), so that forked children share it.
 */
static uint32_t rpg_run_salt;

__attribute__((constructor)) static void rpg_run_salt_init(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	rpg_run_salt = (uint32_t)(ts.tv_nsec ^ ts.tv_sec << 20 ^ (uint32_t)getpid() << 8) | 1;
}

/* A byte of the test pattern: differs per page, offset, seed and run. */
static inline uint8_t rpg_pattern(uint64_t page, uint64_t off, uint32_t seed)
{
	return (uint8_t)((page * 131 + off * 7 + seed) ^ rpg_run_salt >> (off % 4 * 8));
}

static inline void rpg_fill(uint8_t *p, uint64_t first_page, uint64_t npages, uint32_t seed)
{
	for (uint64_t pg = 0; pg < npages; pg++)
		for (uint64_t off = 0; off < RPG_PAGE; off++)
			p[pg * RPG_PAGE + off] = rpg_pattern(first_page + pg, off, seed);
}

/* Returns the number of bytes that differ from the pattern. */
static inline uint64_t rpg_verify(const uint8_t *p, uint64_t first_page, uint64_t npages,
				  uint32_t seed)
{
	uint64_t bad = 0;

	for (uint64_t pg = 0; pg < npages; pg++)
		for (uint64_t off = 0; off < RPG_PAGE; off++)
			bad += p[pg * RPG_PAGE + off] != rpg_pattern(first_page + pg, off, seed);
	return bad;
}

static sigjmp_buf rpg_sigbus_jmp;

static inline void rpg_sigbus_handler(int sig)
{
	siglongjmp(rpg_sigbus_jmp, sig);
}

/* Touches *p (a read, or a write if write is set); returns the signal it raised, or 0. */
static inline int rpg_touch(volatile uint8_t *p, bool write)
{
	struct sigaction sa = { .sa_handler = rpg_sigbus_handler }, old_bus, old_segv;
	int sig;

	sigaction(SIGBUS, &sa, &old_bus);
	sigaction(SIGSEGV, &sa, &old_segv);
	sig = sigsetjmp(rpg_sigbus_jmp, 1);
	if (!sig) {
		if (write)
			*p = *p;
		else
			(void)*p;
	}
	sigaction(SIGBUS, &old_bus, NULL);
	sigaction(SIGSEGV, &old_segv, NULL);
	return sig;
}

/* An unsigned number from the environment, or def when unset or malformed. */
static inline unsigned long rpg_env_ulong(const char *name, unsigned long def)
{
	const char *s = getenv(name);
	char *end;
	unsigned long v;

	if (!s || !*s)
		return def;
	v = strtoul(s, &end, 0);
	return *end ? def : v;
}

/* Waits up to timeout_ms until the pgmap reaches state; returns 0 when it did. */
static inline int rpg_wait_state(int fd, uint32_t state, int timeout_ms)
{
	struct rust_pgmap_status st;

	for (int i = 0; i < timeout_ms / 10; i++) {
		if (!rpg_status(fd, &st) && st.state == state)
			return 0;
		usleep(10000);
	}
	return -1;
}

/* Waits up to timeout_ms until the pgmap has want folios outstanding; returns 0 when it did. */
static inline int rpg_wait_outstanding(int fd, uint64_t want, int timeout_ms)
{
	struct rust_pgmap_status st;

	for (int i = 0; i < timeout_ms / 10; i++) {
		if (!rpg_status(fd, &st) && st.outstanding == want)
			return 0;
		usleep(10000);
	}
	return -1;
}

/* Loads the module that the environment variable env names; 0 or -errno from finit_module(). */
static inline int rpg_load_module(const char *env, const char *params)
{
	const char *path = getenv(env);
	int fd, ret;

	if (!path)
		return -ENOENT;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = syscall(SYS_finit_module, fd, params, 0) ? -errno : 0;
	close(fd);
	return ret;
}

static inline int rpg_unload_module(const char *name)
{
	return syscall(SYS_delete_module, name, O_NONBLOCK) ? -errno : 0;
}

/* The kernel log, from its start; the caller frees it. */
static inline char *rpg_klog(void)
{
	int size = klogctl(10 /* SYSLOG_ACTION_SIZE_BUFFER */, NULL, 0);
	char *buf = malloc(size + 1);
	int n = klogctl(3 /* SYSLOG_ACTION_READ_ALL */, buf, size);

	buf[n < 0 ? 0 : n] = 0;
	return buf;
}

/* Where the kernel log ends now, for rpg_klog_count(). */
static inline size_t rpg_klog_mark(void)
{
	char *log = rpg_klog();
	size_t n = strlen(log);

	free(log);
	return n;
}

/* How often needle appears in the kernel log after the first mark bytes. */
static inline int rpg_klog_count(size_t mark, const char *needle)
{
	char *log = rpg_klog(), *p = strlen(log) > mark ? log + mark : log + strlen(log);
	int n = 0;

	while ((p = strstr(p, needle))) {
		n++;
		p += strlen(needle);
	}
	free(log);
	return n;
}

/* Writes text to the file at path, as one write(); 0 or -errno. */
static inline int rpg_write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_TRUNC), ret;

	if (fd < 0)
		return -errno;
	ret = write(fd, text, strlen(text)) < 0 ? -errno : 0;
	close(fd);
	return ret;
}

#define RPG_DELAY "/sys/kernel/debug/rust_pgmap/delay"

/* Makes the module sleep ms at a delay point (0 turns it off); 0 or -errno. */
static inline int rpg_delay(const char *point, unsigned int ms)
{
	char cmd[64];

	snprintf(cmd, sizeof(cmd), "%s %u", point, ms);
	return rpg_write_file(RPG_DELAY, cmd);
}

/* How many times the module passed a delay point, or -1 if it cannot be read. */
static inline long rpg_delay_passed(const char *point)
{
	char name[32];
	unsigned long ms, passed;
	long found = -1;
	FILE *f = fopen(RPG_DELAY, "r");

	if (!f)
		return -1;
	while (fscanf(f, "%31s %lu %lu", name, &ms, &passed) == 3)
		if (!strcmp(name, point))
			found = passed;
	fclose(f);
	return found;
}

/* Waits up to timeout_ms until a delay point was passed more than before times; 0 if it was. */
static inline int rpg_wait_delay_passed(const char *point, long before, int timeout_ms)
{
	for (int i = 0; i < timeout_ms / 10; i++) {
		if (rpg_delay_passed(point) > before)
			return 0;
		usleep(10000);
	}
	return -1;
}

#endif /* RUST_PGMAP_LIB_H */
