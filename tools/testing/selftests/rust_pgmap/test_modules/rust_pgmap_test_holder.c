// SPDX-License-Identifier: GPL-2.0
/*
 * A test-only holder of rust_pgmap folios through the API of <linux/rust_pgmap.h>, driven from
 * user space through /sys/kernel/debug/rust_pgmap_test_holder/. It follows the revoke contract
 * of Documentation/api.rst to the letter and counts every call that breaks it, so that the
 * selftests can force the orderings of request, revoke, release and unload (with the delay
 * points of /sys/kernel/debug/rust_pgmap/delay) and see what the module did.
 *
 *   ctl (write)    "request OFFSET NR": holds NR folios from OFFSET (one hold at a time);
 *                  "release": releases it and frees its data as the contract allows.
 *   stats (read)   key/value lines: held, revoke_calls, revoke_before_return,
 *                  revoke_after_free, revoke_bad_data.
 *   data (read)    the bytes of the held folios (with revoke=defer or ignore).
 *
 * Parameters: revoke=release|defer|ignore (what a revoke does; default release),
 * revoke_sleep_ms (how long a revoke sleeps first), and, for a request from module init,
 * init_offset, init_nr, init_sleep_ms, init_fail (release and fail the init after the sleep),
 * leak_hold and leak_dev (unload without releasing the hold, or without rust_pgmap_dev_put()).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/completion.h>
#include <linux/debugfs.h>
#include <linux/delay.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/rust_pgmap.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

static char *revoke = "release";
module_param(revoke, charp, 0444);
MODULE_PARM_DESC(revoke, "what a revoke does: release (the folios, from the revoke), defer "
		 "(nothing; user space releases later) or ignore");

static unsigned int revoke_sleep_ms;
module_param(revoke_sleep_ms, uint, 0444);
MODULE_PARM_DESC(revoke_sleep_ms, "sleep this long at the start of a revoke");

static unsigned long init_offset, init_nr;
module_param(init_offset, ulong, 0444);
module_param(init_nr, ulong, 0444);
MODULE_PARM_DESC(init_nr, "request init_nr folios from init_offset in module init (0: none)");

static unsigned int init_sleep_ms;
module_param(init_sleep_ms, uint, 0444);
MODULE_PARM_DESC(init_sleep_ms, "sleep this long in module init after the request");

static bool init_fail;
module_param(init_fail, bool, 0444);
MODULE_PARM_DESC(init_fail, "release the hold and fail the module init after the sleep");

static bool leak_hold, leak_dev;
module_param(leak_hold, bool, 0444);
MODULE_PARM_DESC(leak_hold, "unload without releasing the hold (a driver bug)");
module_param(leak_dev, bool, 0444);
MODULE_PARM_DESC(leak_dev, "unload without rust_pgmap_dev_put() (a driver bug)");

#define HOLDER_MAGIC 0x686f6c6465720a01UL

/* What a hold's revoke gets as its data: set up before the request, freed after the release. */
struct holder {
	unsigned long magic;
	struct rust_pgmap_hold *hold; /* set once the request returned */
	bool returned;
	atomic_t released;
	struct completion revoke_done;
};

static struct rust_pgmap_dev *dev;
/* The current holder; ctl and exit only, under the lock. */
static struct holder *current_holder;
static DEFINE_MUTEX(holder_lock);
static struct dentry *dir;

/* Broken promises, counted outside the holders so that they outlive a freed one. */
static atomic_t revoke_calls, revoke_before_return, revoke_after_free, revoke_bad_data;
/* The data of the last holder freed because its release said no revoke would come. */
static void *freed_without_revoke;

/*
 * Releases the hold once, from whoever comes first: the revoke or user space. Returns whether
 * a revoke may still be running: the release said so, or the revoke itself released.
 */
static bool holder_release(struct holder *h, struct rust_pgmap_hold *hold)
{
	if (atomic_xchg(&h->released, 1))
		return true;
	return rust_pgmap_release_folios(hold);
}

