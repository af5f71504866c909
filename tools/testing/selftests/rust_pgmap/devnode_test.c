// SPDX-License-Identifier: GPL-2.0
/*
 * The device node and the file mode: a node made on a tmpfs that is then unmounted (as in a
 * container) leaves the device working, a file opened read-only maps the pages shared and
 * read-only, and private mappings are refused.
 */
#define _GNU_SOURCE
#include "rust_pgmap_lib.h"

#include <sys/mount.h>
#include <sys/stat.h>

#include "kselftest_harness.h"
#include "rust_pgmap_fixture.h"

/* The region page the container test writes through the foreign node. */
#define NODE_PAGE 5
/* The region page the file mode tests map. */
#define RO_PAGE 7
#define RO_SEED 0x3c

/*
 * Opens @node, maps region page @page through it and fills it with the pattern of @seed, then
 * unmaps and closes it: nothing is left holding the node's inode. Returns 0, or -errno with
 * the step that failed in *what.
 */
static int fill_through_node(const char *node, uint64_t page, uint32_t seed, const char **what)
{
	uint8_t *a;
	int fd, ret = 0;

	*what = "open";
	fd = open(node, O_RDWR);
	if (fd < 0)
		return -errno;
	/* A pgmap a previous program left dead would SIGBUS the fill. */
	*what = "make live";
	if (rpg_make_live(fd)) {
		ret = -EIO;
		goto out;
	}
	*what = "mmap";
	a = rpg_map(fd, page, 1);
	if (a == MAP_FAILED) {
		ret = -errno;
		goto out;
	}
	*what = "fault";
	if (rpg_touch(a, true)) {
		ret = -EFAULT;
	} else {
		rpg_fill(a, page, 1, seed);
		*what = "verify";
		if (rpg_verify(a, page, 1, seed))
			ret = -EIO;
	}
	if (munmap(a, RPG_PAGE) && !ret) {
		*what = "munmap";
		ret = -errno;
	}
out:
	if (close(fd) && !ret) {
		*what = "close";
		ret = -errno;
	}
	return ret;
}

/*
 * A plain TEST, so the harness runs it before every fixture test: the node on the tmpfs is
 * the first file of this program to open the device.
 */
TEST(foreign_node_on_unmounted_tmpfs_keeps_working)
{
	char dir[] = "/tmp/rust_pgmap_node.XXXXXX";
	char node[sizeof(dir) + 16];
	struct rust_pgmap_teardown td;
	/* Per run, so that bytes left by an earlier run cannot pass for this one's. */
	const uint32_t seed = (uint32_t)getpid();
	const char *what = "mknod";
	struct stat sb;
	uint8_t *a;
	int fd, ret;

	if (stat(RPG_DEV, &sb))
		SKIP(return, RPG_DEV ": %s (module not loaded?)", strerror(errno));
	ASSERT_TRUE(S_ISCHR(sb.st_mode));
	ASSERT_NE(NULL, mkdtemp(dir)) TH_LOG("mkdtemp: %s", strerror(errno));
	if (mount("tmpfs", dir, "tmpfs", 0, "size=1M")) {
		int err = errno;

		rmdir(dir);
		if (err == EPERM)
			SKIP(return, "mount tmpfs: %s", strerror(err));
		ASSERT_EQ(0, err) TH_LOG("mount tmpfs on %s: %s", dir, strerror(err));
	}

	/* Every step up to the unmount records its failure, so that the unmount always runs. */
	snprintf(node, sizeof(node), "%s/pgmap", dir);
	ret = mknod(node, S_IFCHR | 0600, sb.st_rdev) ? -errno : 0;
	if (!ret)
		ret = fill_through_node(node, NODE_PAGE, seed, &what);
	EXPECT_EQ(0, umount2(dir, MNT_DETACH)) TH_LOG("umount2: %s", strerror(errno));
	EXPECT_EQ(0, rmdir(dir)) TH_LOG("rmdir %s: %s", dir, strerror(errno));
	ASSERT_EQ(0, ret) TH_LOG("%s through %s: %s", what, node, strerror(-ret));

	/* The node and its filesystem are gone; the device must not have kept either. */
	fd = open(RPG_DEV, O_RDWR);
	ASSERT_LE(0, fd) TH_LOG(RPG_DEV ": %s", strerror(errno));
	a = rpg_map(fd, NODE_PAGE, 1);
	ASSERT_NE(MAP_FAILED, a);
	ASSERT_EQ(0, rpg_touch(a, false));
	EXPECT_EQ(0, rpg_verify(a, NODE_PAGE, 1, seed))
		TH_LOG("the bytes written through the foreign node are gone");
	ASSERT_EQ(0, munmap(a, RPG_PAGE));

	/* The teardown zaps the mappings of the device's own inode, not of the unmounted one. */
	EXPECT_EQ(0, rpg_teardown(fd, &td));
	EXPECT_EQ(0, rpg_attach(fd));
	/* No fixture: bring the pgmap back to live here if either failed. */
	ASSERT_EQ(0, rpg_make_live(fd));

	a = rpg_map(fd, NODE_PAGE, 1);
	ASSERT_NE(MAP_FAILED, a);
	ASSERT_EQ(0, rpg_touch(a, false)) TH_LOG("the page does not fault in after the attach");
	EXPECT_EQ(0, rpg_verify(a, NODE_PAGE, 1, seed))
		TH_LOG("bytes lost across teardown and attach");
	EXPECT_EQ(0, munmap(a, RPG_PAGE));
	EXPECT_EQ(0, close(fd));
}

