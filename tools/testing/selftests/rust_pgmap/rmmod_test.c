// SPDX-License-Identifier: GPL-2.0
/*
 * Module unload: rmmod tears the pgmap down and waits for page references that outlive every
 * open file, and load/unload cycles work. Each test unloads the module first and loads
 * it again afterwards if it was loaded; $MODULE names the .ko to load.
 */
#define _GNU_SOURCE
#include "rust_pgmap_lib.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include "kselftest_harness.h"

static int insmod(void)
{
	char cmd[4096];
	const char *module = getenv("MODULE"), *refmode = getenv("RUST_PGMAP_REFMODE");

	if (!module)
		return -1;
	snprintf(cmd, sizeof(cmd), "insmod '%s' refmode=%s", module,
		 refmode && *refmode ? refmode : "folio");
	return system(cmd);
}

static bool module_loaded(void)
{
	struct stat st;

	return stat("/sys/module/rust_pgmap", &st) == 0;
}

static pid_t rmmod_in_child(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		execlp("rmmod", "rmmod", "rust_pgmap", NULL);
		_exit(127);
	}
	return pid;
}

/* Each test starts with the module unloaded, and leaves it as it found it. */
FIXTURE(rmmod)
{
	bool was_loaded;
};

FIXTURE_SETUP(rmmod)
{
	if (!getenv("MODULE"))
		SKIP(return, "MODULE does not name rust_pgmap.ko");
	self->was_loaded = module_loaded();
	if (self->was_loaded)
		ASSERT_EQ(0, system("rmmod rust_pgmap"));
}

FIXTURE_TEARDOWN(rmmod)
{
	if (module_loaded())
		system("rmmod rust_pgmap");
	if (self->was_loaded)
		EXPECT_EQ(0, insmod());
}

TEST_F(rmmod, rmmod_waits_for_vmsplice_pipe)
{
	const uint64_t n = 8;
	uint64_t released, done;
	int fd, p[2], status;
	struct iovec iov;
	uint8_t *a, *buf;
	pid_t pid;

	ASSERT_EQ(0, insmod()) TH_LOG("insmod $MODULE failed");

	fd = open(RPG_DEV, O_RDWR);
	ASSERT_LE(0, fd);
	a = rpg_map(fd, 0, n);
	ASSERT_NE(MAP_FAILED, a);
	rpg_fill(a, 0, n, 7);
	ASSERT_EQ(0, pipe(p));
	ASSERT_LE((int)(n * RPG_PAGE), fcntl(p[1], F_SETPIPE_SZ, (int)(n * RPG_PAGE)));
	iov.iov_base = a;
	iov.iov_len = n * RPG_PAGE;
	ASSERT_EQ((ssize_t)(n * RPG_PAGE), vmsplice(p[1], &iov, 1, 0));
	/* Only the pipe holds the pages now, and nothing holds the module. */
	ASSERT_EQ(0, munmap(a, n * RPG_PAGE));
	close(fd);

	pid = rmmod_in_child();
	/* The device goes first: no new user can come while the pgmap drains. */
	for (int i = 0; i < 500 && access(RPG_DEV, F_OK) == 0; i++)
		usleep(10000);
	EXPECT_NE(0, access(RPG_DEV, F_OK)) TH_LOG("the device is still registered");
	usleep(500000);
	EXPECT_EQ(0, waitpid(pid, &status, WNOHANG)) TH_LOG("rmmod did not wait for the pipe");
	EXPECT_TRUE(module_loaded());

	buf = malloc(n * RPG_PAGE);
	ASSERT_NE(NULL, buf);
	ASSERT_EQ((ssize_t)(n * RPG_PAGE), read(p[0], buf, n * RPG_PAGE));
	EXPECT_EQ(0, rpg_verify(buf, 0, n, 7)) TH_LOG("the pipe read other bytes");
	released = rpg_now_ns();
	close(p[0]);
	close(p[1]);

	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	done = rpg_now_ns();
	EXPECT_EQ(0, WEXITSTATUS(status));
	EXPECT_FALSE(module_loaded());
	ksft_print_msg("rmmod: drain completed %.1f ms after the pipe was released\n",
		       (done - released) / 1e6);
	free(buf);
}

/*
 * Each cycle creates and removes the memmap of the whole region: slow under TCG. What a cycle
 * leaks, kmemleak reports at the scans that follow the refmode's run (scripts/guest/check.sh).
 */
TEST_F_TIMEOUT(rmmod, rmmod_reload_6_cycles, 600)
{
	uint8_t *a;
	int fd;

	for (int i = 0; i < 6; i++) {
		ASSERT_EQ(0, insmod()) TH_LOG("cycle %d: insmod", i);
		fd = open(RPG_DEV, O_RDWR);
		ASSERT_LE(0, fd);
		a = rpg_map(fd, i, 4);
		ASSERT_NE(MAP_FAILED, a);
		rpg_fill(a, i, 4, i);
		ASSERT_EQ(0, munmap(a, 4 * RPG_PAGE));
		close(fd);
		ASSERT_EQ(0, system("rmmod rust_pgmap")) TH_LOG("cycle %d: rmmod", i);
	}
}

TEST_HARNESS_MAIN
