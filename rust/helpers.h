/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C side of rust_pgmap: static inlines the Rust bindings cannot call, and the
 * misc device registration with its sysfs attribute, which is C-only data.
 */
#ifndef RUST_PGMAP_HELPERS_H
#define RUST_PGMAP_HELPERS_H

#include <linux/fs.h>
#include <linux/irq_work.h>
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
void rust_pgmap_page_ref_inc(struct page *page);
void rust_pgmap_cond_resched(void);
void rust_pgmap_put_page(struct page *page);
void rust_pgmap_pgmap_ref_get_many(struct dev_pagemap *pgmap, unsigned long nr);
void rust_pgmap_pgmap_ref_put(struct dev_pagemap *pgmap);
void rust_pgmap_folio_set_file_mapping(struct page *page, struct address_space *mapping,
				       pgoff_t index);

void rust_pgmap_init_completion(struct completion *done);
void rust_pgmap_init_irq_work(struct irq_work *work, void (*func)(struct irq_work *));
bool rust_pgmap_in_task(void);
bool rust_pgmap_in_hardirq(void);

struct dev_pagemap *rust_pgmap_page_zone_device_pgmap(struct page *page);
bool rust_pgmap_page_maybe_dma_pinned(struct page *page);
int rust_pgmap_page_mapcount(struct page *page);
void rust_pgmap_rcu_read_lock(void);
void rust_pgmap_rcu_read_unlock(void);
const char *rust_pgmap_module_name(struct module *mod);
int rust_pgmap_module_try_get_live(struct module *mod);
void *rust_pgmap_page_address(struct page *page);
void rust_pgmap_memcpy_to_page(struct page *page, size_t offset, const void *from, size_t len);

void rust_pgmap_vm_flags_set(struct vm_area_struct *vma, vm_flags_t flags);
void rust_pgmap_vm_flags_clear(struct vm_area_struct *vma, vm_flags_t flags);

/* An anonymous inode on a private kernel-internal mount, and its address_space. */
struct inode *rust_pgmap_anon_inode_new(struct vfsmount **mnt);
void rust_pgmap_anon_inode_free(struct vfsmount *mnt, struct inode *inode);
struct address_space *rust_pgmap_inode_mapping(struct inode *inode);
void rust_pgmap_file_set_mapping(struct file *file, struct address_space *mapping);

/* A debugfs seq_file whose text its owner formats, and which may take a short command. */
struct rust_pgmap_debugfs {
	struct dentry *file;
	int (*show)(struct seq_file *seq, void *data);
	/* NULL for a read-only file; else called with what was written, NUL-terminated. */
	int (*store)(void *data, const char *input, size_t len);
	void *data;
};

struct dentry *rust_pgmap_debugfs_create_dir(const char *name);
void rust_pgmap_debugfs_create_file(struct rust_pgmap_debugfs *d, struct dentry *dir,
				    const char *name);
void rust_pgmap_debugfs_remove(struct dentry *dentry);
int rust_pgmap_seq_write(struct seq_file *seq, const char *s, size_t len);

unsigned int rust_pgmap_region_param(void);
const char *rust_pgmap_folio_size_param(void);
void rust_pgmap_inode_set_size(struct inode *inode, loff_t size);
bool rust_pgmap_fault_maps_pmd(struct vm_fault *vmf);
bool rust_pgmap_fault_holds_mmap_lock(struct vm_fault *vmf);
vm_fault_t rust_pgmap_fault_retry_under_mmap_lock(struct vm_fault *vmf);
bool rust_pgmap_has_pmd_mappings(void);
void rust_pgmap_wait_for_gup_fast(void);
void rust_pgmap_fault_set_page(struct vm_fault *vmf, struct page *page);
void rust_pgmap_folio_lock(struct page *page);
void rust_pgmap_folio_unlock(struct page *page);
const char *rust_pgmap_refmode_param(void);

/* Calls fn(data) in hard interrupt context, as a device's completion interrupt would. */
void rust_pgmap_call_in_hardirq(void (*fn)(void *data), void *data);

/* True when another line of rate-limited diagnostics may be logged. */
bool rust_pgmap_log_ratelimit(void);

#endif /* RUST_PGMAP_HELPERS_H */
