// SPDX-License-Identifier: GPL-2.0
/*
 * The benchmarks of `make compare` that gup_test does not cover, on one target (see target.h).
 * Each run prints one line of key=value pairs for scripts/compare-report.py:
 *
 *   pgmap_bench faultin TARGET MIB RUNS
 *       per run, a fresh mapping of MIB MiB: the first write to every page (faultin_ns), then
 *       the munmap of the fully faulted mapping (munmap_ns)
 *   pgmap_bench teardown TARGET RUNS [MIB]
 *       per run, the whole device (or its first MIB MiB; none for 0) mapped with every page
 *       faulted in: its teardown
 *       (teardown_ns, mappings still present, so that it zaps them) and its re-creation
 *       (recreate_ns), and the struct page memory that re-creation adds, as the kernel counts it
 *       in /proc/vmstat nr_memmap_pages (memmap_bytes_per_gib)
 *   pgmap_bench teardown-pinned rust_pgmap RUNS
 *       per run, 16 pages pinned with the module's PIN while a TEARDOWN starts; once the pgmap
 *       is dying the pin is dropped: how long after the UNPIN the TEARDOWN returned, that is,
 *       the drain noticed and memunmap_pages() finished (drain_after_unpin_ns)
 */
#define _GNU_SOURCE
#include "target.h"

#include <pthread.h>

static int faultin(const struct target *t, uint64_t mib, int runs)
{
	const uint64_t len = mib * MIB, pages = len / RPG_PAGE;

	for (int run = 0; run < runs; run++) {
		volatile uint8_t *p = target_map(t, len);
		uint64_t t0, t1, t2;

		if (p == MAP_FAILED) {
			fprintf(stderr, "%s: mmap of %llu MiB: %s\n", t->name,
				(unsigned long long)mib, strerror(errno));
			return 1;
		}
		t0 = rpg_now_ns();
		for (uint64_t i = 0; i < pages; i++)
			p[i * RPG_PAGE] = (uint8_t)i;
		t1 = rpg_now_ns();
		munmap((void *)p, len);
		t2 = rpg_now_ns();
		printf("bench=faultin target=%s run=%d pages=%llu faultin_ns=%llu munmap_ns=%llu\n",
		       t->name, run, (unsigned long long)pages, (unsigned long long)(t1 - t0),
		       (unsigned long long)(t2 - t1));
		fflush(stdout);
	}
	return 0;
}

static int teardown(const struct target *t, int runs, uint64_t mib)
{
	const uint64_t len = mib * MIB < t->size ? mib * MIB : t->size;
	const uint64_t pages = len / RPG_PAGE;

	if (t->anon) {
		fprintf(stderr, "anonymous memory has no teardown\n");
		return 1;
	}
	for (int run = 0; run < runs; run++) {
		volatile uint8_t *p = len ? target_map(t, len) : NULL;
		uint64_t t0, t1, t2, t3;
		int64_t memmap_before, memmap_after;
		int ret;

		if (p == MAP_FAILED) {
			fprintf(stderr, "%s: mmap: %s\n", t->name, strerror(errno));
			return 1;
		}
		for (uint64_t i = 0; i < pages; i++)
			p[i * RPG_PAGE] = (uint8_t)i;
		t0 = rpg_now_ns();
		ret = target_teardown(t);
		t1 = rpg_now_ns();
		if (ret) {
			fprintf(stderr, "%s: teardown: %s\n", t->name, strerror(-ret));
			return 1;
		}
		if (len)
			munmap((void *)p, len);
		memmap_before = vmstat("nr_memmap_pages");
		t2 = rpg_now_ns();
		ret = target_recreate(t);
		t3 = rpg_now_ns();
		memmap_after = vmstat("nr_memmap_pages");
		if (ret) {
			fprintf(stderr, "%s: re-creation: %s\n", t->name, strerror(-ret));
			return 1;
		}
		printf("bench=teardown target=%s run=%d bytes=%llu mapped=%llu teardown_ns=%llu "
		       "recreate_ns=%llu memmap_bytes_per_gib=%llu\n",
		       t->name, run, (unsigned long long)t->size, (unsigned long long)len,
		       (unsigned long long)(t1 - t0),
		       (unsigned long long)(t3 - t2),
		       (unsigned long long)((memmap_after - memmap_before) * RPG_PAGE *
					    (1024 * MIB) / t->size));
		fflush(stdout);
	}
	return 0;
}

