// SPDX-License-Identifier: GPL-2.0
/*
 * The other side of samples/kernel/rust_pgmap_consumer.c: with the consumer holding folios,
 * tear the pgmap down (the consumer is asked to let go, and the drain waits for it), attach a
 * new one, and check the pattern the consumer wrote. Uses nothing but the uapi header.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/rust_pgmap.h>

#define DEV "/dev/rust_pgmap"
#define OFFSET 1024
#define NR 64

static void die(const char *what)
{
	perror(what);
	exit(1);
}

int main(void)
{
	size_t page = sysconf(_SC_PAGESIZE), bad = 0;
	struct rust_pgmap_teardown td;
	struct rust_pgmap_status st;
	uint8_t *a;
	int fd;

	fd = open(DEV, O_RDWR);
	if (fd < 0)
		die(DEV);
	if (ioctl(fd, RUST_PGMAP_IOC_STATUS, &st))
		die("STATUS");
	printf("a. the consumer holds folios: %llu outstanding\n",
	       (unsigned long long)st.outstanding);
	if (ioctl(fd, RUST_PGMAP_IOC_TEARDOWN, &td))
		die("TEARDOWN");
	printf("b. teardown: %llu folios outstanding at the start, revoked, drained after %.1f ms\n",
	       (unsigned long long)td.outstanding, td.waited_ns / 1e6);
	if (ioctl(fd, RUST_PGMAP_IOC_ATTACH, &st))
		die("ATTACH");
	a = mmap(NULL, NR * page, PROT_READ, MAP_SHARED, fd, OFFSET * page);
	if (a == MAP_FAILED)
		die("mmap");
	/* The consumer's pattern: byte b of region page p is p * 13 + b * 3 + 0x5a. */
	for (size_t pg = 0; pg < NR; pg++)
		for (size_t b = 0; b < page; b++)
			bad += a[pg * page + b] != (uint8_t)((OFFSET + pg) * 13 + b * 3 + 0x5a);
	printf("c. attached generation %u: what the consumer wrote to pages %d-%d is %s "
	       "(%zu bytes differ)\n", st.generation, OFFSET, OFFSET + NR - 1,
	       bad ? "LOST" : "intact", bad);
	munmap(a, NR * page);
	close(fd);
	return bad ? 1 : 0;
}
