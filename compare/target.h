/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the comparison programs run against: anonymous memory, /dev/rust_pgmap, or a
 * device-dax instance, behind one interface, so that every scenario and benchmark is the same
 * code for each.
 *
 *   anon         private anonymous memory, MADV_NOHUGEPAGE (4 KiB pages)
 *   rust_pgmap   /dev/rust_pgmap; teardown is TEARDOWN, re-creation ATTACH
 *   dax<N>.<M>   /dev/dax<N>.<M>; teardown unbinds it from device_dax, re-creation binds it
 *                again (what `daxctl disable-device` / `enable-device` write to sysfs)
 */
#ifndef COMPARE_TARGET_H
#define COMPARE_TARGET_H

#include <inttypes.h>

#include "rust_pgmap_lib.h"

#define MIB (1024ULL * 1024)
#define DAX_DRIVER "/sys/bus/dax/drivers/device_dax"

struct target {
	const char *name; /* as given: anon, rust_pgmap or daxN.M */
	bool anon, dax;
	char path[64];
	uint64_t size; /* bytes the device maps; 0 for anon */
};

static inline int sysfs_read_u64(const char *path, uint64_t *val)
{
	FILE *f = fopen(path, "r");
	int ok;

	if (!f)
		return -errno;
	ok = fscanf(f, "%" SCNu64, val) == 1;
	fclose(f);
	return ok ? 0 : -EINVAL;
}

static inline int sysfs_write(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY), ret = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

/* A counter of /proc/vmstat, or -1. */
static inline int64_t vmstat(const char *name)
{
	char key[64];
	long long val;
	FILE *f = fopen("/proc/vmstat", "r");
	int64_t found = -1;

	if (!f)
		return -1;
	while (fscanf(f, "%63s %lld", key, &val) == 2)
		if (!strcmp(key, name))
			found = val;
	fclose(f);
	return found;
}

static inline int target_init(struct target *t, const char *name)
{
	char attr[128];

	memset(t, 0, sizeof(*t));
	t->name = name;
	if (!strcmp(name, "anon")) {
		t->anon = true;
		return 0;
	}
	if (!strcmp(name, "rust_pgmap")) {
		struct rust_pgmap_status st;
		int fd = open(RPG_DEV, O_RDWR), ret;

		if (fd < 0)
			return -errno;
		ret = rpg_status(fd, &st);
		close(fd);
		snprintf(t->path, sizeof(t->path), "%s", RPG_DEV);
		t->size = st.nr_pages * RPG_PAGE;
		return ret;
	}
	if (strncmp(name, "dax", 3))
		return -EINVAL;
	t->dax = true;
	snprintf(t->path, sizeof(t->path), "/dev/%s", name);
	snprintf(attr, sizeof(attr), "/sys/bus/dax/devices/%s/size", name);
	return sysfs_read_u64(attr, &t->size);
}

/* Maps len bytes from the start of the target, shared for a device. */
static inline void *target_map(const struct target *t, uint64_t len)
{
	void *p;
	int fd;

	if (t->anon) {
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p != MAP_FAILED)
			madvise(p, len, MADV_NOHUGEPAGE);
		return p;
	}
	fd = open(t->path, O_RDWR);
	if (fd < 0)
		return MAP_FAILED;
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	return p;
}

/* Runs one rust_pgmap ioctl on a descriptor of its own; 0 or -errno. */
static inline int rust_pgmap_call(const struct target *t, int (*op)(int fd))
{
	int fd = open(t->path, O_RDWR), ret;

	if (fd < 0)
		return -errno;
	ret = op(fd);
	close(fd);
	return ret;
}

static inline int rust_pgmap_teardown_op(int fd)
{
	struct rust_pgmap_teardown td;

	return rpg_teardown(fd, &td);
}

/*
 * Tears the device down: returns once the kernel says it is gone (rust_pgmap: drained and
 * unmapped; device-dax: unbound, its memunmap_pages() done).
 */
static inline int target_teardown(const struct target *t)
{
	if (t->dax)
		return sysfs_write(DAX_DRIVER "/unbind", t->name);
	return rust_pgmap_call(t, rust_pgmap_teardown_op);
}

static inline int target_recreate(const struct target *t)
{
	if (t->dax)
		return sysfs_write(DAX_DRIVER "/bind", t->name);
	return rust_pgmap_call(t, rpg_attach);
}

#endif /* COMPARE_TARGET_H */
