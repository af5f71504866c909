// SPDX-License-Identifier: GPL-2.0
/*
 * Bad input to /dev/rust_pgmap: bad pointers, read-only result buffers, empty, huge, wrapping
 * and out-of-region ranges, bad flags, unknown commands and refused mappings. Each must fail
 * with the errno of Documentation/abi.rst and leave no folio, pin or request behind.
 */
#define _GNU_SOURCE
#include "rust_pgmap_lib.h"

#include "kselftest_harness.h"
#include "rust_pgmap_fixture.h"

/* Above every user address space, so access_ok() refuses it, and far from wrapping. */
#define KERNEL_ADDR ((void *)(uintptr_t)0xffff800000000000ULL)

/* @n pages below 2^64: a range of n or more pages from there wraps. */
#define TOP_ADDR(n) ((void *)(uintptr_t)(0 - (uint64_t)(n) * RPG_PAGE))

/* The region pages this file maps: clear of those the other tests fill with patterns. */
#define BI_FIRST 1024

RPG_FIXTURE(badinput)

FIXTURE_SETUP(badinput)
{
	RPG_FIXTURE_OPEN();
	ASSERT_LT(BI_FIRST + 64, self->st.nr_pages);
}

/* ioctl() as 0 or -errno, for any argument the test wants to pass. */
static int xioctl(int fd, unsigned long cmd, const void *arg)
{
	return ioctl(fd, cmd, arg) ? -errno : 0;
}

/* mmap() as 0 or -errno; a mapping that should not have been made is unmapped again. */
static int mmap_errno(size_t len, int prot, int flags, int fd, off_t off)
{
	void *p = mmap(NULL, len, prot, flags, fd, off);

	if (p == MAP_FAILED)
		return -errno;
	munmap(p, len);
	return 0;
}

