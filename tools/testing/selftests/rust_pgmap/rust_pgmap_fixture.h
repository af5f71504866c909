/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The fixture of every device test: the device open, its pgmap live and nothing outstanding
 * at setup, and the pgmap live again at teardown whatever the test did to it.
 * Include after kselftest_harness.h.
 */
#ifndef RUST_PGMAP_FIXTURE_H
#define RUST_PGMAP_FIXTURE_H

#define RPG_FIXTURE(name)						\
	FIXTURE(name)							\
	{								\
		int fd;							\
		struct rust_pgmap_status st; /* at setup */		\
	};								\
	FIXTURE_TEARDOWN(name)						\
	{								\
		if (self->fd >= 0) {					\
			EXPECT_EQ(0, rpg_make_live(self->fd));		\
			close(self->fd);				\
		}							\
	}

/* The first statement of FIXTURE_SETUP. */
#define RPG_FIXTURE_OPEN()						\
	do {								\
		self->fd = open(RPG_DEV, O_RDWR);			\
		if (self->fd < 0)					\
			SKIP(return, RPG_DEV ": %s (module not loaded?)", \
			     strerror(errno));				\
		ASSERT_EQ(0, rpg_make_live(self->fd));			\
		ASSERT_EQ(0, rpg_status(self->fd, &self->st));		\
		ASSERT_EQ(0, self->st.outstanding)			\
			TH_LOG("a previous test leaked folios");	\
	} while (0)

#endif /* RUST_PGMAP_FIXTURE_H */
