// SPDX-License-Identifier: GPL-2.0
/*
 * C side of rust_pgmap. Only wrappers of static inlines and the sysfs
 * attribute live here; the logic is in the Rust crate.
 */

#include <linux/completion.h>
#include <linux/debugfs.h>
#include <linux/device.h>
#include <linux/err.h>
#include <linux/fs.h>
#include <linux/hardirq.h>
#include <linux/highmem.h>
#include <linux/hrtimer.h>
#include <linux/huge_mm.h>
#include <linux/irq_work.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/mount.h>
#include <linux/pagemap.h>
#include <linux/pseudo_fs.h>
#include <linux/ratelimit.h>
#include <linux/seq_file.h>
#include <linux/sysfs.h>

#include "helpers.h"

static ssize_t status_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct miscdevice *misc = dev_get_drvdata(dev);
	struct rust_pgmap_misc *m = container_of(misc, struct rust_pgmap_misc, misc);

	return m->show_status(m, buf);
}
static DEVICE_ATTR_RO(status);

static struct attribute *rust_pgmap_attrs[] = {
	&dev_attr_status.attr,
	NULL,
};
ATTRIBUTE_GROUPS(rust_pgmap);

int rust_pgmap_misc_register(struct rust_pgmap_misc *m)
{
	if (m->show_status)
		m->misc.groups = rust_pgmap_groups;
	return misc_register(&m->misc);
}

struct page *rust_pgmap_pfn_to_page(unsigned long pfn)
{
	return pfn_to_page(pfn);
}

unsigned long rust_pgmap_page_to_pfn(struct page *page)
{
	return page_to_pfn(page);
}

struct dev_pagemap *rust_pgmap_page_pgmap(struct page *page)
{
	return page->pgmap;
}

int rust_pgmap_page_count(struct page *page)
{
	return page_ref_count(page);
}

bool rust_pgmap_get_page_unless_zero(struct page *page)
{
	return get_page_unless_zero(page);
}

void rust_pgmap_cond_resched(void)
{
	cond_resched();
}

void rust_pgmap_page_ref_inc(struct page *page)
{
	page_ref_inc(page);
}

void rust_pgmap_put_page(struct page *page)
{
	put_page(page);
}

void rust_pgmap_pgmap_ref_get_many(struct dev_pagemap *pgmap, unsigned long nr)
{
	percpu_ref_get_many(&pgmap->ref, nr);
}

void rust_pgmap_pgmap_ref_put(struct dev_pagemap *pgmap)
{
	percpu_ref_put(&pgmap->ref);
}

/*
 * Names the file page of a just-requested folio, as dax_set_mapping() does for device-dax: the
 * lockless gup-fast walk reads folio->mapping, and falls back to the slow path when it is NULL.
 * free_zone_device_folio() clears it again before page_free.
 */
void rust_pgmap_folio_set_file_mapping(struct page *page, struct address_space *mapping,
				       pgoff_t index)
{
	struct folio *folio = page_folio(page);

	folio->mapping = mapping;
	folio->index = index;
}

void rust_pgmap_init_completion(struct completion *done)
{
	init_completion(done);
}

bool rust_pgmap_in_task(void)
{
	return in_task();
}

bool rust_pgmap_in_hardirq(void)
{
	return in_hardirq();
}

void rust_pgmap_init_irq_work(struct irq_work *work, void (*func)(struct irq_work *))
{
	init_irq_work(work, func);
}

void rust_pgmap_vm_flags_set(struct vm_area_struct *vma, vm_flags_t flags)
{
	vm_flags_set(vma, flags);
}

void rust_pgmap_vm_flags_clear(struct vm_area_struct *vma, vm_flags_t flags)
{
	vm_flags_clear(vma, flags);
}

void rust_pgmap_file_set_mapping(struct file *file, struct address_space *mapping)
{
	file->f_mapping = mapping;
}

/*
 * A private pseudo filesystem for the anonymous inode whose address_space every open file of
 * the device maps through. It has no owner: a mount that held a reference on this module
 * would keep it from ever being unloaded. Instead the mount is a kernel-internal one
 * (kern_mount(), as drivers/dax/super.c does), which kern_unmount() tears down synchronously,
 * before the module and this struct go away.
 */
#define RUST_PGMAP_FS_MAGIC 0x72706d61 /* "rpma" */

static int rust_pgmap_fs_init_fs_context(struct fs_context *fc)
{
	return init_pseudo(fc, RUST_PGMAP_FS_MAGIC) ? 0 : -ENOMEM;
}

static struct file_system_type rust_pgmap_fs_type = {
	.name = "rust_pgmap",
	.init_fs_context = rust_pgmap_fs_init_fs_context,
	.kill_sb = kill_anon_super,
};

struct inode *rust_pgmap_anon_inode_new(struct vfsmount **mnt)
{
	struct inode *inode;

	*mnt = kern_mount(&rust_pgmap_fs_type);
	if (IS_ERR(*mnt))
		return ERR_CAST(*mnt);
	inode = alloc_anon_inode((*mnt)->mnt_sb);
	if (IS_ERR(inode))
		kern_unmount(*mnt);
	return inode;
}

