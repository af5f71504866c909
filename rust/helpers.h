/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C side of rust_pgmap: static inlines the Rust bindings cannot call, and the
 * misc device registration with its sysfs attribute, which is C-only data.
 */
#ifndef RUST_PGMAP_HELPERS_H
#define RUST_PGMAP_HELPERS_H

#include <linux/fs.h>
#include <linux/memremap.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/types.h>

/*
 * A miscdevice whose "status" sysfs attribute is formatted by its owner.
 * misc_register() makes the miscdevice the drvdata of its struct device.
 */
struct rust_pgmap_misc {
	struct miscdevice misc;
	ssize_t (*show_status)(struct rust_pgmap_misc *m, char *buf);
};

int rust_pgmap_misc_register(struct rust_pgmap_misc *m);

struct page *rust_pgmap_pfn_to_page(unsigned long pfn);
unsigned long rust_pgmap_page_to_pfn(struct page *page);
struct dev_pagemap *rust_pgmap_page_pgmap(struct page *page);
int rust_pgmap_page_count(struct page *page);
bool rust_pgmap_get_page_unless_zero(struct page *page);
void rust_pgmap_put_page(struct page *page);
void rust_pgmap_zone_device_folio_init(struct page *page);

void rust_pgmap_init_completion(struct completion *done);
bool rust_pgmap_in_interrupt(void);

void rust_pgmap_vm_flags_set(struct vm_area_struct *vma, vm_flags_t flags);
void rust_pgmap_vm_flags_clear(struct vm_area_struct *vma, vm_flags_t flags);

struct inode *rust_pgmap_file_inode(struct file *file);

/* True when another line of rate-limited diagnostics may be logged. */
bool rust_pgmap_log_ratelimit(void);

#endif /* RUST_PGMAP_HELPERS_H */