/* A read-only copy of @src: the kernel can read the arguments but not write results back. */
static void *ro_copy(const void *src, size_t len)
{
	void *p = mmap(NULL, RPG_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	memcpy(p, src, len);
	if (mprotect(p, RPG_PAGE, PROT_READ)) {
		munmap(p, RPG_PAGE);
		return NULL;
	}
	return p;
}

/* An address nothing is mapped at, as long as the caller maps nothing new before using it. */
static void *unmapped_page(void)
{
	void *p = mmap(NULL, RPG_PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	munmap(p, RPG_PAGE);
	return p;
}

/*
 * Maps @n region pages from @first followed by a PROT_NONE page, so that a pin running past
 * the mapping stops there rather than in whatever the kernel placed next to it.
 */
static uint8_t *map_guarded(int fd, uint64_t first, uint64_t n, int prot)
{
	uint8_t *area = mmap(NULL, (n + 1) * RPG_PAGE, PROT_NONE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	void *p;

	if (area == MAP_FAILED)
		return MAP_FAILED;
	p = mmap(area, n * RPG_PAGE, prot, MAP_SHARED | MAP_FIXED, fd, first * RPG_PAGE);
	if (p == MAP_FAILED) {
		munmap(area, (n + 1) * RPG_PAGE);
		return MAP_FAILED;
	}
	return area;
}

static void unmap_guarded(uint8_t *area, uint64_t n)
{
	munmap(area, (n + 1) * RPG_PAGE);
}

/* Every refusal must leave the counters where the test started: nothing leaked. */
static void expect_baseline(struct __test_metadata *_metadata, int fd,
			    const struct rust_pgmap_status *base, const char *what)
{
	struct rust_pgmap_status st;

	ASSERT_EQ(0, rpg_status(fd, &st));
	EXPECT_EQ(0, st.outstanding) TH_LOG("%s: folios still requested", what);
	EXPECT_EQ(st.requested, st.freed) TH_LOG("%s", what);
	EXPECT_EQ(base->pinned, st.pinned) TH_LOG("%s: a pin leaked", what);
	EXPECT_EQ(base->held, st.held) TH_LOG("%s: a request leaked", what);
}

TEST_F(badinput, badinput_ioctl_bad_pointer_efault)
{
	static const struct {
		const char *name;
		unsigned long cmd;
	} cmds[] = {
		{ "STATUS", RUST_PGMAP_IOC_STATUS },
		{ "PIN", RUST_PGMAP_IOC_PIN },
		{ "UNPIN", RUST_PGMAP_IOC_UNPIN },
		{ "REQUEST", RUST_PGMAP_IOC_REQUEST },
		{ "RELEASE", RUST_PGMAP_IOC_RELEASE },
		{ "GUP_FAST_PROBE", RUST_PGMAP_IOC_GUP_FAST_PROBE },
	};
	const void *ptrs[5];
	uint8_t *two;

	/* The argument's first bytes are readable, the rest lies in a hole. */
	two = mmap(NULL, 2 * RPG_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, two);
	memset(two, 0, 2 * RPG_PAGE);
	ASSERT_EQ(0, munmap(two + RPG_PAGE, RPG_PAGE));

	ptrs[0] = (void *)1;
	ptrs[1] = NULL;
	ptrs[2] = KERNEL_ADDR;
	ptrs[3] = two + RPG_PAGE - 4;
	ptrs[4] = unmapped_page();
	ASSERT_NE(NULL, ptrs[4]);

	for (size_t c = 0; c < ARRAY_SIZE(cmds); c++) {
		for (size_t p = 0; p < ARRAY_SIZE(ptrs); p++) {
			EXPECT_EQ(-EFAULT, xioctl(self->fd, cmds[c].cmd, ptrs[p]))
				TH_LOG("%s with pointer %p", cmds[c].name, ptrs[p]);
		}
	}

	munmap(two, RPG_PAGE);
	expect_baseline(_metadata, self->fd, &self->st, "bad pointers");
}

TEST_F(badinput, badinput_status_readonly_efault)
{
	struct rust_pgmap_status zero = { 0 };
	struct rust_pgmap_status *ro = ro_copy(&zero, sizeof(zero));

	ASSERT_NE(NULL, ro);
	EXPECT_EQ(-EFAULT, xioctl(self->fd, RUST_PGMAP_IOC_STATUS, ro));
	EXPECT_EQ(0, ro->nr_pages);
	munmap(ro, RPG_PAGE);
	expect_baseline(_metadata, self->fd, &self->st, "read-only STATUS");
}

TEST_F(badinput, badinput_pin_readonly_struct_efault_no_leak)
{
	const uint64_t n = 4;
	struct rust_pgmap_pin pin = { .npages = n, .flags = RUST_PGMAP_PIN_WRITE };
	struct rust_pgmap_status st;
	struct rust_pgmap_pin *ro;
	uint64_t h = 0;
	uint8_t *a;

	a = map_guarded(self->fd, BI_FIRST, n, PROT_READ | PROT_WRITE);
	ASSERT_NE(MAP_FAILED, a);
	pin.addr = (uintptr_t)a;
	ro = ro_copy(&pin, sizeof(pin));
	ASSERT_NE(NULL, ro);

	/* Untouched pages: the pin faults them in, then cannot report its handle. */
	EXPECT_EQ(-EFAULT, xioctl(self->fd, RUST_PGMAP_IOC_PIN, ro));
	ASSERT_EQ(0, rpg_status(self->fd, &st));
	EXPECT_EQ(self->st.pinned, st.pinned) TH_LOG("the unreported pin was kept");
	EXPECT_EQ(n, st.outstanding) TH_LOG("only the mapping should hold the pages");

	/* Mapped pages, without FOLL_WRITE. */
	rpg_fill(a, BI_FIRST, n, 5);
	munmap(ro, RPG_PAGE);
	pin.flags = 0;
	ro = ro_copy(&pin, sizeof(pin));
	ASSERT_NE(NULL, ro);
	EXPECT_EQ(-EFAULT, xioctl(self->fd, RUST_PGMAP_IOC_PIN, ro));
	ASSERT_EQ(0, rpg_status(self->fd, &st));
	EXPECT_EQ(self->st.pinned, st.pinned);
	EXPECT_EQ(0, ro->handle);

	/* A longterm pin is taken and dropped again when its result cannot be written. */
	munmap(ro, RPG_PAGE);
	pin.flags = RUST_PGMAP_PIN_LONGTERM | RUST_PGMAP_PIN_WRITE;
	ro = ro_copy(&pin, sizeof(pin));
	ASSERT_NE(NULL, ro);
	EXPECT_EQ(-EFAULT, xioctl(self->fd, RUST_PGMAP_IOC_PIN, ro));
	munmap(ro, RPG_PAGE);

	/* The pages were not left half-pinned: a real pin and unpin still work. */
	ASSERT_EQ(0, rpg_pin(self->fd, a, n, RUST_PGMAP_PIN_WRITE, &h));
	ASSERT_EQ(0, rpg_status(self->fd, &st));
	EXPECT_EQ(self->st.pinned + n, st.pinned);
	EXPECT_EQ(0, rpg_unpin(self->fd, h));
	EXPECT_EQ(0, rpg_verify(a, BI_FIRST, n, 5));

	unmap_guarded(a, n);
	expect_baseline(_metadata, self->fd, &self->st, "read-only PIN");
}

TEST_F(badinput, badinput_request_readonly_struct_efault_no_leak)
{
	const uint64_t n = 4;
	struct rust_pgmap_request req = { .offset = BI_FIRST + 8, .npages = n };
	struct rust_pgmap_request *ro;
	struct rust_pgmap_status st;
	uint64_t h = 0;

	ro = ro_copy(&req, sizeof(req));
	ASSERT_NE(NULL, ro);
	EXPECT_EQ(-EFAULT, xioctl(self->fd, RUST_PGMAP_IOC_REQUEST, ro));
	ASSERT_EQ(0, rpg_status(self->fd, &st));
	/* The folios were taken, then given back when the handle could not be reported. */
	EXPECT_EQ(self->st.requested + n, st.requested);
	EXPECT_EQ(st.requested, st.freed);
	EXPECT_EQ(self->st.held, st.held);
	munmap(ro, RPG_PAGE);

	/* Arguments are checked before anything is written back. */
	req.npages = 0;
	ro = ro_copy(&req, sizeof(req));
	ASSERT_NE(NULL, ro);
	EXPECT_EQ(-EINVAL, xioctl(self->fd, RUST_PGMAP_IOC_REQUEST, ro));
	munmap(ro, RPG_PAGE);
	req.npages = self->st.nr_pages;
	ro = ro_copy(&req, sizeof(req));
	ASSERT_NE(NULL, ro);
	EXPECT_EQ(-ERANGE, xioctl(self->fd, RUST_PGMAP_IOC_REQUEST, ro));
	munmap(ro, RPG_PAGE);

	/* The pages are idle again. */
	ASSERT_EQ(0, rpg_request(self->fd, BI_FIRST + 8, n, &h));
	EXPECT_EQ(0, rpg_release(self->fd, h));
	expect_baseline(_metadata, self->fd, &self->st, "read-only REQUEST");
}

TEST_F(badinput, badinput_unpin_release_readonly_handle_ok)
{
	uint64_t hp = 0, hr = 0, *ro;
	uint8_t *a;

	a = map_guarded(self->fd, BI_FIRST, 2, PROT_READ | PROT_WRITE);
	ASSERT_NE(MAP_FAILED, a);
	ASSERT_EQ(0, rpg_pin(self->fd, a, 2, 0, &hp));
	ASSERT_EQ(0, rpg_request(self->fd, BI_FIRST + 16, 2, &hr));

	/* UNPIN and RELEASE only read their argument. */
	ro = ro_copy(&hp, sizeof(hp));
	ASSERT_NE(NULL, ro);
	EXPECT_EQ(0, xioctl(self->fd, RUST_PGMAP_IOC_UNPIN, ro));
	munmap(ro, RPG_PAGE);
	ro = ro_copy(&hr, sizeof(hr));
	ASSERT_NE(NULL, ro);
	EXPECT_EQ(0, xioctl(self->fd, RUST_PGMAP_IOC_RELEASE, ro));
	munmap(ro, RPG_PAGE);

	unmap_guarded(a, 2);
	expect_baseline(_metadata, self->fd, &self->st, "read-only handles");
}

TEST_F(badinput, badinput_pin_zero_huge_overflow)
{
	const uint64_t n = 4, nr = self->st.nr_pages;
	struct rust_pgmap_status st;
	void *hole;
	uint64_t h = 0;
	uint8_t *a;

	a = map_guarded(self->fd, BI_FIRST, n, PROT_READ | PROT_WRITE);
	ASSERT_NE(MAP_FAILED, a);

	EXPECT_EQ(-EINVAL, rpg_pin(self->fd, a, 0, 0, &h));
	/* More pages than the region has is refused before the range is looked at. */
	EXPECT_EQ(-ERANGE, rpg_pin(self->fd, a, nr + 1, 0, &h));
	EXPECT_EQ(-ERANGE, rpg_pin(self->fd, a, 1ULL << 40, 0, &h));
	EXPECT_EQ(-ERANGE, rpg_pin(self->fd, a, UINT64_MAX, RUST_PGMAP_PIN_WRITE, &h));
	/* addr + len wraps past the top of the address space. */
	EXPECT_EQ(-EINVAL, rpg_pin(self->fd, TOP_ADDR(1), 1, 0, &h));
	EXPECT_EQ(-EINVAL, rpg_pin(self->fd, TOP_ADDR(1), 4, 0, &h));
	EXPECT_EQ(-EINVAL, rpg_pin(self->fd, TOP_ADDR(4096), 4096, 0, &h));
	/* In range for the checks, but nothing pinnable there. */
	EXPECT_EQ(-EFAULT, rpg_pin(self->fd, KERNEL_ADDR, 1, 0, &h));
	EXPECT_EQ(-EFAULT, rpg_pin(self->fd, NULL, 1, 0, &h));
	/* The whole region's worth from our mapping: its pages, then the guard. */
	EXPECT_EQ(-EFAULT, rpg_pin(self->fd, a, nr, 0, &h));
	EXPECT_EQ(-EFAULT, rpg_pin(self->fd, a, n + 1, RUST_PGMAP_PIN_WRITE, &h));
	hole = unmapped_page();
	ASSERT_NE(NULL, hole);
	EXPECT_EQ(-EFAULT, rpg_pin(self->fd, hole, 1, 0, &h));

	ASSERT_EQ(0, rpg_status(self->fd, &st));
	EXPECT_EQ(self->st.pinned, st.pinned);
	unmap_guarded(a, n);
	expect_baseline(_metadata, self->fd, &self->st, "PIN ranges");
}

TEST_F(badinput, badinput_pin_unaligned_einval)
{
	const uintptr_t offs[] = { 1, 8, 2048, RPG_PAGE - 1, RPG_PAGE + 64 };
	struct rust_pgmap_status st;
	uint64_t h = 0;
	uint8_t *a;

	a = map_guarded(self->fd, BI_FIRST, 4, PROT_READ | PROT_WRITE);
	ASSERT_NE(MAP_FAILED, a);
	for (size_t i = 0; i < ARRAY_SIZE(offs); i++) {
		EXPECT_EQ(-EINVAL, rpg_pin(self->fd, a + offs[i], 1, RUST_PGMAP_PIN_WRITE, &h))
			TH_LOG("offset %#lx", (unsigned long)offs[i]);
	}
	EXPECT_EQ(-EINVAL, rpg_pin(self->fd, (void *)1, 1, 0, &h));
	/* Refused before gup: nothing was faulted in. */
	ASSERT_EQ(0, rpg_status(self->fd, &st));
	EXPECT_EQ(0, st.outstanding);
	unmap_guarded(a, 4);
	expect_baseline(_metadata, self->fd, &self->st, "unaligned PIN");
}

TEST_F(badinput, badinput_pin_flags_pad_einval)
{
	static const uint32_t bad_flags[] = {
		1U << 2, 1U << 31, ~0U, RUST_PGMAP_PIN_WRITE | (1U << 5),
	};
	static const uint32_t bad_pads[] = { 1, 0x80000000U, ~0U };
	struct rust_pgmap_pin pin = { .npages = 2 };
	struct rust_pgmap_status st;
	uint8_t *a;

	a = map_guarded(self->fd, BI_FIRST, 2, PROT_READ | PROT_WRITE);
	ASSERT_NE(MAP_FAILED, a);
	pin.addr = (uintptr_t)a;
	for (size_t i = 0; i < ARRAY_SIZE(bad_flags); i++) {
		pin.flags = bad_flags[i];
		EXPECT_EQ(-EINVAL, xioctl(self->fd, RUST_PGMAP_IOC_PIN, &pin))
			TH_LOG("flags %#x", bad_flags[i]);
	}
	pin.flags = RUST_PGMAP_PIN_WRITE;
	for (size_t i = 0; i < ARRAY_SIZE(bad_pads); i++) {
		pin.pad = bad_pads[i];
		EXPECT_EQ(-EINVAL, xioctl(self->fd, RUST_PGMAP_IOC_PIN, &pin))
			TH_LOG("pad %#x", bad_pads[i]);
	}
	/* Refused before gup: nothing was faulted in. */
	ASSERT_EQ(0, rpg_status(self->fd, &st));
	EXPECT_EQ(0, st.outstanding);
	unmap_guarded(a, 2);
	expect_baseline(_metadata, self->fd, &self->st, "PIN flags and pad");
}

TEST_F(badinput, badinput_pin_beyond_region_efault)
{
	const uint64_t last = self->st.nr_pages - 1;
	struct rust_pgmap_status st;
	uint64_t h = 0;
	uint8_t *a;

	/* One page inside the region, one past its end. */
	a = map_guarded(self->fd, last, 2, PROT_READ | PROT_WRITE);
	ASSERT_NE(MAP_FAILED, a);
	EXPECT_EQ(-EFAULT, rpg_pin(self->fd, a, 2, RUST_PGMAP_PIN_WRITE, &h));
	EXPECT_EQ(-EFAULT, rpg_pin(self->fd, a + RPG_PAGE, 1, 0, &h));
	ASSERT_EQ(0, rpg_status(self->fd, &st));
	EXPECT_EQ(self->st.pinned, st.pinned) TH_LOG("a partial pin was kept");
	/* The part inside the region is fine on its own. */
	ASSERT_EQ(0, rpg_pin(self->fd, a, 1, RUST_PGMAP_PIN_WRITE, &h));
	EXPECT_EQ(0, rpg_unpin(self->fd, h));
	unmap_guarded(a, 2);
	expect_baseline(_metadata, self->fd, &self->st, "PIN beyond the region");
}

TEST_F(badinput, badinput_pin_prot_mismatch_efault)
{
	uint64_t h = 0;
	uint8_t *r, *none;

	r = map_guarded(self->fd, BI_FIRST, 2, PROT_READ);
	ASSERT_NE(MAP_FAILED, r);
	none = map_guarded(self->fd, BI_FIRST + 2, 2, PROT_NONE);
	ASSERT_NE(MAP_FAILED, none);

	EXPECT_EQ(-EFAULT, rpg_pin(self->fd, r, 2, RUST_PGMAP_PIN_WRITE, &h));
	EXPECT_EQ(-EFAULT, rpg_pin(self->fd, none, 1, 0, &h));
	EXPECT_EQ(-EFAULT, rpg_pin(self->fd, none, 2, RUST_PGMAP_PIN_WRITE, &h));
	/* Reading is what the read-only mapping allows. */
	ASSERT_EQ(0, rpg_pin(self->fd, r, 2, 0, &h));
	EXPECT_EQ(0, rpg_unpin(self->fd, h));

	unmap_guarded(r, 2);
	unmap_guarded(none, 2);
	expect_baseline(_metadata, self->fd, &self->st, "PIN against the protection");
}

TEST_F(badinput, badinput_request_zero_huge_overflow)
{
	const uint64_t nr = self->st.nr_pages;
	struct rust_pgmap_status st;
	uint64_t h = 0;

	EXPECT_EQ(-EINVAL, rpg_request(self->fd, BI_FIRST, 0, &h));
	EXPECT_EQ(-EINVAL, rpg_request(self->fd, nr + 5, 0, &h));
	/* offset + npages wraps: EINVAL, before the region's size is looked at. */
	EXPECT_EQ(-EINVAL, rpg_request(self->fd, UINT64_MAX, 1, &h));
	EXPECT_EQ(-EINVAL, rpg_request(self->fd, 1, UINT64_MAX, &h));
	EXPECT_EQ(-EINVAL, rpg_request(self->fd, 1ULL << 63, 1ULL << 63, &h));
	/* Huge without wrapping. */
	EXPECT_EQ(-ERANGE, rpg_request(self->fd, 0, UINT64_MAX, &h));
	EXPECT_EQ(-ERANGE, rpg_request(self->fd, UINT64_MAX - 1, 1, &h));
	EXPECT_EQ(-ERANGE, rpg_request(self->fd, 1ULL << 40, 1, &h));
	EXPECT_EQ(-ERANGE, rpg_request(self->fd, BI_FIRST, 1ULL << 40, &h));

	ASSERT_EQ(0, rpg_status(self->fd, &st));
	EXPECT_EQ(self->st.requested, st.requested) TH_LOG("a refused request took folios");
	expect_baseline(_metadata, self->fd, &self->st, "REQUEST ranges");
}

TEST_F(badinput, badinput_request_beyond_region_erange)
{
	const uint64_t nr = self->st.nr_pages;
	struct rust_pgmap_status st;
	uint64_t h = 0;

	EXPECT_EQ(-ERANGE, rpg_request(self->fd, nr, 1, &h));
	EXPECT_EQ(-ERANGE, rpg_request(self->fd, nr + 1000, 8, &h));
	EXPECT_EQ(-ERANGE, rpg_request(self->fd, nr - 4, 8, &h));
	EXPECT_EQ(-ERANGE, rpg_request(self->fd, 0, nr + 1, &h));
	EXPECT_EQ(-ERANGE, rpg_request(self->fd, 1, nr, &h));
	ASSERT_EQ(0, rpg_status(self->fd, &st));
	/* All or nothing: the part inside the region was not taken either. */
	EXPECT_EQ(self->st.requested, st.requested);
	expect_baseline(_metadata, self->fd, &self->st, "REQUEST beyond the region");
}

TEST_F(badinput, badinput_gup_fast_probe_bad_ranges)
{
	const uint64_t nr = self->st.nr_pages;
	uint64_t taken = 99;
	uint8_t *a;

	a = rpg_map(self->fd, 0, 4);
	ASSERT_NE(MAP_FAILED, a);
	EXPECT_EQ(-EINVAL, rpg_gup_fast_probe(self->fd, a, 0, &taken));
	EXPECT_EQ(-EINVAL, rpg_gup_fast_probe(self->fd, a + 1, 1, &taken));
	EXPECT_EQ(-EINVAL, rpg_gup_fast_probe(self->fd, (void *)-RPG_PAGE, 2, &taken));
	EXPECT_EQ(-ERANGE, rpg_gup_fast_probe(self->fd, a, nr + 1, &taken));
	EXPECT_EQ(-ERANGE, rpg_gup_fast_probe(self->fd, a, ~0ULL, &taken));
	EXPECT_EQ(-EFAULT, rpg_gup_fast_probe(self->fd, KERNEL_ADDR, 1, &taken));
	/* A hole is no error: gup-fast stops there, as it would before the slow path. */
	ASSERT_EQ(0, rpg_gup_fast_probe(self->fd, unmapped_page(), 1, &taken));
	EXPECT_EQ(0, taken);
	ASSERT_EQ(0, munmap(a, 4 * RPG_PAGE));
	expect_baseline(_metadata, self->fd, &self->st, "GUP_FAST_PROBE with bad ranges");
}

TEST_F(badinput, badinput_unpin_release_unknown_double_enoent)
{
	static const uint64_t unknown[] = { 0, 1, 12345, 1ULL << 63, UINT64_MAX };
	struct rust_pgmap_status st;
	uint64_t hp = 0, hr = 0;
	uint8_t *a;
	int fd2;

	for (size_t i = 0; i < ARRAY_SIZE(unknown); i++) {
		EXPECT_EQ(-ENOENT, rpg_unpin(self->fd, unknown[i]));
		EXPECT_EQ(-ENOENT, rpg_release(self->fd, unknown[i]));
	}

	a = map_guarded(self->fd, BI_FIRST, 2, PROT_READ | PROT_WRITE);
	ASSERT_NE(MAP_FAILED, a);
	ASSERT_EQ(0, rpg_pin(self->fd, a, 2, RUST_PGMAP_PIN_WRITE, &hp));
	ASSERT_EQ(0, rpg_request(self->fd, BI_FIRST + 16, 3, &hr));

	/* A pin is no request and a request no pin, and neither is dropped by the mistake. */
	EXPECT_EQ(-ENOENT, rpg_release(self->fd, hp));
	EXPECT_EQ(-ENOENT, rpg_unpin(self->fd, hr));
	ASSERT_EQ(0, rpg_status(self->fd, &st));
	EXPECT_EQ(self->st.pinned + 2, st.pinned);
	EXPECT_EQ(self->st.held + 3, st.held);

	/* Another file does not see this file's handles. */
	fd2 = open(RPG_DEV, O_RDWR);
	ASSERT_LE(0, fd2);
	EXPECT_EQ(-ENOENT, rpg_unpin(fd2, hp));
	EXPECT_EQ(-ENOENT, rpg_release(fd2, hr));
	close(fd2);

	EXPECT_EQ(0, rpg_unpin(self->fd, hp));
	EXPECT_EQ(-ENOENT, rpg_unpin(self->fd, hp));
	EXPECT_EQ(0, rpg_release(self->fd, hr));
	EXPECT_EQ(-ENOENT, rpg_release(self->fd, hr));

	unmap_guarded(a, 2);
	expect_baseline(_metadata, self->fd, &self->st, "unknown handles");
}

TEST_F(badinput, badinput_unknown_cmd_enotty)
{
	/*
	 * None of these is one the VFS answers itself (FIOCLEX, FIONBIO, FIGETBSZ = 2, ...), so
	 * each reaches the driver.
	 */
	static const unsigned long cmds[] = {
		_IO(RUST_PGMAP_IOC_MAGIC, 0x7f),
		_IO(RUST_PGMAP_IOC_MAGIC, 0x07),
		_IOWR(RUST_PGMAP_IOC_MAGIC, 0x08, __u64),
		_IOWR(RUST_PGMAP_IOC_MAGIC, 0xff, struct rust_pgmap_pin),
		/* A known number with the wrong size or direction is another command. */
		_IOR(RUST_PGMAP_IOC_MAGIC, 0x00, __u32),
		_IOW(RUST_PGMAP_IOC_MAGIC, 0x00, struct rust_pgmap_status),
		_IO(RUST_PGMAP_IOC_MAGIC, 0x01),
		_IOWR(RUST_PGMAP_IOC_MAGIC, 0x01, struct rust_pgmap_request),
		_IOR(RUST_PGMAP_IOC_MAGIC, 0x02, __u64),
		_IOWR(RUST_PGMAP_IOC_MAGIC, 0x05, struct rust_pgmap_teardown),
		/* Another magic with our numbers and sizes. */
		_IOR(0xD6, 0x00, struct rust_pgmap_status),
		_IOWR(0xD8, 0x01, struct rust_pgmap_pin),
		0x1234, 0, 1, 3, TCGETS, 0x80000000UL, 0xffffffffUL,
	};
	struct rust_pgmap_status buf;
	void *args[] = { &buf, (void *)1, NULL };
	struct rust_pgmap_status st;

	for (size_t i = 0; i < ARRAY_SIZE(cmds); i++) {
		for (size_t j = 0; j < ARRAY_SIZE(args); j++) {
			EXPECT_EQ(-ENOTTY, xioctl(self->fd, cmds[i], args[j]))
				TH_LOG("cmd %#lx arg %p", cmds[i], args[j]);
		}
	}
	errno = 0;
	EXPECT_EQ(0, isatty(self->fd));
	EXPECT_EQ(ENOTTY, errno);

	ASSERT_EQ(0, rpg_status(self->fd, &st));
	EXPECT_EQ(RUST_PGMAP_STATE_LIVE, st.state);
	EXPECT_EQ(self->st.generation, st.generation);
	expect_baseline(_metadata, self->fd, &self->st, "unknown commands");
}

TEST_F(badinput, badinput_teardown_attach_bad_pointer_efault)
{
	struct rust_pgmap_teardown zero_td = { 0 };
	struct rust_pgmap_status zero_st = { 0 }, st;
	void *bad_td[2], *bad_st[2];
	uint8_t *a;

	bad_td[0] = (void *)1;
	bad_td[1] = ro_copy(&zero_td, sizeof(zero_td));
	ASSERT_NE(NULL, bad_td[1]);
	bad_st[0] = (void *)1;
	bad_st[1] = ro_copy(&zero_st, sizeof(zero_st));
	ASSERT_NE(NULL, bad_st[1]);

	/* A mapped page, so that a teardown would have a mapping to zap and a folio to drain. */
	a = rpg_map(self->fd, BI_FIRST, 2);
	ASSERT_NE(MAP_FAILED, a);
	a[0] = 1;

	/* The result buffer is checked before the work: EFAULT changes nothing. */
	for (int i = 0; i < 2; i++) {
		EXPECT_EQ(-EFAULT, xioctl(self->fd, RUST_PGMAP_IOC_TEARDOWN, bad_td[i]));
		ASSERT_EQ(0, rpg_status(self->fd, &st));
		EXPECT_EQ(RUST_PGMAP_STATE_LIVE, st.state) TH_LOG("TEARDOWN(bad %d) acted", i);
		EXPECT_EQ(1, st.outstanding) TH_LOG("TEARDOWN(bad %d) zapped the mapping", i);
		EXPECT_EQ(0, rpg_touch(a, true));
	}

	struct rust_pgmap_teardown td;

	ASSERT_EQ(0, rpg_teardown(self->fd, &td));
	for (int i = 0; i < 2; i++) {
		EXPECT_EQ(-EFAULT, xioctl(self->fd, RUST_PGMAP_IOC_ATTACH, bad_st[i]));
		ASSERT_EQ(0, rpg_status(self->fd, &st));
		EXPECT_EQ(RUST_PGMAP_STATE_DEAD, st.state) TH_LOG("ATTACH(bad %d) acted", i);
		EXPECT_EQ(self->st.generation, st.generation);
	}
	ASSERT_EQ(0, rpg_attach(self->fd));
	/* The mapping faults its page in again once live. */
	EXPECT_EQ(0, rpg_touch(a, true));

	munmap(a, 2 * RPG_PAGE);
	munmap(bad_td[1], RPG_PAGE);
	munmap(bad_st[1], RPG_PAGE);
	expect_baseline(_metadata, self->fd, &self->st, "TEARDOWN/ATTACH bad pointers");
}

TEST_F(badinput, badinput_teardown_twice_enxio)
{
	struct rust_pgmap_teardown td, zero_td = { 0 };
	struct rust_pgmap_status st;
	void *ro_td;

	ro_td = ro_copy(&zero_td, sizeof(zero_td));
	ASSERT_NE(NULL, ro_td);
	ASSERT_EQ(0, rpg_teardown(self->fd, &td));
	EXPECT_EQ(-ENXIO, rpg_teardown(self->fd, &td));
	/* Refused before the result is written, whatever the pointer. */
	EXPECT_EQ(-ENXIO, xioctl(self->fd, RUST_PGMAP_IOC_TEARDOWN, (void *)1));
	EXPECT_EQ(-ENXIO, xioctl(self->fd, RUST_PGMAP_IOC_TEARDOWN, ro_td));
	EXPECT_EQ(-ENXIO, xioctl(self->fd, RUST_PGMAP_IOC_TEARDOWN, NULL));
	EXPECT_EQ(-ENXIO, xioctl(self->fd, RUST_PGMAP_IOC_TEARDOWN, unmapped_page()));
	ASSERT_EQ(0, rpg_status(self->fd, &st));
	EXPECT_EQ(RUST_PGMAP_STATE_DEAD, st.state);

	ASSERT_EQ(0, rpg_attach(self->fd));
	EXPECT_EQ(-EBUSY, rpg_attach(self->fd));
	munmap(ro_td, RPG_PAGE);
}

TEST_F(badinput, badinput_attach_while_live_ebusy)
{
	struct rust_pgmap_status zero_st = { 0 }, st;
	void *ro_st;

	ro_st = ro_copy(&zero_st, sizeof(zero_st));
	ASSERT_NE(NULL, ro_st);
	EXPECT_EQ(-EBUSY, rpg_attach(self->fd));
	/* Refused before the result is written, whatever the pointer. */
	EXPECT_EQ(-EBUSY, xioctl(self->fd, RUST_PGMAP_IOC_ATTACH, (void *)1));
	EXPECT_EQ(-EBUSY, xioctl(self->fd, RUST_PGMAP_IOC_ATTACH, ro_st));
	EXPECT_EQ(-EBUSY, xioctl(self->fd, RUST_PGMAP_IOC_ATTACH, NULL));
	EXPECT_EQ(-EBUSY, xioctl(self->fd, RUST_PGMAP_IOC_ATTACH, unmapped_page()));
	ASSERT_EQ(0, rpg_status(self->fd, &st));
	EXPECT_EQ(RUST_PGMAP_STATE_LIVE, st.state);
	EXPECT_EQ(self->st.generation, st.generation) TH_LOG("a refused ATTACH made a pgmap");
	munmap(ro_st, RPG_PAGE);
	expect_baseline(_metadata, self->fd, &self->st, "ATTACH while live");
}

TEST_F(badinput, badinput_attach_while_dying_ebusy)
{
	struct rust_pgmap_status st;
	int status = 0;
	uint64_t h = 0, h2 = 0;
	pid_t pid;

	ASSERT_EQ(0, rpg_request(self->fd, BI_FIRST, 1, &h));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		/*
		 * Through a file of its own: if the test dies, its file and request go away and
		 * this wait ends instead of outliving the test.
		 */
		struct rust_pgmap_teardown td;
		int fd = open(RPG_DEV, O_RDWR);

		close(self->fd);
		_exit(fd >= 0 && !rpg_teardown(fd, &td) ? 0 : 1);
	}
	EXPECT_EQ(0, rpg_wait_state(self->fd, RUST_PGMAP_STATE_DYING, 10000));
	EXPECT_EQ(-EBUSY, rpg_attach(self->fd));
	EXPECT_EQ(-EBUSY, xioctl(self->fd, RUST_PGMAP_IOC_ATTACH, (void *)1));
	EXPECT_EQ(-ENXIO, rpg_request(self->fd, BI_FIRST + 1, 1, &h2));
	EXPECT_EQ(0, rpg_release(self->fd, h));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ASSERT_EQ(0, rpg_status(self->fd, &st));
	EXPECT_EQ(RUST_PGMAP_STATE_DEAD, st.state);
	EXPECT_EQ(0, st.outstanding);
}

TEST_F(badinput, badinput_mmap_private_einval)
{
	EXPECT_EQ(-EINVAL, mmap_errno(RPG_PAGE, PROT_READ, MAP_PRIVATE, self->fd, 0));
	EXPECT_EQ(-EINVAL, mmap_errno(4 * RPG_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, self->fd,
				      BI_FIRST * RPG_PAGE));
	EXPECT_EQ(-EINVAL, mmap_errno(RPG_PAGE, PROT_READ, MAP_PRIVATE | MAP_POPULATE, self->fd,
				      BI_FIRST * RPG_PAGE));
	expect_baseline(_metadata, self->fd, &self->st, "MAP_PRIVATE");
}

TEST_F(badinput, badinput_mmap_exec_eperm)
{
	EXPECT_EQ(-EPERM, mmap_errno(RPG_PAGE, PROT_READ | PROT_EXEC, MAP_SHARED, self->fd, 0));
	EXPECT_EQ(-EPERM, mmap_errno(RPG_PAGE, PROT_EXEC, MAP_SHARED, self->fd, 0));
	EXPECT_EQ(-EPERM, mmap_errno(2 * RPG_PAGE, PROT_READ | PROT_WRITE | PROT_EXEC,
				     MAP_SHARED | MAP_POPULATE, self->fd, BI_FIRST * RPG_PAGE));
	expect_baseline(_metadata, self->fd, &self->st, "PROT_EXEC");
}

TEST_F(badinput, badinput_mmap_bad_offset)
{
	const off_t nr = self->st.nr_pages;
	int ret;

	EXPECT_EQ(-EINVAL, mmap_errno(RPG_PAGE, PROT_READ, MAP_SHARED, self->fd, nr * RPG_PAGE));
	EXPECT_EQ(-EINVAL, mmap_errno(RPG_PAGE, PROT_READ, MAP_SHARED, self->fd,
				      (nr + 1000) * RPG_PAGE));
	EXPECT_EQ(-EINVAL, mmap_errno(RPG_PAGE, PROT_READ, MAP_SHARED, self->fd, (off_t)1 << 44));
	/* Not a page multiple. */
	EXPECT_EQ(-EINVAL, mmap_errno(RPG_PAGE, PROT_READ, MAP_SHARED, self->fd, 100));
	EXPECT_EQ(-EINVAL, mmap_errno(RPG_PAGE, PROT_READ, MAP_SHARED, self->fd,
				      BI_FIRST * RPG_PAGE + 2048));
	/* Ends past the largest file offset: the mm refuses it (EOVERFLOW) before the driver. */
	ret = mmap_errno(RPG_PAGE, PROT_READ, MAP_SHARED, self->fd, -(off_t)RPG_PAGE);
	EXPECT_TRUE(ret == -EOVERFLOW || ret == -EINVAL) TH_LOG("offset -4096: %d", ret);
	ret = mmap_errno(16 * RPG_PAGE, PROT_READ, MAP_SHARED, self->fd, (off_t)-(8 * RPG_PAGE));
	EXPECT_TRUE(ret == -EOVERFLOW || ret == -EINVAL) TH_LOG("offset -32768: %d", ret);
	expect_baseline(_metadata, self->fd, &self->st, "mmap offsets");
}

TEST_F(badinput, badinput_mmap_bad_length)
{
	int ret;

	EXPECT_EQ(-EINVAL, mmap_errno(0, PROT_READ, MAP_SHARED, self->fd, 0));
	EXPECT_EQ(-EINVAL, mmap_errno(0, PROT_READ | PROT_WRITE, MAP_SHARED, self->fd,
				      BI_FIRST * RPG_PAGE));
	/* Rounds up to zero. */
	EXPECT_EQ(-ENOMEM, mmap_errno(SIZE_MAX, PROT_READ, MAP_SHARED, self->fd, 0));
	ret = mmap_errno(SIZE_MAX - 2 * RPG_PAGE + 1, PROT_READ, MAP_SHARED, self->fd,
			 BI_FIRST * RPG_PAGE);
	EXPECT_TRUE(ret == -ENOMEM || ret == -EOVERFLOW) TH_LOG("huge length: %d", ret);
	expect_baseline(_metadata, self->fd, &self->st, "mmap lengths");
}

TEST_F(badinput, badinput_mmap_validate_unknown_flag_eopnotsupp)
{
	uint8_t *a;

	/* The driver claims no extra mmap flags, so MAP_SYNC is unknown to it. */
	EXPECT_EQ(-EOPNOTSUPP, mmap_errno(RPG_PAGE, PROT_READ | PROT_WRITE,
					  MAP_SHARED_VALIDATE | MAP_SYNC, self->fd, 0));
	/* Without unknown flags MAP_SHARED_VALIDATE is MAP_SHARED. */
	a = mmap(NULL, RPG_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED_VALIDATE, self->fd,
		 BI_FIRST * RPG_PAGE);
	ASSERT_NE(MAP_FAILED, a);
	EXPECT_EQ(0, rpg_touch(a, true));
	munmap(a, RPG_PAGE);
	expect_baseline(_metadata, self->fd, &self->st, "MAP_SHARED_VALIDATE");
}

TEST_F(badinput, badinput_mprotect_exec_eacces)
{
	uint8_t *a;

	a = rpg_map(self->fd, BI_FIRST, 2);
	ASSERT_NE(MAP_FAILED, a);
	a[0] = 1;
	/* mmap cleared VM_MAYEXEC, so the mapping can never become executable. */
	EXPECT_EQ(-1, mprotect(a, 2 * RPG_PAGE, PROT_READ | PROT_EXEC));
	EXPECT_EQ(EACCES, errno);
	EXPECT_EQ(-1, mprotect(a + RPG_PAGE, RPG_PAGE, PROT_EXEC));
	EXPECT_EQ(EACCES, errno);
	/* The mapping is unchanged and still works. */
	EXPECT_EQ(0, rpg_touch(a, true));
	EXPECT_EQ(0, rpg_touch(a + RPG_PAGE, true));
	/* Other protections are allowed. */
	EXPECT_EQ(0, mprotect(a, 2 * RPG_PAGE, PROT_READ));
	EXPECT_EQ(0, rpg_touch(a, false));
	munmap(a, 2 * RPG_PAGE);
	expect_baseline(_metadata, self->fd, &self->st, "mprotect(PROT_EXEC)");
}

TEST_F(badinput, badinput_mremap_grow_fails)
{
	struct rust_pgmap_status st;
	uint8_t *a;
	void *p;

	a = rpg_map(self->fd, BI_FIRST, 4);
	ASSERT_NE(MAP_FAILED, a);
	for (int i = 0; i < 4; i++)
		a[i * RPG_PAGE] = 1;

	/* VM_DONTEXPAND: growing is refused, in place or moving (EFAULT on 6.12). */
	for (int flags = 0; flags <= MREMAP_MAYMOVE; flags += MREMAP_MAYMOVE) {
		p = mremap(a, 4 * RPG_PAGE, 8 * RPG_PAGE, flags);
		EXPECT_EQ(MAP_FAILED, p) TH_LOG("grew, flags %#x", flags);
		if (p != MAP_FAILED) {
			munmap(p, 8 * RPG_PAGE);
			expect_baseline(_metadata, self->fd, &self->st, "mremap grow");
			return;
		}
	}

	/* Shrinking is allowed, and gives the cut pages back. */
	p = mremap(a, 4 * RPG_PAGE, RPG_PAGE, 0);
	ASSERT_EQ(a, p);
	ASSERT_EQ(0, rpg_status(self->fd, &st));
	EXPECT_EQ(1, st.outstanding);
	EXPECT_EQ(0, rpg_touch(a, false));
	munmap(a, RPG_PAGE);
	expect_baseline(_metadata, self->fd, &self->st, "mremap");
}

TEST_F(badinput, badinput_mmap_far_past_end_sigbus)
{
	const uint64_t last = self->st.nr_pages - 1, n = 1024;
	uint8_t *a;

	/* Allowed, as a file mapped past its end; every page past the region's end SIGBUSes. */
	a = rpg_map(self->fd, last, n);
	ASSERT_NE(MAP_FAILED, a);
	EXPECT_EQ(0, rpg_touch(a, true));
	EXPECT_EQ(SIGBUS, rpg_touch(a + RPG_PAGE, false));
	EXPECT_EQ(SIGBUS, rpg_touch(a + (n / 2) * RPG_PAGE, true));
	EXPECT_EQ(SIGBUS, rpg_touch(a + (n - 1) * RPG_PAGE, false));
	munmap(a, n * RPG_PAGE);
	expect_baseline(_metadata, self->fd, &self->st, "mapping past the end");
}

TEST_HARNESS_MAIN
