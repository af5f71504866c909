// SPDX-License-Identifier: GPL-2.0
/*
 * The pgmap lifecycle in six steps: a pin blocks the teardown, the unpin completes it, and
 * the data survives into the next pgmap. Uses nothing but the uapi header.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/rust_pgmap.h>

#define DEV "/dev/rust_pgmap"
#define NPAGES 16

static size_t page_size;
static sigjmp_buf sigbus_jmp;

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static void ioctl_or_die(int fd, unsigned long cmd, void *arg, const char *name)
{
	if (ioctl(fd, cmd, arg))
		die(name);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static uint8_t *map_region(int fd)
{
	uint8_t *a = mmap(NULL, NPAGES * page_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	if (a == MAP_FAILED)
		die("mmap");
	return a;
}

static uint8_t pattern(size_t i)
{
	return (uint8_t)(i * 7 + i / page_size * 131 + 42);
}

static void on_sigbus(int sig)
{
	siglongjmp(sigbus_jmp, sig);
}

/* Whether reading *p raises SIGBUS. */
static int read_sigbus(volatile uint8_t *p)
{
	struct sigaction sa = { .sa_handler = on_sigbus }, old;
	int sig;

	sigaction(SIGBUS, &sa, &old);
	sig = sigsetjmp(sigbus_jmp, 1);
	if (!sig)
		(void)*p;
	sigaction(SIGBUS, &old, NULL);
	return sig == SIGBUS;
}

int main(void)
{
	struct rust_pgmap_pin pin = { .npages = NPAGES, .flags = RUST_PGMAP_PIN_WRITE };
	struct rust_pgmap_teardown td;
	struct rust_pgmap_status st;
	uint64_t unpinned, done = 0, bad = 0;
	int fd, p[2], status;
	uint8_t *a;
	pid_t pid;

	page_size = sysconf(_SC_PAGESIZE);
	fd = open(DEV, O_RDWR);
	if (fd < 0)
		die(DEV);

	a = map_region(fd);
	for (size_t i = 0; i < NPAGES * page_size; i++)
		a[i] = pattern(i);
	printf("1. mapped %d pages of the region and wrote a pattern\n", NPAGES);

	pin.addr = (uintptr_t)a;
	ioctl_or_die(fd, RUST_PGMAP_IOC_PIN, &pin, "PIN");
	ioctl_or_die(fd, RUST_PGMAP_IOC_STATUS, &st, "STATUS");
	printf("2. pinned them with pin_user_pages_fast(FOLL_WRITE): %llu folios outstanding\n",
	       (unsigned long long)st.outstanding);

	if (pipe(p))
		die("pipe");
	pid = fork();
	if (pid == 0) {
		int ret = ioctl(fd, RUST_PGMAP_IOC_TEARDOWN, &td);

		done = now_ns();
		if (write(p[1], &td, sizeof(td)) != sizeof(td) ||
		    write(p[1], &done, sizeof(done)) != sizeof(done))
			_exit(2);
		_exit(ret ? 1 : 0);
	}
	do {
		usleep(10000);
		ioctl_or_die(fd, RUST_PGMAP_IOC_STATUS, &st, "STATUS");
	} while (st.state == RUST_PGMAP_STATE_LIVE);
	sleep(1);
	ioctl_or_die(fd, RUST_PGMAP_IOC_STATUS, &st, "STATUS");
	printf("3. teardown started and is blocked: state %s, %llu folios outstanding\n",
	       waitpid(pid, &status, WNOHANG) == 0 && st.state == RUST_PGMAP_STATE_DYING ?
	       "dying" : "NOT BLOCKED", (unsigned long long)st.outstanding);

	unpinned = now_ns();
	ioctl_or_die(fd, RUST_PGMAP_IOC_UNPIN, &pin.handle, "UNPIN");
	if (waitpid(pid, &status, 0) != pid || WEXITSTATUS(status) != 0)
		die("TEARDOWN");
	if (read(p[0], &td, sizeof(td)) != sizeof(td) || read(p[0], &done, sizeof(done)) != sizeof(done))
		die("read");
	ioctl_or_die(fd, RUST_PGMAP_IOC_STATUS, &st, "STATUS");
	printf("4. unpinned: teardown completed %.1f ms after the unpin (waited %.0f ms in all), "
	       "requested %llu, freed %llu\n", (done - unpinned) / 1e6, td.waited_ns / 1e6,
	       (unsigned long long)st.requested, (unsigned long long)st.freed);
	munmap(a, NPAGES * page_size);

	a = map_region(fd);
	printf("5. a new mapping after the teardown: %s\n", read_sigbus(a) ? "SIGBUS" : "NO SIGBUS");
	munmap(a, NPAGES * page_size);

	ioctl_or_die(fd, RUST_PGMAP_IOC_ATTACH, &st, "ATTACH");
	a = map_region(fd);
	for (size_t i = 0; i < NPAGES * page_size; i++)
		bad += a[i] != pattern(i);
	printf("6. attached pgmap generation %u: %s (%llu of %zu bytes differ)\n", st.generation,
	       bad ? "PATTERN LOST" : "pattern intact", (unsigned long long)bad,
	       NPAGES * page_size);
	munmap(a, NPAGES * page_size);
	close(fd);
	return bad ? 1 : 0;
}
