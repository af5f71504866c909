/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The test holder module (test_modules/rust_pgmap_test_holder.c), which $TEST_HOLDER_MODULE
 * names: load it, command it and read what it saw. Include after rust_pgmap_lib.h.
 */
#ifndef RUST_PGMAP_HOLDER_H
#define RUST_PGMAP_HOLDER_H

#define HOLDER "rust_pgmap_test_holder"
#define HOLDER_DIR "/sys/kernel/debug/" HOLDER "/"

static inline int holder_load(const char *params)
{
	return rpg_load_module("TEST_HOLDER_MODULE", params);
}

static inline int holder_unload(void)
{
	return rpg_unload_module(HOLDER);
}

/* Writes one command to the holder's ctl file; 0 or -errno, as the write returned it. */
static inline int holder_ctl(const char *fmt, ...)
{
	char cmd[64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return rpg_write_file(HOLDER_DIR "ctl", cmd);
}

/* One counter of the holder's stats file, or -1 if it cannot be read. */
static inline long holder_stat(const char *key)
{
	char name[64];
	long value, found = -1;
	FILE *f = fopen(HOLDER_DIR "stats", "r");

	if (!f)
		return -1;
	while (fscanf(f, "%63s %ld", name, &value) == 2)
		if (!strcmp(name, key))
			found = value;
	fclose(f);
	return found;
}

/* Reads len bytes of the held folios, as the holder sees them; 0 or -errno. */
static inline int holder_data(uint8_t *buf, size_t len)
{
	size_t got = 0;
	ssize_t ret = 0;
	int fd = open(HOLDER_DIR "data", O_RDONLY);

	if (fd < 0)
		return -errno;
	while (got < len && (ret = read(fd, buf + got, len - got)) > 0)
		got += ret;
	close(fd);
	return ret < 0 ? -errno : got == len ? 0 : -EIO;
}

#endif /* RUST_PGMAP_HOLDER_H */