/* Releases if needed, then frees the data once no revoke can use it any more. Task context. */
static void holder_free(struct holder *h)
{
	if (holder_release(h, h->hold))
		wait_for_completion(&h->revoke_done);
	else
		WRITE_ONCE(freed_without_revoke, h);
	h->magic = 0;
	kfree(h);
}

static void holder_revoke(struct rust_pgmap_hold *hold, void *data)
{
	struct holder *h = data;

	atomic_inc(&revoke_calls);
	/* Compares the pointer only: it may be freed memory. */
	if (data == READ_ONCE(freed_without_revoke))
		atomic_inc(&revoke_after_free);
	if (READ_ONCE(h->magic) != HOLDER_MAGIC)
		atomic_inc(&revoke_bad_data);
	/*
	 * The request arms the hold as the last thing before it returns, so a revoke may start
	 * while the requester is still returning to us (on another CPU, or on PREEMPT_RT by
	 * preempting it at the wake-up): give it a moment. A revoke that came while the request
	 * was still at work (it sleeps a second at its delay point in the test) waits in vain.
	 */
	for (int i = 0; i < 100 && !READ_ONCE(h->returned); i++)
		msleep(1);
	if (!READ_ONCE(h->returned))
		atomic_inc(&revoke_before_return);
	pr_info("revoke: %lu folios, %s\n", rust_pgmap_hold_nr(hold), revoke);
	if (revoke_sleep_ms)
		msleep(revoke_sleep_ms);
	if (!strcmp(revoke, "release"))
		holder_release(h, hold);
	complete(&h->revoke_done);
}

static const struct rust_pgmap_hold_ops holder_ops = {
	.revoke = holder_revoke,
};

static struct holder *holder_request(unsigned long offset, unsigned long nr)
{
	struct rust_pgmap_hold *hold;
	struct holder *h;

	h = kzalloc(sizeof(*h), GFP_KERNEL);
	if (!h)
		return ERR_PTR(-ENOMEM);
	h->magic = HOLDER_MAGIC;
	init_completion(&h->revoke_done);
	hold = rust_pgmap_request_folios(dev, offset, nr, &holder_ops, h);
	if (IS_ERR(hold)) {
		kfree(h);
		return ERR_CAST(hold);
	}
	h->hold = hold;
	WRITE_ONCE(h->returned, true);
	return h;
}

static ssize_t ctl_write(struct file *file, const char __user *ubuf, size_t len, loff_t *ppos)
{
	unsigned long offset, nr;
	struct holder *h;
	char buf[64];
	int ret = 0;

	if (len >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, len))
		return -EFAULT;
	buf[len] = 0;

	if (sscanf(buf, "request %lu %lu", &offset, &nr) == 2) {
		/* Not under the lock: a revoke during the request must not wait for us. */
		h = holder_request(offset, nr);
		if (IS_ERR(h))
			return PTR_ERR(h);
		mutex_lock(&holder_lock);
		if (current_holder)
			ret = -EBUSY;
		else
			current_holder = h;
		mutex_unlock(&holder_lock);
		if (ret)
			holder_free(h);
	} else if (sysfs_streq(buf, "release")) {
		mutex_lock(&holder_lock);
		h = current_holder;
		current_holder = NULL;
		mutex_unlock(&holder_lock);
		if (!h)
			return -ENOENT;
		holder_free(h);
	} else {
		return -EINVAL;
	}
	return ret ? ret : len;
}

static const struct file_operations ctl_fops = {
	.owner = THIS_MODULE,
	.write = ctl_write,
};

