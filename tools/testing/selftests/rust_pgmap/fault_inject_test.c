// SPDX-License-Identifier: GPL-2.0
/*
 * Every allocation failure that an entry point of the module can meet, one at a time: for
 * n = 1, 2, 3, ... the calling thread's /proc/thread-self/fail-nth makes the nth fault-injection
 * point of the next call fail (FAILSLAB and FAIL_PAGE_ALLOC, order 0 and sleeping allocations
 * included), until a call reaches no nth point. With FAULT_INJECTION_STACKTRACE_FILTER only
 * the allocations with module code on the stack count, so the loops aim at the module and at
 * what it calls, such as memremap_pages() and misc_register(), rather than at the syscall layer
 * around it (fi_configure() says which kernel path is left out, and why).
 *
 * The entry points: insmod with each folio size (in the suite's refmode: make check's two
 * passes make the four combinations), rmmod, open, mmap, a fault, each ioctl, the debugfs and
 * sysfs files, the bench's write, and the two sample drivers' insmod, whose init requests
 * folios through rust_pgmap_request_folios().
 *
 * After every call that met its failure: the errno is one the entry point may return (ENOMEM,
 * and EBUSY for insmod), nothing is half done (the STATUS counters are as before the call, the
 * pgmap in the state it was, the module loaded or not as before, its region given back), the
 * device still works (a REQUEST and a RELEASE), the same call then succeeds, and the kernel did
 * not print an allocation-failure report for an allocation that was failed on purpose. One
 * KTAP result per entry point, with the number of injection points it reached.
 *
 * Needs the module loaded ($MODULE and $RUST_PGMAP_REFMODE to reload it, $CONSUMER_MODULE and
 * $CONSUMER_RS_MODULE for the samples); leaves it loaded as it found it. RUST_PGMAP_FI_ONLY
 * names one entry point to run, the others skipping.
 */
#define _GNU_SOURCE
#include "rust_pgmap_lib.h"

#include <sys/syscall.h>

#include "kselftest.h"

/* Far more than any entry point reaches: a loop this long is a loop that never ends. */
#define MAX_POINTS 2000
#define FAILSLAB "/sys/kernel/debug/failslab/"
#define FAIL_PAGE_ALLOC "/sys/kernel/debug/fail_page_alloc/"
/* Pages of the region the entry points use; those that the probe uses come after them. */
#define FI_PAGES 16

struct ctx {
	int fd;			/* the device, open */
	uint64_t folio_pages;	/* as the module was loaded */
	uint64_t npages;	/* FI_PAGES in whole folios */
	void *map;		/* a mapping of the first npages, when an entry point needs one */
	uint64_t handle;	/* of a PIN or a REQUEST */
	const char *params;	/* insmod: the module parameters */
	const char *env;	/* insmod of a sample: the variable that names its .ko */
	const char *path;	/* debugfs or sysfs reads: the file */
};

/* What an entry point starts from. */
enum precondition {
	UNLOADED,	/* rust_pgmap not loaded */
	LOADED,		/* rust_pgmap loaded, the device not open */
	OPEN,		/* rust_pgmap loaded, the device open in ctx.fd */
};

struct entry {
	const char *name;
	enum precondition pre;
	/* Brings the device to the state the call starts from; not armed. */
	int (*setup)(struct ctx *c);
	/* The call, armed: 0 or -errno. */
	int (*call)(struct ctx *c);
	/* After a call that succeeded: back to the state before setup(). */
	int (*undo)(struct ctx *c);
	/* An errno besides ENOMEM that a failed allocation may surface as, and why. */
	int also;
};

static int fail_nth = -1;
static int kmsg = -1;
static struct ctx ctx;

/* Sets the fault-injection attribute to a value; 0 or -1. */
static int fi_set(const char *dir, const char *attr, const char *value)
{
	char path[256];

	snprintf(path, sizeof(path), "%s%s", dir, attr);
	return rpg_write_file(path, value);
}

/* The suite's refmode, folio if none. */
static const char *suite_refmode(void)
{
	const char *mode = getenv("RUST_PGMAP_REFMODE");

	return mode && *mode ? mode : "folio";
}

/*
 * The address of a kernel symbol and where the next one starts, from /proc/kallsyms; 0 if
 * it cannot be read.
 */
