// SPDX-License-Identifier: GPL-2.0
/*
 * The device's ioctls for the shell selftests, which drive programs that no one here wrote
 * (fio, perftest) against /dev/rust_pgmap. Each command prints one line of key=value pairs:
 *
 *   rpg_ctl status     state, requested, freed, outstanding, pinned, held
 *   rpg_ctl teardown   TEARDOWN; outstanding at its start, waited_ns, and ms, its wall time
 *   rpg_ctl attach     ATTACH
 *   rpg_ctl live       ATTACH unless the pgmap is live (a TEARDOWN first if it is dying)
 *   rpg_ctl fill FIRST NPAGES SEED | verify FIRST NPAGES SEED
 *                      writes or checks the selftests' pattern in region pages through a
 *                      mapping; verify prints the bytes that differ and fails if any do. The
 *                      caller picks a new SEED each run: it replaces the per-run salt, which
 *                      cannot carry from one rpg_ctl to the next.
 *
 * Exits 0 on success, 1 with the errno's name on stderr otherwise.
 */
#define _GNU_SOURCE
#include "rust_pgmap_lib.h"

#include <stdlib.h>

static const char *const state_names[] = { "live", "dying", "dead" };

static int fail(const char *what, int err)
{
	fprintf(stderr, "rpg_ctl: %s: %s\n", what, strerrorname_np(err) ?: strerror(err));
	return 1;
}

static int print_status(int fd)
{
	struct rust_pgmap_status st;

	if (rpg_status(fd, &st))
		return fail("STATUS", errno);
	printf("state=%s requested=%llu freed=%llu outstanding=%llu pinned=%llu held=%llu\n",
	       st.state < 3 ? state_names[st.state] : "?", (unsigned long long)st.requested,
	       (unsigned long long)st.freed, (unsigned long long)st.outstanding,
	       (unsigned long long)st.pinned, (unsigned long long)st.held);
	return 0;
}

/* fill or verify npages region pages from first with the pattern of seed. */
static int pattern(int fd, bool fill, const char *first_s, const char *n_s, const char *seed_s)
{
	uint64_t first = strtoull(first_s, NULL, 0), n = strtoull(n_s, NULL, 0), bad = 0;
	uint8_t *p = rpg_map(fd, first, n);

	if (p == MAP_FAILED)
		return fail("mmap", errno);
	rpg_run_salt = strtoul(seed_s, NULL, 0) | 1;
	if (fill)
		rpg_fill(p, first, n, 0);
	else
		bad = rpg_verify(p, first, n, 0);
	munmap(p, n * RPG_PAGE);
	if (!fill)
		printf("bytes_wrong=%llu\n", (unsigned long long)bad);
	return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";
	struct rust_pgmap_teardown td;
	uint64_t start;
	int fd, ret;

	fd = open(RPG_DEV, O_RDWR);
	if (fd < 0)
		return fail(RPG_DEV, errno);
	if (!strcmp(cmd, "status"))
		return print_status(fd);
	if (!strcmp(cmd, "teardown")) {
		start = rpg_now_ns();
		ret = rpg_teardown(fd, &td);
		if (ret)
			return fail("TEARDOWN", -ret);
		printf("outstanding=%llu waited_ns=%llu ms=%llu\n",
		       (unsigned long long)td.outstanding, (unsigned long long)td.waited_ns,
		       (unsigned long long)((rpg_now_ns() - start) / 1000000));
		return 0;
	}
	if (!strcmp(cmd, "attach"))
		return rpg_attach(fd) ? fail("ATTACH", errno) : print_status(fd);
	if (!strcmp(cmd, "live"))
		return rpg_make_live(fd) ? fail("making the pgmap live", errno) : print_status(fd);
	if ((!strcmp(cmd, "fill") || !strcmp(cmd, "verify")) && argc == 5)
		return pattern(fd, !strcmp(cmd, "fill"), argv[2], argv[3], argv[4]);
	fprintf(stderr, "usage: rpg_ctl status|teardown|attach|live|fill F N S|verify F N S\n");
	return 2;
}