struct teardown_call {
	const struct target *t;
	uint64_t end_ns;
	int ret;
};

static void *teardown_thread(void *arg)
{
	struct teardown_call *c = arg;

	c->ret = target_teardown(c->t);
	c->end_ns = rpg_now_ns();
	return NULL;
}

static int teardown_pinned(const struct target *t, int runs)
{
	/* 16 pages pinned of a 2 MiB mapping: one whole folio however large folios are. */
	const uint64_t pages = 16, map_len = 512 * RPG_PAGE;

	if (t->anon || t->dax) {
		fprintf(stderr, "teardown-pinned is for rust_pgmap\n");
		return 1;
	}
	for (int run = 0; run < runs; run++) {
		struct teardown_call c = { .t = t };
		volatile uint8_t *p = target_map(t, map_len);
		uint64_t handle = 0, unpinned;
		pthread_t thread;
		int fd = open(t->path, O_RDWR), ret;

		if (fd < 0 || p == MAP_FAILED)
			return 1;
		for (uint64_t i = 0; i < pages; i++)
			p[i * RPG_PAGE] = (uint8_t)i;
		ret = rpg_pin(fd, (void *)p, pages, RUST_PGMAP_PIN_WRITE, &handle);
		if (ret) {
			fprintf(stderr, "PIN: %s\n", strerror(-ret));
			return 1;
		}
		pthread_create(&thread, NULL, teardown_thread, &c);
		if (rpg_wait_state(fd, RUST_PGMAP_STATE_DYING, 10000))
			return 1;
		/* Let the drain settle into its wait (or its sweep into its longest sleep). */
		usleep(200000);
		unpinned = rpg_now_ns();
		ret = rpg_unpin(fd, handle);
		pthread_join(thread, NULL);
		if (ret || c.ret) {
			fprintf(stderr, "UNPIN or TEARDOWN failed\n");
			return 1;
		}
		munmap((void *)p, map_len);
		ret = rpg_attach(fd);
		close(fd);
		if (ret)
			return 1;
		printf("bench=teardown_pinned target=%s run=%d bytes=%llu pages=%llu "
		       "drain_after_unpin_ns=%llu\n",
		       t->name, run, (unsigned long long)t->size, (unsigned long long)pages,
		       (unsigned long long)(c.end_ns - unpinned));
		fflush(stdout);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct target t;
	int ret;

	if (argc < 4) {
		fprintf(stderr, "usage: %s faultin TARGET MIB RUNS | teardown TARGET RUNS [MIB] | "
			"teardown-pinned rust_pgmap RUNS\n",
			argv[0]);
		return 2;
	}
	ret = target_init(&t, argv[2]);
	if (ret) {
		fprintf(stderr, "%s: %s\n", argv[2], strerror(-ret));
		return 1;
	}
	if (!strcmp(argv[1], "faultin") && argc == 5)
		return faultin(&t, strtoull(argv[3], NULL, 0), atoi(argv[4]));
	if (!strcmp(argv[1], "teardown-pinned"))
		return teardown_pinned(&t, atoi(argv[3]));
	if (!strcmp(argv[1], "teardown"))
		return teardown(&t, atoi(argv[3]), argc > 4 ? strtoull(argv[4], NULL, 0) : ~0ULL / MIB);
	fprintf(stderr, "unknown benchmark %s\n", argv[1]);
	return 2;
}