static int kernel_symbol(const char *symbol, unsigned long long *start, unsigned long long *end)
{
	*start = 0;
	*end = ~0ULL;
	/* Twice: the file is not sorted by address. */
	for (int pass = 0; pass < 2; pass++) {
		FILE *f = fopen("/proc/kallsyms", "r");
		char line[256], type, name[128];
		unsigned long long a;

		while (f && fgets(line, sizeof(line), f)) {
			if (sscanf(line, "%llx %c %127s", &a, &type, name) != 3)
				continue;
			if (!pass && !strcmp(name, symbol))
				*start = a;
			else if (pass && a > *start && a < *end)
				*end = a;
		}
		if (f)
			fclose(f);
		if (!*start)
			return -1;
	}
	return 0;
}

/*
 * Every allocation may fail, not only those that cannot sleep, the page allocator's order 0
 * included; no stack dump per failure (hundreds of them would fill the log).
 *
 * With the stack filter, only allocations with module code among their callers: on x86_64,
 * from the end of the kernel image (_end; MODULES_VADDR follows the image's 512 MiB or 1 GiB,
 * depending on KASLR) to MODULES_END, below the fixmap. Except those under __add_pages(), the
 * memmap's sections: on 6.12, a failure there leaves the sections added before it in place
 * (__add_pages() does not roll back, nor does memremap_pages()), so that the range can never
 * be mapped again (EEXIST) until a reboot, and x86's add_pages() WARNs on it. That is the
 * kernel's, not the module's, and the module cannot undo it.
 */
static int fi_configure(bool on)
{
	const char *dirs[] = { FAILSLAB, FAIL_PAGE_ALLOC };
	unsigned long long image[2], add_pages[2];
	char text[4][32];
	int ret = 0;

	if (on && (kernel_symbol("_end", &image[0], &image[1]) ||
		   kernel_symbol("__add_pages", &add_pages[0], &add_pages[1])))
		return -1;
	snprintf(text[0], sizeof(text[0]), "0x%llx", on ? image[0] : 0);
	snprintf(text[1], sizeof(text[1]), "0x%llx", on ? 0xffffffffff000000ULL : ~0ULL);
	snprintf(text[2], sizeof(text[2]), "0x%llx", on ? add_pages[0] : 0);
	snprintf(text[3], sizeof(text[3]), "0x%llx", on ? add_pages[1] : 0);
	for (int i = 0; i < 2; i++) {
		ret |= fi_set(dirs[i], "ignore-gfp-wait", on ? "N" : "Y");
		ret |= fi_set(dirs[i], "verbose", on ? "0" : "2");
		if (access(FAILSLAB "require-start", F_OK))
			continue;
#ifdef __x86_64__
		ret |= fi_set(dirs[i], "require-start", text[0]);
		ret |= fi_set(dirs[i], "require-end", text[1]);
		ret |= fi_set(dirs[i], "reject-start", text[2]);
		ret |= fi_set(dirs[i], "reject-end", text[3]);
		ret |= fi_set(dirs[i], "stacktrace-depth", "32");
#endif
	}
	ret |= fi_set(FAIL_PAGE_ALLOC, "min-order", on ? "0" : "1");
	ret |= fi_set(FAIL_PAGE_ALLOC, "ignore-gfp-highmem", on ? "N" : "Y");
	return ret;
}

static void arm(unsigned int n)
{
	char buf[16];
	int len = snprintf(buf, sizeof(buf), "%u", n);

	if (write(fail_nth, buf, len) != len)
		ksft_exit_fail_msg("cannot arm fail-nth: %s\n", strerror(errno));
}

/* True if the armed failure was injected (fail-nth counted down to 0); disarms either way. */
static bool disarm(void)
{
	char buf[16] = { 0 };
	ssize_t n = pread(fail_nth, buf, sizeof(buf) - 1, 0);

	if (n <= 0 || write(fail_nth, "0", 1) != 1)
		ksft_exit_fail_msg("cannot read fail-nth back: %s\n", strerror(errno));
	return strtoul(buf, NULL, 10) == 0;
}

static bool module_loaded(void)
{
	return access("/sys/module/rust_pgmap", F_OK) == 0;
}

static int open_device(struct ctx *c)
{
	c->fd = open(RPG_DEV, O_RDWR | O_CLOEXEC);
	if (c->fd < 0)
		return -errno;
	c->folio_pages = rpg_folio_pages();
	c->npages = rpg_round_up(FI_PAGES, c->folio_pages);
	return 0;
}