static int stats_show(struct seq_file *seq, void *v)
{
	unsigned long held = 0;

	mutex_lock(&holder_lock);
	if (current_holder && !atomic_read(&current_holder->released))
		held = rust_pgmap_hold_nr(current_holder->hold);
	mutex_unlock(&holder_lock);
	seq_printf(seq, "held %lu\n", held);
	seq_printf(seq, "revoke_calls %d\n", atomic_read(&revoke_calls));
	seq_printf(seq, "revoke_before_return %d\n", atomic_read(&revoke_before_return));
	seq_printf(seq, "revoke_after_free %d\n", atomic_read(&revoke_after_free));
	seq_printf(seq, "revoke_bad_data %d\n", atomic_read(&revoke_bad_data));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(stats);

/* The held bytes, as the "device" sees them. Only while nothing can release the hold. */
static ssize_t data_read(struct file *file, char __user *ubuf, size_t len, loff_t *ppos)
{
	struct holder *h;
	ssize_t ret = 0;
	unsigned long i;
	size_t chunk, folio_bytes;

	mutex_lock(&holder_lock);
	h = current_holder;
	if (!h || atomic_read(&h->released) || !strcmp(revoke, "release")) {
		ret = -ENODATA;
		goto out;
	}
	/* Every folio of a hold has the size of the first: the module's folio_size. */
	folio_bytes = folio_size(page_folio(rust_pgmap_hold_page(h->hold, 0)));
	while (len) {
		i = *ppos / folio_bytes;
		if (i >= rust_pgmap_hold_nr(h->hold))
			break;
		chunk = min_t(size_t, len, folio_bytes - *ppos % folio_bytes);
		if (copy_to_user(ubuf + ret, rust_pgmap_hold_kaddr(h->hold, i) + *ppos % folio_bytes,
				 chunk)) {
			ret = ret ?: -EFAULT;
			break;
		}
		ret += chunk;
		*ppos += chunk;
		len -= chunk;
	}
out:
	mutex_unlock(&holder_lock);
	return ret;
}

static const struct file_operations data_fops = {
	.owner = THIS_MODULE,
	.read = data_read,
};

static int __init holder_init(void)
{
	struct holder *h;

	if (strcmp(revoke, "release") && strcmp(revoke, "defer") && strcmp(revoke, "ignore")) {
		pr_err("revoke=%s: use release, defer or ignore\n", revoke);
		return -EINVAL;
	}
	dev = rust_pgmap_dev_get();
	if (IS_ERR(dev))
		return PTR_ERR(dev);
	if (init_nr) {
		h = holder_request(init_offset, init_nr);
		if (IS_ERR(h)) {
			rust_pgmap_dev_put(dev);
			return PTR_ERR(h);
		}
		pr_info("init: holding %lu folios at %lu\n", init_nr, init_offset);
		if (init_sleep_ms)
			msleep(init_sleep_ms);
		if (init_fail) {
			pr_info("init: failing as asked\n");
			holder_free(h);
			rust_pgmap_dev_put(dev);
			return -EAGAIN;
		}
		current_holder = h;
	}
	dir = debugfs_create_dir(KBUILD_MODNAME, NULL);
	debugfs_create_file("ctl", 0200, dir, NULL, &ctl_fops);
	debugfs_create_file("stats", 0400, dir, NULL, &stats_fops);
	debugfs_create_file("data", 0400, dir, NULL, &data_fops);
	return 0;
}

static void __exit holder_exit(void)
{
	debugfs_remove(dir);
	/* leak_hold: the data goes, the hold stays: rust_pgmap must never revoke it now. */
	if (current_holder && leak_hold)
		kfree(current_holder);
	else if (current_holder)
		holder_free(current_holder);
	if (!leak_dev)
		rust_pgmap_dev_put(dev);
	pr_info("unloaded%s%s\n", current_holder && leak_hold ? ", leaking its hold" : "",
		leak_dev ? ", leaking its device reference" : "");
}

module_init(holder_init);
module_exit(holder_exit);
MODULE_DESCRIPTION("rust_pgmap selftests: a holder of rust_pgmap folios driven from debugfs");
MODULE_LICENSE("GPL");
