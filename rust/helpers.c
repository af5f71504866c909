// SPDX-License-Identifier: GPL-2.0
/*
 * C side of rust_pgmap. Only wrappers of static inlines and the sysfs
 * attribute live here; the logic is in the Rust crate.
 */

#include <linux/completion.h>
#include <linux/device.h>
#include <linux/hardirq.h>
#include <linux/pagemap.h>
#include <linux/ratelimit.h>
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

void rust_pgmap_put_page(struct page *page)
{
	put_page(page);
}

/* The 0->1 transition: takes a pgmap reference and hands the page out unlocked. */
void rust_pgmap_zone_device_folio_init(struct page *page)
{
	zone_device_page_init(page);
	unlock_page(page);
}

void rust_pgmap_init_completion(struct completion *done)
{
	init_completion(done);
}

bool rust_pgmap_in_interrupt(void)
{
	return !in_task();
}

void rust_pgmap_vm_flags_set(struct vm_area_struct *vma, vm_flags_t flags)
{
	vm_flags_set(vma, flags);
}

void rust_pgmap_vm_flags_clear(struct vm_area_struct *vma, vm_flags_t flags)
{
	vm_flags_clear(vma, flags);
}

struct inode *rust_pgmap_file_inode(struct file *file)
{
	return file_inode(file);
}

bool rust_pgmap_log_ratelimit(void)
{
	static DEFINE_RATELIMIT_STATE(rs, DEFAULT_RATELIMIT_INTERVAL, DEFAULT_RATELIMIT_BURST);

	return __ratelimit(&rs);
}
