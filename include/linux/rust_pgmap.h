/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rust_pgmap: request folios from a ZONE_DEVICE pgmap whose busy pages prove it alive, with
 * holds that a teardown can revoke.
 *
 * A held folio keeps the pgmap from being unmapped until its free path runs: with refmode=folio
 * through a pgmap reference of its own, with refmode=scan through the teardown's sweep. A
 * teardown of the pgmap blocks new requests, asks every holder to give its folios back
 * (&rust_pgmap_hold_ops.revoke), zaps user mappings, waits until every requested folio has been
 * freed, and only then calls memunmap_pages(). See Documentation/api.rst.
 */
#ifndef _LINUX_RUST_PGMAP_H
#define _LINUX_RUST_PGMAP_H

#include <linux/err.h>
#include <linux/module.h>
#include <linux/types.h>

struct page;
struct rust_pgmap_dev;
struct rust_pgmap_hold;

/**
 * struct rust_pgmap_hold_ops - what a teardown asks of a holder
 * @revoke: called at most once, in task context, when a teardown of the pgmap starts, asking
 *	the holder to stop using the folios (stop DMA, unmap them from its own tables) and then
 *	call rust_pgmap_release_folios(), from within @revoke or soon after, from any context.
 *	Until it does, the teardown waits. Never called before rust_pgmap_request_folios() has
 *	done its work and is returning the hold (use the @hold it is given: the caller may not
 *	have stored the handle yet, as on PREEMPT_RT the revoke can preempt the return), never
 *	once rust_pgmap_release_folios() has been called, and never while the
 *	owner's module_init() runs. May sleep. Must not request folios from the same device.
 */
struct rust_pgmap_hold_ops {
	void (*revoke)(struct rust_pgmap_hold *hold, void *data);
};

/**
 * rust_pgmap_dev_get() - take a reference on the rust_pgmap device
 *
 * The reference stays valid across teardown and re-attach of the device's pgmap; requests made
 * through it fail with -ENXIO while the pgmap is dying or dead. It keeps rust_pgmap loaded:
 * a module that leaks it makes rust_pgmap impossible to unload.
 *
 * Context: any, from a module that links against this symbol (so that rust_pgmap cannot
 * exit during the call) or holds a reference on rust_pgmap.
 * Return: the device, or ERR_PTR(-ENODEV) if there is none.
 */
struct rust_pgmap_dev *rust_pgmap_dev_get(void);

/**
 * rust_pgmap_dev_put() - drop a reference taken with rust_pgmap_dev_get()
 * @dev: the device
 *
 * Context: any.
 */
void rust_pgmap_dev_put(struct rust_pgmap_dev *dev);

struct rust_pgmap_hold *__rust_pgmap_request_folios(struct rust_pgmap_dev *dev,
						    unsigned long offset, unsigned long nr,
						    const struct rust_pgmap_hold_ops *ops,
						    void *data, struct module *owner);

/**
 * rust_pgmap_request_folios() - hold consecutive idle folios of the device's pgmap
 * @dev: the device
 * @offset: the first folio, counted in folios from the start of the region (the module
 *	parameter folio_size gives their size: 4K, the default, or 2M)
 * @nr: how many folios
 * @ops: the holder's operations, or NULL: a hold without @ops is simply waited for
 * @data: passed to @ops
 *
 * All or nothing: each folio is handed out, idle before. The calling module is recorded as the
 * hold's owner, which the drain log and /sys/kernel/debug/rust_pgmap/outstanding name while a
 * teardown waits for it. If the owner goes away holding it (a bug), the hold is released then,
 * with one log line, and @ops is never called again.
 *
 * Context: task context; may sleep.
 * Return: the hold, or ERR_PTR(-ENXIO) while the pgmap is dying or dead, ERR_PTR(-EBUSY) if any
 * of the folios is in use (or its free is still in flight), ERR_PTR(-ERANGE) beyond the region,
 * ERR_PTR(-EINVAL) for zero or wrapping ranges, ERR_PTR(-ENOMEM).
 */
#define rust_pgmap_request_folios(dev, offset, nr, ops, data) \
	__rust_pgmap_request_folios(dev, offset, nr, ops, data, THIS_MODULE)

/**
 * rust_pgmap_hold_nr() - how many folios a hold has
 * @hold: the hold
 *
 * Context: any.
 */
unsigned long rust_pgmap_hold_nr(const struct rust_pgmap_hold *hold);

/**
 * rust_pgmap_hold_page() - the first page of a held folio
 * @hold: the hold
 * @i: the folio's index in the hold, below rust_pgmap_hold_nr()
 *
 * Context: any.
 * Return: the folio's head page (folio_size(page_folio()) gives its size), valid until the hold
 * is released; NULL if @i is out of range.
 */
struct page *rust_pgmap_hold_page(const struct rust_pgmap_hold *hold, unsigned long i);

/**
 * rust_pgmap_hold_kaddr() - the kernel virtual address of a held folio
 * @hold: the hold
 * @i: the folio's index in the hold, below rust_pgmap_hold_nr()
 *
 * The pgmap's memory is in the kernel's direct map, so this is folio_address(): the whole
 * folio, all folio_size() bytes of it, is contiguous from there.
 *
 * Context: any.
 * Return: the address, valid until the hold is released; NULL if @i is out of range.
 */
void *rust_pgmap_hold_kaddr(const struct rust_pgmap_hold *hold, unsigned long i);

/**
 * rust_pgmap_release_folios() - give a hold's folios back
 * @hold: the hold, which must not be used afterwards
 *
 * Puts one reference on each folio; the last put frees it back to the pgmap. Takes no lock and
 * frees no memory.
 *
 * Context: any context a put_page() may be called from, hard interrupt included.
 * Return: false if @ops->revoke was not called for this hold, and now never will be: @data may
 * go. True if a teardown began to revoke the hold before: its @ops->revoke may not have
 * returned yet (when this is called from it, it has not), and @data must stay until it has.
 */
bool rust_pgmap_release_folios(struct rust_pgmap_hold *hold);

#endif /* _LINUX_RUST_PGMAP_H */
