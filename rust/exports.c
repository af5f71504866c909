// SPDX-License-Identifier: GPL-2.0
/*
 * The API of include/linux/rust_pgmap.h, implemented in Rust (rust/api.rs) and exported here:
 * EXPORT_SYMBOL_GPL is C-only.
 */
#include <linux/export.h>
#include <linux/rust_pgmap.h>

EXPORT_SYMBOL_GPL(rust_pgmap_dev_get);
EXPORT_SYMBOL_GPL(rust_pgmap_dev_put);
EXPORT_SYMBOL_GPL(__rust_pgmap_request_folios);
EXPORT_SYMBOL_GPL(rust_pgmap_hold_nr);
EXPORT_SYMBOL_GPL(rust_pgmap_hold_page);
EXPORT_SYMBOL_GPL(rust_pgmap_hold_kaddr);
EXPORT_SYMBOL_GPL(rust_pgmap_release_folios);
