// SPDX-License-Identifier: GPL-2.0
/*
 * The pgmap lifecycle in six steps: a pin blocks the teardown, the unpin completes it, and
 * the data survives into the next pgmap.
 */
#include "rust_pgmap_lib.h"

#include <stdlib.h>

#define NPAGES 16

static void die(const char *what)
{
	perror(what);
	exit(1);
}

int main(void)
{
	struct rust_pgmap_teardown td;
	struct rust_pgmap_status st;
	uint64_t handle = 0, unpinned, done = 0;
	int fd, p[2], status;
	uint8_t *a;
	pid_t pid;

	fd = open(RPG_DEV, O_RDWR);
	if (fd < 0)
		die(RPG_DEV);

	a = rpg_map(fd, 0, NPAGES);
	if (a == MAP_FAILED)
		die("mmap");
	rpg_fill(a, 0, NPAGES, 42);
	printf("1. mapped %d pages of the region and wrote a pattern\n", NPAGES);

	if (rpg_pin(fd, a, NPAGES, RUST_PGMAP_PIN_WRITE, &handle))
		die("PIN");
	rpg_status(fd, &st);
	printf("2. pinned them with pin_user_pages_fast(FOLL_WRITE): %llu folios outstanding\n",
	       (unsigned long long)st.outstanding);

	if (pipe(p))
		die("pipe");
	pid = fork();
	if (pid == 0) {
		int ret = rpg_teardown(fd, &td);

		done = rpg_now_ns();
		if (write(p[1], &td, sizeof(td)) != sizeof(td) ||
		    write(p[1], &done, sizeof(done)) != sizeof(done))
			_exit(2);
		_exit(ret ? 1 : 0);
	}
	if (rpg_wait_state(fd, RUST_PGMAP_STATE_DYING, 5000))
		die("teardown did not start");
	sleep(1);
	rpg_status(fd, &st);
	printf("3. teardown started and is blocked: state %s, %llu folios outstanding\n",
	       waitpid(pid, &status, WNOHANG) == 0 && st.state == RUST_PGMAP_STATE_DYING ?
	       "dying" : "NOT BLOCKED", (unsigned long long)st.outstanding);

	unpinned = rpg_now_ns();
	if (rpg_unpin(fd, handle))
		die("UNPIN");
	if (waitpid(pid, &status, 0) != pid || WEXITSTATUS(status) != 0)
		die("TEARDOWN");
	if (read(p[0], &td, sizeof(td)) != sizeof(td) || read(p[0], &done, sizeof(done)) != sizeof(done))
		die("read");
	rpg_status(fd, &st);
	printf("4. unpinned: teardown completed %.1f ms after the unpin (waited %.0f ms in all), "
	       "requested %llu, freed %llu\n", (done - unpinned) / 1e6, td.waited_ns / 1e6,
	       (unsigned long long)st.requested, (unsigned long long)st.freed);
	munmap(a, NPAGES * RPG_PAGE);

	a = rpg_map(fd, 0, NPAGES);
	if (a == MAP_FAILED)
		die("mmap");
	printf("5. a new mapping after the teardown: %s\n",
	       rpg_touch(a, false) == SIGBUS ? "SIGBUS" : "NO SIGBUS");
	munmap(a, NPAGES * RPG_PAGE);

	if (rpg_attach(fd))
		die("ATTACH");
	rpg_status(fd, &st);
	a = rpg_map(fd, 0, NPAGES);
	if (a == MAP_FAILED)
		die("mmap");
	done = rpg_verify(a, 0, NPAGES, 42);
	printf("6. attached pgmap generation %u: %s (%llu of %lu bytes differ)\n", st.generation,
	       done ? "PATTERN LOST" : "pattern intact", (unsigned long long)done,
	       NPAGES * RPG_PAGE);
	munmap(a, NPAGES * RPG_PAGE);
	close(fd);
	return done ? 1 : 0;
}
