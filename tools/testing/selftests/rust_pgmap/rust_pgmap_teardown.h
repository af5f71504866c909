/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A TEARDOWN in a child process, for tests that act while it waits. Include after
 * rust_pgmap_lib.h.
 */
#ifndef RUST_PGMAP_TEARDOWN_H
#define RUST_PGMAP_TEARDOWN_H

#include <poll.h>

/* A TEARDOWN running in a child process, and what it reported. */
struct td_child {
	pid_t pid;
	int rfd; /* read end of the result pipe */
	int status;
	bool reaped;
	struct rust_pgmap_teardown td;
	uint64_t done_ns; /* when the TEARDOWN returned */
};

/*
 * Starts a TEARDOWN in a child. The child opens the device anew and drops every inherited
 * descriptor, so that pipes and files the test holds, and the pins and requests of its device
 * file, are released when the test closes them or dies.
 */
static inline int td_start(struct td_child *c)
{
	int p[2];

	memset(c, 0, sizeof(*c));
	c->rfd = -1;
	if (pipe(p))
		return -errno;
	c->pid = fork();
	if (c->pid < 0) {
		close(p[0]);
		close(p[1]);
		return -errno;
	}
	if (c->pid == 0) {
		struct rust_pgmap_teardown td = { 0 };
		uint64_t done;
		int fd, ret;

		for (int i = 3; i < 1024; i++)
			if (i != p[1])
				close(i);
		fd = open(RPG_DEV, O_RDWR);
		if (fd < 0)
			_exit(2);
		ret = rpg_teardown(fd, &td);
		done = rpg_now_ns();
		if (write(p[1], &td, sizeof(td)) != sizeof(td) ||
		    write(p[1], &done, sizeof(done)) != sizeof(done))
			_exit(3);
		_exit(ret ? 1 : 0);
	}
	close(p[1]);
	c->rfd = p[0];
	return 0;
}

/* True while the child is still inside TEARDOWN. */
static inline bool td_running(struct td_child *c)
{
	if (!c->reaped && waitpid(c->pid, &c->status, WNOHANG) == c->pid)
		c->reaped = true;
	return !c->reaped;
}

/*
 * Waits for the child and reads its result; 0 if TEARDOWN succeeded. A child still waiting
 * after timeout_ms is killed, which leaves the pgmap dying for the fixture to finish.
 */
static inline int td_finish(struct td_child *c, int timeout_ms)
{
	struct pollfd pfd = { .fd = c->rfd, .events = POLLIN };
	int ret;

	do
		ret = poll(&pfd, 1, timeout_ms);
	while (ret < 0 && errno == EINTR);
	if (ret == 1 && read(c->rfd, &c->td, sizeof(c->td)) == sizeof(c->td) &&
	    read(c->rfd, &c->done_ns, sizeof(c->done_ns)) == sizeof(c->done_ns))
		ret = 0;
	else
		ret = ret ? -EIO : -ETIMEDOUT;
	if (ret && !c->reaped)
		kill(c->pid, SIGKILL);
	if (!c->reaped && waitpid(c->pid, &c->status, 0) == c->pid)
		c->reaped = true;
	close(c->rfd);
	c->rfd = -1;
	if (!ret && !(WIFEXITED(c->status) && WEXITSTATUS(c->status) == 0))
		ret = -EIO;
	return ret;
}

#endif /* RUST_PGMAP_TEARDOWN_H */