void rust_pgmap_anon_inode_free(struct vfsmount *mnt, struct inode *inode)
{
	iput(inode);
	kern_unmount(mnt);
}

struct address_space *rust_pgmap_inode_mapping(struct inode *inode)
{
	return inode->i_mapping;
}

/*
 * A tail page's pgmap word is its compound_head: the pgmap of a large folio is read from its
 * head.
 */
struct dev_pagemap *rust_pgmap_page_zone_device_pgmap(struct page *page)
{
	return is_zone_device_page(page) ? page_folio(page)->page.pgmap : NULL;
}

bool rust_pgmap_page_maybe_dma_pinned(struct page *page)
{
	return folio_maybe_dma_pinned(page_folio(page));
}

int rust_pgmap_page_mapcount(struct page *page)
{
	return folio_mapcount(page_folio(page));
}

void rust_pgmap_rcu_read_lock(void)
{
	rcu_read_lock();
}

void rust_pgmap_rcu_read_unlock(void)
{
	rcu_read_unlock();
}

const char *rust_pgmap_module_name(struct module *mod)
{
	return module_name(mod);
}

void *rust_pgmap_page_address(struct page *page)
{
	return page_address(page);
}

void rust_pgmap_memcpy_to_page(struct page *page, size_t offset, const void *from, size_t len)
{
	memcpy_to_page(page, offset, from, len);
}

/*
 * debugfs: one seq_file whose text the Rust side writes, and which takes a short command when
 * the Rust side has a store callback.
 */
static int rust_pgmap_debugfs_show(struct seq_file *seq, void *v)
{
	struct rust_pgmap_debugfs *d = seq->private;

	return d->show(seq, d->data);
}

static int rust_pgmap_debugfs_open(struct inode *inode, struct file *file)
{
	return single_open(file, rust_pgmap_debugfs_show, inode->i_private);
}

static ssize_t rust_pgmap_debugfs_write(struct file *file, const char __user *ubuf, size_t len,
					loff_t *ppos)
{
	struct rust_pgmap_debugfs *d = ((struct seq_file *)file->private_data)->private;
	char input[64];
	int ret;

	if (!d->store)
		return -EPERM;
	if (len >= sizeof(input))
		return -EINVAL;
	if (copy_from_user(input, ubuf, len))
		return -EFAULT;
	input[len] = 0;
	ret = d->store(d->data, input, len);
	return ret ? ret : len;
}

static const struct file_operations rust_pgmap_debugfs_fops = {
	.owner = THIS_MODULE,
	.open = rust_pgmap_debugfs_open,
	.read = seq_read,
	.llseek = seq_lseek,
	.release = single_release,
	.write = rust_pgmap_debugfs_write,
};

struct dentry *rust_pgmap_debugfs_create_dir(const char *name)
{
	return debugfs_create_dir(name, NULL);
}

void rust_pgmap_debugfs_create_file(struct rust_pgmap_debugfs *d, struct dentry *dir,
				    const char *name)
{
	d->file = debugfs_create_file(name, d->store ? 0600 : 0400, dir, d,
				      &rust_pgmap_debugfs_fops);
}

/* Waits for readers and writers that are inside show() or store(). */
void rust_pgmap_debugfs_remove(struct dentry *dentry)
{
	debugfs_remove(dentry);
}

int rust_pgmap_seq_write(struct seq_file *seq, const char *s, size_t len)
{
	return seq_write(seq, s, len);
}

/*
 * Calls fn(data) from an hrtimer in HRTIMER_MODE_HARD, which expires in hard interrupt context
 * also on PREEMPT_RT (lockdep checks it as such), and waits for it.
 */
struct rust_pgmap_hardirq_call {
	struct hrtimer timer;
	struct completion done;
	void (*fn)(void *data);
	void *data;
};

static enum hrtimer_restart rust_pgmap_hardirq_call_fn(struct hrtimer *timer)
{
	struct rust_pgmap_hardirq_call *call =
		container_of(timer, struct rust_pgmap_hardirq_call, timer);

	call->fn(call->data);
	complete(&call->done);
	return HRTIMER_NORESTART;
}

void rust_pgmap_call_in_hardirq(void (*fn)(void *data), void *data)
{
	struct rust_pgmap_hardirq_call call = { .fn = fn, .data = data };

	init_completion(&call.done);
	hrtimer_init_on_stack(&call.timer, CLOCK_MONOTONIC, HRTIMER_MODE_REL_HARD);
	call.timer.function = rust_pgmap_hardirq_call_fn;
	hrtimer_start(&call.timer, 0, HRTIMER_MODE_REL_HARD);
	wait_for_completion(&call.done);
	/* The callback may still be returning: wait until the timer is idle. */
	hrtimer_cancel(&call.timer);
	destroy_hrtimer_on_stack(&call.timer);
}

/* Which "Persistent Memory (legacy)" region to claim, in address order. */
static unsigned int region;
module_param(region, uint, 0444);
MODULE_PARM_DESC(region, "index of the memmap=<size>!<start> region to claim (default 0)");