static void close_device(struct ctx *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

static int load_rust_pgmap(const char *params)
{
	char all[256];

	snprintf(all, sizeof(all), "refmode=%s %s", suite_refmode(), params ?: "");
	return rpg_load_module("MODULE", all);
}

/*
 * The device works: a REQUEST of one folio past the entry points' pages and its RELEASE
 * succeed, and nothing is left outstanding. Checked after every failed call.
 */
static int device_works(struct ctx *c, const struct rust_pgmap_status *before)
{
	struct rust_pgmap_status st;
	uint64_t handle = 0;

	if (rpg_status(c->fd, &st))
		return -1;
	if (st.state != before->state || st.generation != before->generation ||
	    st.outstanding != before->outstanding || st.pinned != before->pinned ||
	    st.held != before->held) {
		ksft_print_msg("state %u gen %u outstanding %llu pinned %llu held %llu, "
			       "was %u %u %llu %llu %llu\n", st.state, st.generation,
			       (unsigned long long)st.outstanding, (unsigned long long)st.pinned,
			       (unsigned long long)st.held, before->state, before->generation,
			       (unsigned long long)before->outstanding,
			       (unsigned long long)before->pinned, (unsigned long long)before->held);
		return -1;
	}
	if (st.state != RUST_PGMAP_STATE_LIVE)
		return 0;
	if (rpg_request(c->fd, 4 * c->npages, c->folio_pages, &handle) ||
	    rpg_release(c->fd, handle))
		return -1;
	return rpg_status(c->fd, &st) || st.outstanding != before->outstanding ? -1 : 0;
}

/* --- insmod and rmmod of rust_pgmap, and insmod of the samples that use its API --- */

static int insmod_call(struct ctx *c)
{
	return load_rust_pgmap(c->params);
}

static int insmod_undo(struct ctx *c)
{
	int ret;

	ret = open_device(c);
	if (!ret) {
		struct rust_pgmap_status st;

		ret = rpg_status(c->fd, &st) || st.state != RUST_PGMAP_STATE_LIVE ||
		      device_works(c, &st);
		close_device(c);
	}
	return rpg_unload_module("rust_pgmap") || ret ? -1 : 0;
}

static int rmmod_call(struct ctx *c)
{
	return rpg_unload_module("rust_pgmap");
}

static int rmmod_undo(struct ctx *c)
{
	return module_loaded() ? -1 : load_rust_pgmap(NULL);
}

static int sample_call(struct ctx *c)
{
	return rpg_load_module(c->env, "");
}

static int sample_undo(struct ctx *c)
{
	return rpg_unload_module(strcmp(c->env, "CONSUMER_MODULE") ? "rust_pgmap_consumer_rs" :
				 "rust_pgmap_consumer");
}

/* --- the file operations --- */

static int open_call(struct ctx *c)
{
	int fd = open(RPG_DEV, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

static int mmap_call(struct ctx *c)
{
	c->map = mmap(NULL, c->npages * RPG_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, c->fd, 0);
	return c->map == MAP_FAILED ? -errno : 0;
}

static int unmap(struct ctx *c)
{
	int ret = munmap(c->map, c->npages * RPG_PAGE);

	c->map = MAP_FAILED;
	return ret;
}

static int map_setup(struct ctx *c)
{
	return mmap_call(c);
}

/*
 * MADV_POPULATE_WRITE faults pages in and returns the fault's error as an errno. One folio:
 * a failure in a later one would leave the first ones mapped.
 */
static int fault_call(struct ctx *c)
{
	return madvise(c->map, c->folio_pages * RPG_PAGE, MADV_POPULATE_WRITE) ? -errno : 0;
}

static int populated_setup(struct ctx *c)
{
	return mmap_call(c) || madvise(c->map, c->npages * RPG_PAGE, MADV_POPULATE_WRITE);
}

/* --- the ioctls --- */

static int status_call(struct ctx *c)
{
	struct rust_pgmap_status st;

	return rpg_status(c->fd, &st);
}

static int pin_call(struct ctx *c)
{
	return rpg_pin(c->fd, c->map, c->npages, RUST_PGMAP_PIN_WRITE | RUST_PGMAP_PIN_LONGTERM,
		       &c->handle);
}

static int pin_undo(struct ctx *c)
{
	return rpg_unpin(c->fd, c->handle) || unmap(c);
}

static int pinned_setup(struct ctx *c)
{
	return populated_setup(c) || pin_call(c);
}

static int unpin_call(struct ctx *c)
{
	return rpg_unpin(c->fd, c->handle);
}

static int request_call(struct ctx *c)
{
	return rpg_request(c->fd, 0, c->npages, &c->handle);
}

static int release_call(struct ctx *c)
{
	return rpg_release(c->fd, c->handle);
}

static int release_hardirq_call(struct ctx *c)
{
	return ioctl(c->fd, RUST_PGMAP_IOC_RELEASE_HARDIRQ, &c->handle) ? -errno : 0;
}

/* The hard-IRQ timer puts the pages a little later. */
static int release_hardirq_undo(struct ctx *c)
{
	return rpg_wait_outstanding(c->fd, 0, 10000);
}

static int gup_fast_probe_call(struct ctx *c)
{
	uint64_t taken;

	return rpg_gup_fast_probe(c->fd, c->map, c->npages, &taken);
}

static int teardown_call(struct ctx *c)
{
	struct rust_pgmap_teardown td;

	return rpg_teardown(c->fd, &td);
}

static int attach_call(struct ctx *c)
{
	return rpg_attach(c->fd);
}

static int no_undo(struct ctx *c)
{
	return 0;
}

/* --- debugfs and sysfs --- */

static int read_call(struct ctx *c)
{
	char buf[4096];
	int fd = open(c->path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		;
	if (n < 0)
		n = -errno;
	close(fd);
	return n;
}

static int bench_call(struct ctx *c)
{
	return rpg_write_file("/sys/kernel/debug/rust_pgmap_bench/request_release", "8 1");
}

/* From now on, alloc_reports() counts. /dev/kmsg, unlike the klog buffer, survives a wrap. */
static void kmsg_mark(void)
{
	lseek(kmsg, 0, SEEK_END);
}

/*
 * The allocation-failure reports (warn_alloc()) logged since kmsg_mark(): a failure injected
 * into an allocation that the module makes, or asks for, without __GFP_NOWARN.
 */
static int alloc_reports(void)
{
	char rec[8192];
	ssize_t n;
	int found = 0;

	while ((n = read(kmsg, rec, sizeof(rec) - 1)) > 0 || (n < 0 && errno == EPIPE)) {
		if (n <= 0)
			continue;
		rec[n] = 0;
		found += strstr(rec, "page allocation failure") || strstr(rec, "vmalloc error");
	}
	return found;
}

/* Whether the module holds its pmem region in /proc/iomem. */
static bool region_claimed(void)
{
	char line[256];
	bool found = false;
	FILE *f = fopen("/proc/iomem", "r");

	while (f && fgets(line, sizeof(line), f))
		found |= strstr(line, " : rust_pgmap") != NULL;
	if (f)
		fclose(f);
	return found;
}

/* What the calls of one entry point did when their nth point failed. */
struct outcome {
	int enomem;	/* failed with ENOMEM */
	int also;	/* failed with the entry point's other errno */
	int got_by;	/* succeeded all the same */
};

/*
 * One entry point's loop. Returns the number of injection points reached, or -1 with the
 * reason printed.
 */
static int inject_each(const struct entry *e, struct ctx *c, struct outcome *out)
{
	*out = (struct outcome){ 0 };
	for (unsigned int n = 1; n <= MAX_POINTS; n++) {
		struct rust_pgmap_status before = { 0 };
		bool injected, loaded;
		int ret;

		if (e->setup && e->setup(c)) {
			ksft_print_msg("%s: setup failed at n=%u: %s\n", e->name, n, strerror(errno));
			return -1;
		}
		if (e->pre == OPEN && rpg_status(c->fd, &before))
			return -1;
		loaded = module_loaded();
		kmsg_mark();

		arm(n);
		ret = e->call(c);
		injected = disarm();

		if (!injected) {
			if (ret) {
				ksft_print_msg("%s: failed with nothing injected: %s\n", e->name,
					       strerror(-ret));
				return -1;
			}
			if (e->undo(c)) {
				ksft_print_msg("%s: cannot undo the call\n", e->name);
				return -1;
			}
			return n - 1;
		}
		if (alloc_reports()) {
			ksft_print_msg("%s: n=%u: an allocation-failure report for an injected "
				       "failure (an allocation without __GFP_NOWARN)\n", e->name, n);
			return -1;
		}
		if (!ret) {
			/* The call got by without the allocation: it must have done all of it. */
			out->got_by++;
			if (e->undo(c)) {
				ksft_print_msg("%s: n=%u: succeeded without its allocation, and "
					       "cannot be undone\n", e->name, n);
				return -1;
			}
			continue;
		}
		if (ret == -ENOMEM) {
			out->enomem++;
		} else if (e->also && ret == -e->also) {
			out->also++;
		} else {
			ksft_print_msg("%s: n=%u: failed with %s, not ENOMEM\n", e->name, n,
				       strerror(-ret));
			return -1;
		}
		if (module_loaded() != loaded || (e->pre == OPEN && device_works(c, &before))) {
			ksft_print_msg("%s: n=%u: the failed call left the device changed or "
				       "broken\n", e->name, n);
			return -1;
		}
		/*
		 * A failed insmod must have given its region back; the next n loads the module
		 * again, which is the call after the failure (reloading twice per n would double
		 * the loop's time, at about 0.4 s a load under TCG).
		 */
		if (e->pre == UNLOADED) {
			if (region_claimed()) {
				ksft_print_msg("%s: n=%u: the failed load left its region claimed\n",
					       e->name, n);
				return -1;
			}
			continue;
		}
		/* Nothing armed: the same call succeeds. */
		ret = e->call(c);
		if (ret || e->undo(c)) {
			ksft_print_msg("%s: n=%u: the call after the failure: %s\n", e->name, n,
				       ret ? strerror(-ret) : "cannot be undone");
			return -1;
		}
	}
	ksft_print_msg("%s: more than %d injection points\n", e->name, MAX_POINTS);
	return -1;
}

static void run(const struct entry *e, struct ctx *c)
{
	const char *only = getenv("RUST_PGMAP_FI_ONLY");
	struct outcome out;
	int points, ret;

	if (only && strcmp(only, e->name)) {
		ksft_test_result_code(KSFT_SKIP, e->name, "not RUST_PGMAP_FI_ONLY");
		return;
	}
	if (e->pre != OPEN)
		close_device(c);
	if (e->pre != UNLOADED && !module_loaded() && (ret = load_rust_pgmap(NULL)))
		ksft_exit_fail_msg("cannot load rust_pgmap: %s\n", strerror(-ret));
	if (e->pre == UNLOADED && module_loaded() && (ret = rpg_unload_module("rust_pgmap")))
		ksft_exit_fail_msg("cannot unload rust_pgmap: %s\n", strerror(-ret));
	if (e->pre == OPEN && c->fd < 0 && open_device(c))
		ksft_exit_fail_msg("cannot open " RPG_DEV "\n");
	/* Whatever the entry point before left. */
	if (e->pre == OPEN && rpg_make_live(c->fd))
		ksft_exit_fail_msg("cannot make the pgmap live\n");
	c->map = MAP_FAILED;

	points = inject_each(e, c, &out);
	if (points >= 0 && e->also)
		ksft_print_msg("%s: %d injection points: %d ENOMEM, %d %s, %d got by\n", e->name,
			       points, out.enomem, out.also, strerrorname_np(e->also), out.got_by);
	else if (points >= 0)
		ksft_print_msg("%s: %d injection points: %d ENOMEM, %d got by\n", e->name, points,
			       out.enomem, out.got_by);
	ksft_test_result(points >= 0, "%s\n", e->name);
}

int main(void)
{
	const struct entry entries[] = {
		{ "rmmod", LOADED, NULL, rmmod_call, rmmod_undo },
		{ "open", OPEN, NULL, open_call, no_undo },
		{ "mmap", OPEN, NULL, mmap_call, unmap },
		{ "fault", OPEN, map_setup, fault_call, unmap },
		{ "ioctl_STATUS", OPEN, NULL, status_call, no_undo },
		{ "ioctl_PIN", OPEN, populated_setup, pin_call, pin_undo },
		{ "ioctl_UNPIN", OPEN, pinned_setup, unpin_call, unmap },
		{ "ioctl_REQUEST", OPEN, NULL, request_call, release_call },
		{ "ioctl_RELEASE", OPEN, request_call, release_call, no_undo },
		{ "ioctl_RELEASE_HARDIRQ", OPEN, request_call, release_hardirq_call,
		  release_hardirq_undo },
		{ "ioctl_GUP_FAST_PROBE", OPEN, populated_setup, gup_fast_probe_call, unmap },
		{ "ioctl_TEARDOWN", OPEN, NULL, teardown_call, attach_call },
		{ "ioctl_ATTACH", OPEN, teardown_call, attach_call, no_undo },
		{ "write_bench_request_release", OPEN, NULL, bench_call, no_undo },
	};
	/* Test names are one word each, as allowed_skips names them. */
	const char *reads[][2] = {
		{ "read_sysfs_status", "/sys/class/misc/rust_pgmap/status" },
		{ "read_debugfs_outstanding", "/sys/kernel/debug/rust_pgmap/outstanding" },
		{ "read_debugfs_delay", "/sys/kernel/debug/rust_pgmap/delay" },
		{ "read_debugfs_bench", "/sys/kernel/debug/rust_pgmap_bench/request_release" },
	};
	const char *folio_sizes[][2] = { { "4K", "" }, { "2M", "folio_size=2M" } };
	/* 6.12 has no THP with PREEMPT_RT, and the module then refuses 2 MiB folios. */
	bool pmd_mappings = access("/sys/kernel/mm/transparent_hugepage", F_OK) == 0;
	const char *samples[] = { "CONSUMER_MODULE", "CONSUMER_RS_MODULE" };
	const char *refmode = suite_refmode();
	bool was_loaded = module_loaded();
	char name[160];

	ksft_print_header();
	if (access(FAILSLAB, F_OK) || access(FAIL_PAGE_ALLOC, F_OK))
		ksft_exit_skip("needs FAILSLAB and FAIL_PAGE_ALLOC with their debugfs\n");
	if (!getenv("MODULE") || !getenv("CONSUMER_MODULE") || !getenv("CONSUMER_RS_MODULE"))
		ksft_exit_fail_msg("set MODULE, CONSUMER_MODULE and CONSUMER_RS_MODULE\n");
	fail_nth = open("/proc/thread-self/fail-nth", O_RDWR | O_CLOEXEC);
	kmsg = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fail_nth < 0 || kmsg < 0 || fi_configure(true))
		ksft_exit_fail_msg("cannot set up fault injection: %s\n", strerror(errno));
	ksft_print_msg("stack filter: %s\n", access(FAILSLAB "require-start", F_OK) ?
		       "none, every allocation of the call counts" : "module code on the stack");
	ksft_set_plan(ARRAY_SIZE(folio_sizes) + ARRAY_SIZE(entries) + ARRAY_SIZE(reads) +
		      ARRAY_SIZE(samples));
	ctx.fd = -1;

	/*
	 * insmod, each folio size in the suite's refmode: the two passes of make check cover the
	 * four combinations. About 120 points each, of a second each under TCG.
	 */
	for (size_t j = 0; j < ARRAY_SIZE(folio_sizes); j++) {
		/* request_mem_region() fails with NULL whether the region is taken or its struct
		 * resource cannot be allocated: drivers return EBUSY for both. */
		const struct entry e = { name, UNLOADED, NULL, insmod_call, insmod_undo, EBUSY };

		snprintf(name, sizeof(name), "insmod_%s_%s", refmode, folio_sizes[j][0]);
		if (j && !pmd_mappings) {
			ksft_test_result_code(KSFT_SKIP, name, "no CONFIG_TRANSPARENT_HUGEPAGE");
			continue;
		}
		ctx.params = folio_sizes[j][1];
		run(&e, &ctx);
	}
	ctx.params = NULL;

	for (size_t i = 0; i < ARRAY_SIZE(entries); i++)
		run(&entries[i], &ctx);
	for (size_t i = 0; i < ARRAY_SIZE(reads); i++) {
		const struct entry e = { name, OPEN, NULL, read_call, no_undo };

		snprintf(name, sizeof(name), "%s", reads[i][0]);
		ctx.path = reads[i][1];
		run(&e, &ctx);
	}
	/* rust_pgmap_request_folios() and the hold's revoker, from the samples' init. */
	for (size_t i = 0; i < ARRAY_SIZE(samples); i++) {
		const struct entry e = { name, OPEN, NULL, sample_call, sample_undo };

		snprintf(name, sizeof(name), "insmod_%s", i ? "rust_pgmap_consumer_rs" :
			 "rust_pgmap_consumer");
		ctx.env = samples[i];
		run(&e, &ctx);
	}

	close_device(&ctx);
	fi_configure(false);
	if (module_loaded() != was_loaded &&
	    (was_loaded ? load_rust_pgmap(NULL) : rpg_unload_module("rust_pgmap")))
		ksft_exit_fail_msg("cannot leave rust_pgmap as it was\n");
	ksft_finished();
}
