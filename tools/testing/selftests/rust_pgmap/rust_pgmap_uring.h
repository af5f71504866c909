/* SPDX-License-Identifier: GPL-2.0 */
/* io_uring for the selftests, through the raw syscalls: O_DIRECT I/O that completes in IRQ. */
#ifndef RUST_PGMAP_URING_H
#define RUST_PGMAP_URING_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <linux/io_uring.h>

/* A one-entry io_uring through the raw syscalls. */
struct uring {
	int fd;
	struct io_uring_params p;
	char *sq, *cq;
	struct io_uring_sqe *sqes;
	size_t sq_len, cq_len, sqes_len;
};

static inline void uring_exit(struct uring *u)
{
	if (u->sq != MAP_FAILED)
		munmap(u->sq, u->sq_len);
	if (u->cq != MAP_FAILED)
		munmap(u->cq, u->cq_len);
	if ((void *)u->sqes != MAP_FAILED)
		munmap(u->sqes, u->sqes_len);
	close(u->fd);
}

static inline int uring_init(struct uring *u)
{
	int err;

	memset(u, 0, sizeof(*u));
	u->fd = syscall(__NR_io_uring_setup, 4, &u->p);
	if (u->fd < 0)
		return -errno;
	u->sq_len = u->p.sq_off.array + u->p.sq_entries * sizeof(__u32);
	u->cq_len = u->p.cq_off.cqes + u->p.cq_entries * sizeof(struct io_uring_cqe);
	u->sqes_len = u->p.sq_entries * sizeof(struct io_uring_sqe);
	u->sq = mmap(NULL, u->sq_len, PROT_READ | PROT_WRITE, MAP_SHARED, u->fd,
		     IORING_OFF_SQ_RING);
	u->cq = mmap(NULL, u->cq_len, PROT_READ | PROT_WRITE, MAP_SHARED, u->fd,
		     IORING_OFF_CQ_RING);
	u->sqes = mmap(NULL, u->sqes_len, PROT_READ | PROT_WRITE, MAP_SHARED, u->fd,
		       IORING_OFF_SQES);
	if (u->sq == MAP_FAILED || u->cq == MAP_FAILED || (void *)u->sqes == MAP_FAILED) {
		err = -errno;
		uring_exit(u);
		return err;
	}
	return 0;
}

/*
 * Queues one read or write and submits it without waiting for it; a *_FIXED op reads or writes
 * registered buffer buf_index.
 */
static inline int uring_submit_op(struct uring *u, uint8_t op, int fd, void *buf, uint32_t len,
				  uint64_t off, uint16_t buf_index)
{
	unsigned int *tail = (unsigned int *)(u->sq + u->p.sq_off.tail);
	unsigned int *array = (unsigned int *)(u->sq + u->p.sq_off.array);
	unsigned int mask = *(unsigned int *)(u->sq + u->p.sq_off.ring_mask);
	unsigned int t = *tail, idx = t & mask;
	struct io_uring_sqe *sqe = &u->sqes[idx];
	long ret;

	memset(sqe, 0, sizeof(*sqe));
	sqe->opcode = op;
	sqe->fd = fd;
	sqe->addr = (uintptr_t)buf;
	sqe->len = len;
	sqe->off = off;
	sqe->buf_index = buf_index;
	array[idx] = idx;
	__atomic_store_n(tail, t + 1, __ATOMIC_RELEASE);
	ret = syscall(__NR_io_uring_enter, u->fd, 1, 0, 0, NULL, 0);
	if (ret < 0)
		return -errno;
	return ret == 1 ? 0 : -EIO;
}

static inline int uring_submit(struct uring *u, uint8_t op, int fd, void *buf, uint32_t len,
			       uint64_t off)
{
	return uring_submit_op(u, op, fd, buf, len, off, 0);
}

/* Registers one buffer (a FOLL_LONGTERM pin of its pages), as buffer 0. */
static inline int uring_register_buffer(struct uring *u, void *buf, size_t len)
{
	struct iovec iov = { .iov_base = buf, .iov_len = len };

	return syscall(__NR_io_uring_register, u->fd, IORING_REGISTER_BUFFERS, &iov, 1) ? -errno
										       : 0;
}

/* Unpins the registered buffers. */
static inline int uring_unregister_buffers(struct uring *u)
{
	return syscall(__NR_io_uring_register, u->fd, IORING_UNREGISTER_BUFFERS, NULL, 0) ? -errno
										      : 0;
}

/* Whether a completion is waiting to be reaped. */
static inline bool uring_completed(struct uring *u)
{
	unsigned int *head = (unsigned int *)(u->cq + u->p.cq_off.head);
	unsigned int *tail = (unsigned int *)(u->cq + u->p.cq_off.tail);

	return *head != __atomic_load_n(tail, __ATOMIC_ACQUIRE);
}

/* Waits for one completion and returns its result in *res. */
static inline int uring_wait(struct uring *u, int *res)
{
	unsigned int *head = (unsigned int *)(u->cq + u->p.cq_off.head);
	unsigned int *tail = (unsigned int *)(u->cq + u->p.cq_off.tail);
	unsigned int mask = *(unsigned int *)(u->cq + u->p.cq_off.ring_mask);
	struct io_uring_cqe *cqes = (struct io_uring_cqe *)(u->cq + u->p.cq_off.cqes);
	unsigned int h = *head;

	while (h == __atomic_load_n(tail, __ATOMIC_ACQUIRE)) {
		long ret = syscall(__NR_io_uring_enter, u->fd, 0, 1, IORING_ENTER_GETEVENTS,
				   NULL, 0);

		if (ret < 0 && errno != EINTR)
			return -errno;
	}
	*res = cqes[h & mask].res;
	__atomic_store_n(head, h + 1, __ATOMIC_RELEASE);
	return 0;
}

#endif /* RUST_PGMAP_URING_H */