/* The size of the pgmap's folios: see FolioSize in compat/dev_pagemap.rs. */
static char *folio_size_param = "4K";
module_param_named(folio_size, folio_size_param, charp, 0444);
MODULE_PARM_DESC(folio_size, "4K (the default) or 2M: folios of 2 MiB, mapped by PMD");

const char *rust_pgmap_folio_size_param(void)
{
	return folio_size_param;
}

unsigned int rust_pgmap_region_param(void)
{
	return region;
}

/* How busy pages keep the pgmap alive: see enum RefMode in pgmap.rs. */
static char *refmode = "folio";
module_param(refmode, charp, 0444);
MODULE_PARM_DESC(refmode, "folio (a pgmap reference per requested folio, the default) or scan "
		 "(no per-folio reference; teardown sweeps until every page is idle)");

const char *rust_pgmap_refmode_param(void)
{
	return refmode;
}

bool rust_pgmap_log_ratelimit(void)
{
	static DEFINE_RATELIMIT_STATE(rs, DEFAULT_RATELIMIT_INTERVAL, DEFAULT_RATELIMIT_BURST);

	return __ratelimit(&rs);
}

/* Pins @mod if it is live: 1; -EAGAIN while its init runs; 0 once it is going. Under RCU. */
int rust_pgmap_module_try_get_live(struct module *mod)
{
	switch (READ_ONCE(mod->state)) {
	case MODULE_STATE_LIVE:
		return try_module_get(mod) ? 1 : 0;
	case MODULE_STATE_COMING:
		return -EAGAIN;
	default:
		return 0;
	}
}

void rust_pgmap_inode_set_size(struct inode *inode, loff_t size)
{
	inode_lock(inode);
	i_size_write(inode, size);
	inode_unlock(inode);
}

/*
 * Whether finish_fault() will map the folio of this fault by PMD: do_set_pmd() maps it if THP
 * is not disabled for the VMA, the PMD range is inside the VMA and aligned with the file
 * offset, and no page table sits where the PMD goes (a concurrent fault that installed the PMD
 * first is fine: finish_fault() then returns VM_FAULT_NOPAGE). Its other conditions (a folio of
 * PMD order, not poisoned, inside i_size) are the caller's. The answer holds until the fault
 * returns if it runs under the mmap lock, which prctl(PR_SET_THP_DISABLE) and madvise() take
 * for writing.
 */
bool rust_pgmap_fault_maps_pmd(struct vm_fault *vmf)
{
#ifdef CONFIG_TRANSPARENT_HUGEPAGE
	struct vm_area_struct *vma = vmf->vma;
	pmd_t pmd = pmdp_get_lockless(vmf->pmd);

	/* thp_disabled_by_hw() reads a flag word that modules cannot: its cause instead. */
	if (!has_transparent_hugepage() || vma_thp_disabled(vma, vma->vm_flags))
		return false;
	if (!thp_vma_suitable_order(vma, vmf->address & HPAGE_PMD_MASK, PMD_ORDER))
		return false;
	return pmd_none(pmd) || pmd_trans_huge(pmd);
#else
	return false;
#endif
}

bool rust_pgmap_fault_holds_mmap_lock(struct vm_fault *vmf)
{
	return !(vmf->flags & FAULT_FLAG_VMA_LOCK);
}

/*
 * Ends a fault that holds the per-VMA lock alone, for the core to run it again under the mmap
 * lock: what vmf_can_call_fault() does for a VMA without ->map_pages. The core expects the VMA
 * lock released with VM_FAULT_RETRY. A fault that holds the mmap lock has no such retry:
 * VM_FAULT_SIGBUS.
 */
vm_fault_t rust_pgmap_fault_retry_under_mmap_lock(struct vm_fault *vmf)
{
	if (rust_pgmap_fault_holds_mmap_lock(vmf))
		return VM_FAULT_SIGBUS;
	vma_end_read(vmf->vma);
	return VM_FAULT_RETRY;
}

static void rust_pgmap_ipi_nothing(void *unused)
{
}

/*
 * Returns once every gup-fast walk that began before the call is over. They run with
 * interrupts disabled, so a synchronous IPI to every other CPU waits for them, as
 * tlb_remove_table_sync_one() does ("sufficient for software page-table walkers that rely on
 * IRQ disabling"), which mm does not export. Task context, no locks held.
 */
void rust_pgmap_wait_for_gup_fast(void)
{
	smp_call_function(rust_pgmap_ipi_nothing, NULL, 1);
}

/* do_set_pmd() maps nothing without THP, which 6.12 does not offer with PREEMPT_RT. */
bool rust_pgmap_has_pmd_mappings(void)
{
	return IS_ENABLED(CONFIG_TRANSPARENT_HUGEPAGE) && has_transparent_hugepage();
}

void rust_pgmap_fault_set_page(struct vm_fault *vmf, struct page *page)
{
	vmf->page = page;
}

void rust_pgmap_folio_lock(struct page *page)
{
	folio_lock(page_folio(page));
}

void rust_pgmap_folio_unlock(struct page *page)
{
	folio_unlock(page_folio(page));
}
