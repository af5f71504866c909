// SPDX-License-Identifier: GPL-2.0
/*
 * PIN of every page of the region in one call. Run against a region over 2 GiB, whose page
 * pointer array (over 4 MiB) is too large for kmalloc, as well as the default one: the whole
 * mapped region pins and unpins, the same range unmapped fails with EFAULT and leaves nothing
 * pinned, and one page more than the region fails with ERANGE.
 */
#define _GNU_SOURCE
#include "rust_pgmap_lib.h"

#include "kselftest_harness.h"
#include "rust_pgmap_fixture.h"

/* Faulting in and pinning some 600,000 pages may be slow in an emulated guest. */
#define BIG_TIMEOUT_S 300

RPG_FIXTURE(bigpin)

FIXTURE_SETUP(bigpin)
{
	RPG_FIXTURE_OPEN();
	ASSERT_LT(0, self->st.nr_pages);
	ASSERT_EQ(0, self->st.pinned) TH_LOG("a previous test left pages pinned");
}

/*
 * A range of @npages nothing is mapped at, as long as the caller maps nothing new before
 * using it.
 */
static void *unmapped_range(uint64_t npages)
{
	void *p = mmap(NULL, npages * RPG_PAGE, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	munmap(p, npages * RPG_PAGE);
	return p;
}

TEST_F_TIMEOUT(bigpin, pin_every_page_of_the_mapped_region, BIG_TIMEOUT_S)
{
	const uint64_t nr = self->st.nr_pages;
	const size_t len = nr * RPG_PAGE;
	struct rust_pgmap_status st;
	volatile uint8_t *first, *last;
	uint64_t h = 0, t0, t1;
	int ret, sig_first, sig_last;
	uint8_t *a;

	a = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, self->fd, 0);
	ASSERT_NE(MAP_FAILED, a) TH_LOG("mmap of %llu pages: %s", (unsigned long long)nr,
					 strerror(errno));

	t0 = rpg_now_ns();
	ret = rpg_pin(self->fd, a, nr, RUST_PGMAP_PIN_WRITE, &h);
	t1 = rpg_now_ns();
	ASSERT_EQ(0, ret) TH_LOG("PIN of %llu pages: %s", (unsigned long long)nr, strerror(-ret));
	ksft_print_msg("PIN of %llu pages (%llu MiB) took %.1f ms\n", (unsigned long long)nr,
		       (unsigned long long)(len >> 20), (t1 - t0) / 1e6);

	ASSERT_EQ(0, rpg_status(self->fd, &st));
	EXPECT_EQ(nr, st.pinned);
	EXPECT_EQ(nr, st.outstanding);

	/* The pinned pages are still mapped and writable, at both ends of the region. */
	first = a;
	last = a + len - RPG_PAGE;
	sig_first = rpg_touch(first, true);
	sig_last = rpg_touch(last, true);
	EXPECT_EQ(0, sig_first);
	EXPECT_EQ(0, sig_last);
	if (!sig_first && !sig_last) {
		first[0] = 0x5a;
		last[RPG_PAGE - 1] = 0xa5;
		EXPECT_EQ(0x5a, first[0]);
		EXPECT_EQ(0xa5, last[RPG_PAGE - 1]);
	}

	EXPECT_EQ(0, rpg_unpin(self->fd, h));
	ASSERT_EQ(0, rpg_status(self->fd, &st));
	EXPECT_EQ(0, st.pinned);

	ASSERT_EQ(0, munmap(a, len));
	ASSERT_EQ(0, rpg_status(self->fd, &st));
	EXPECT_EQ(0, st.outstanding) TH_LOG("unpin and munmap left folios requested");
}

TEST_F(bigpin, pin_every_page_of_an_unmapped_range_is_efault)
{
	const uint64_t nr = self->st.nr_pages;
	struct rust_pgmap_status st;
	uint64_t h = 0;
	void *hole;
	int ret;

	hole = unmapped_range(nr);
	ASSERT_NE(NULL, hole);
	/* The gup gets no page at all: the array for them must not be the failure. */
	ret = rpg_pin(self->fd, hole, nr, RUST_PGMAP_PIN_WRITE, &h);
	EXPECT_EQ(-EFAULT, ret) TH_LOG("PIN of %llu unmapped pages: %s", (unsigned long long)nr,
				       ret ? strerror(-ret) : "success");
	if (!ret)
		rpg_unpin(self->fd, h);
	ASSERT_EQ(0, rpg_status(self->fd, &st));
	EXPECT_EQ(self->st.pinned, st.pinned);
	EXPECT_EQ(0, st.outstanding);
}

TEST_F(bigpin, pin_more_pages_than_the_region_is_erange)
{
	const uint64_t n = self->st.nr_pages + 1;
	struct rust_pgmap_status st;
	uint64_t h = 0;
	void *area;
	int ret;

	/* Mapped but inaccessible: a PIN that got past the range check would fail, not pin RAM. */
	area = mmap(NULL, n * RPG_PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		    -1, 0);
	ASSERT_NE(MAP_FAILED, area);
	ret = rpg_pin(self->fd, area, n, RUST_PGMAP_PIN_WRITE, &h);
	EXPECT_EQ(-ERANGE, ret) TH_LOG("PIN of %llu pages: %s", (unsigned long long)n,
				       ret ? strerror(-ret) : "success");
	if (!ret)
		rpg_unpin(self->fd, h);
	EXPECT_EQ(0, munmap(area, n * RPG_PAGE));
	ASSERT_EQ(0, rpg_status(self->fd, &st));
	EXPECT_EQ(self->st.pinned, st.pinned);
	EXPECT_EQ(0, st.outstanding);
}

TEST_HARNESS_MAIN