RPG_FIXTURE(devnode)

FIXTURE_SETUP(devnode)
{
	RPG_FIXTURE_OPEN();
	ASSERT_LT(RO_PAGE, self->st.nr_pages);
}

/* Writes the pattern of RO_SEED to RO_PAGE through the fixture's read-write file. */
static int fill_ro_page(int fd)
{
	uint8_t *a = rpg_map(fd, RO_PAGE, 1);

	if (a == MAP_FAILED)
		return -errno;
	if (rpg_touch(a, true)) {
		munmap(a, RPG_PAGE);
		return -EFAULT;
	}
	rpg_fill(a, RO_PAGE, 1, RO_SEED);
	return munmap(a, RPG_PAGE) ? -errno : 0;
}

TEST_F(devnode, readonly_fd_maps_shared_and_reads_data)
{
	uint8_t *a;
	int ro;

	ASSERT_EQ(0, fill_ro_page(self->fd));
	ro = open(RPG_DEV, O_RDONLY);
	ASSERT_LE(0, ro) TH_LOG(RPG_DEV " O_RDONLY: %s", strerror(errno));
	/* do_mmap() clears VM_SHARED (not VM_MAYSHARE) for a file not open for writing. */
	a = mmap(NULL, RPG_PAGE, PROT_READ, MAP_SHARED, ro, RO_PAGE * RPG_PAGE);
	ASSERT_NE(MAP_FAILED, a) TH_LOG("read-only shared mmap: %s", strerror(errno));
	ASSERT_EQ(0, rpg_touch(a, false));
	EXPECT_EQ(0, rpg_verify(a, RO_PAGE, 1, RO_SEED))
		TH_LOG("the read-only mapping does not show the bytes written");
	EXPECT_EQ(0, munmap(a, RPG_PAGE));
	EXPECT_EQ(0, close(ro));
}

TEST_F(devnode, readonly_shared_mapping_refuses_mprotect_write)
{
	uint8_t *a;
	int ro, ret;

	ro = open(RPG_DEV, O_RDONLY);
	ASSERT_LE(0, ro) TH_LOG(RPG_DEV " O_RDONLY: %s", strerror(errno));
	a = mmap(NULL, RPG_PAGE, PROT_READ, MAP_SHARED, ro, RO_PAGE * RPG_PAGE);
	ASSERT_NE(MAP_FAILED, a) TH_LOG("read-only shared mmap: %s", strerror(errno));
	ASSERT_EQ(0, rpg_touch(a, false));
	/* The file is not open for writing, so the mapping must never become writable. */
	ret = mprotect(a, RPG_PAGE, PROT_READ | PROT_WRITE) ? -errno : 0;
	EXPECT_EQ(-EACCES, ret);
	EXPECT_EQ(0, rpg_touch(a, false));
	EXPECT_EQ(0, munmap(a, RPG_PAGE));
	EXPECT_EQ(0, close(ro));
}

/* Maps RO_PAGE of fd privately; returns the errno of the refusal, or 0 if it was mapped. */
static int private_map_errno(int fd, int prot)
{
	void *a = mmap(NULL, RPG_PAGE, prot, MAP_PRIVATE, fd, RO_PAGE * RPG_PAGE);

	if (a == MAP_FAILED)
		return errno;
	munmap(a, RPG_PAGE);
	return 0;
}

TEST_F(devnode, private_mapping_is_refused)
{
	int err = private_map_errno(self->fd, PROT_READ | PROT_WRITE);

	EXPECT_EQ(EINVAL, err) TH_LOG("MAP_PRIVATE: %s", err ? strerror(err) : "mapped");
}

/* A read-only file's shared mapping lacks VM_SHARED too: only VM_MAYSHARE tells them apart. */
TEST_F(devnode, private_mapping_of_readonly_fd_is_refused)
{
	int ro, err;

	ro = open(RPG_DEV, O_RDONLY);
	ASSERT_LE(0, ro) TH_LOG(RPG_DEV " O_RDONLY: %s", strerror(errno));
	err = private_map_errno(ro, PROT_READ);
	EXPECT_EQ(EINVAL, err) TH_LOG("MAP_PRIVATE of O_RDONLY: %s", err ? strerror(err) : "mapped");
	EXPECT_EQ(0, close(ro));
}

TEST_HARNESS_MAIN
