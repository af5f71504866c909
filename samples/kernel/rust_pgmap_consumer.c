// SPDX-License-Identifier: GPL-2.0
/*
 * A driver that uses the rust_pgmap API: at load it holds nr folios from offset, and a kthread
 * "DMAs" into them, writing a pattern through the kernel mapping every 20 ms. When a teardown
 * revokes the hold, the writer stops and the folios are released from a hard-IRQ timer, as a DMA
 * completion would release them. With ignore_revoke=1 the module does not cooperate: the
 * teardown then waits until the module is unloaded.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/delay.h>
#include <linux/hrtimer.h>
#include <linux/kthread.h>
#include <linux/module.h>
#include <linux/rust_pgmap.h>

static unsigned long nr = 64;
module_param(nr, ulong, 0444);
MODULE_PARM_DESC(nr, "folios to hold (default 64)");

static unsigned long offset = 1024;
module_param(offset, ulong, 0444);
MODULE_PARM_DESC(offset, "first folio, in pages from the start of the region (default 1024)");

static bool ignore_revoke;
module_param(ignore_revoke, bool, 0444);
MODULE_PARM_DESC(ignore_revoke, "do not give the folios back when asked (default no)");

static struct rust_pgmap_dev *dev;
/* Set once the request returned; the revoke gets the hold as its argument instead. */
static struct rust_pgmap_hold *hold;
/* The hold that the timer releases: the one the revoke got. */
static struct rust_pgmap_hold *timer_hold;
/* Whichever of the timer and the module exit comes first releases the hold. */
static atomic_t released;
static struct task_struct *writer;
static struct hrtimer release_timer;

/* What the "device" writes: the selftests check it after a re-attach. */
static u8 pattern(unsigned long page, size_t byte)
{
	return (u8)(page * 13 + byte * 3 + 0x5a);
}

static int write_folios(void *data)
{
	struct rust_pgmap_hold *h = data;
	unsigned long rounds = 0;

	while (!kthread_should_stop()) {
		for (unsigned long i = 0; i < rust_pgmap_hold_nr(h); i++) {
			u8 *p = rust_pgmap_hold_kaddr(h, i);

			for (size_t b = 0; b < PAGE_SIZE; b++)
				p[b] = pattern(offset + i, b);
		}
		rounds++;
		msleep_interruptible(20);
	}
	pr_info("writer stopped after %lu rounds\n", rounds);
	return 0;
}

static void release_hold(struct rust_pgmap_hold *h)
{
	/* No data to free: what the release says about a running revoke does not matter here. */
	if (!atomic_xchg(&released, 1))
		rust_pgmap_release_folios(h);
}

static enum hrtimer_restart release_in_irq(struct hrtimer *timer)
{
	release_hold(READ_ONCE(timer_hold));
	return HRTIMER_NORESTART;
}

static void stop_writer(void)
{
	struct task_struct *w = xchg(&writer, NULL);

	if (w)
		kthread_stop(w);
}

static void consumer_revoke(struct rust_pgmap_hold *h, void *data)
{
	if (ignore_revoke) {
		pr_info("revoke: ignored; the teardown waits until this module is unloaded\n");
		return;
	}
	pr_info("revoke: stopping the writer, releasing %lu folios from a timer interrupt\n",
		rust_pgmap_hold_nr(h));
	stop_writer();
	WRITE_ONCE(timer_hold, h);
	hrtimer_start(&release_timer, 0, HRTIMER_MODE_REL_HARD);
}

static const struct rust_pgmap_hold_ops consumer_ops = {
	.revoke = consumer_revoke,
};

static int __init consumer_init(void)
{
	struct rust_pgmap_hold *h;
	struct task_struct *w;

	hrtimer_init(&release_timer, CLOCK_MONOTONIC, HRTIMER_MODE_REL_HARD);
	release_timer.function = release_in_irq;
	dev = rust_pgmap_dev_get();
	if (IS_ERR(dev))
		return PTR_ERR(dev);
	h = rust_pgmap_request_folios(dev, offset, nr, &consumer_ops, NULL);
	if (IS_ERR(h)) {
		pr_info("request of %lu folios at %lu: %pe\n", nr, offset, h);
		rust_pgmap_dev_put(dev);
		return PTR_ERR(h);
	}
	/* A request from module init is revoked only once the init returned: writer is set. */
	hold = h;
	w = kthread_run(write_folios, h, "rust_pgmap_consumer");
	if (IS_ERR(w)) {
		/* No revoke can have come: the init has not returned. */
		release_hold(h);
		rust_pgmap_dev_put(dev);
		return PTR_ERR(w);
	}
	writer = w;
	pr_info("holding %lu folios at %lu, writing them every 20 ms\n", nr, offset);
	return 0;
}

static void __exit consumer_exit(void)
{
	stop_writer();
	hrtimer_cancel(&release_timer);
	release_hold(hold);
	rust_pgmap_dev_put(dev);
	pr_info("unloaded\n");
}

module_init(consumer_init);
module_exit(consumer_exit);
MODULE_DESCRIPTION("A sample driver holding rust_pgmap folios, and giving them back on revoke");
MODULE_LICENSE("GPL");
