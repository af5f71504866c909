/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Input of bindgen for what the kernel's own bindings lack: the misc device,
 * the helpers and the uapi. Types the kernel's bindings already have are
 * taken from there, so that both agree.
 */
#include "helpers.h"
#include "../include/uapi/linux/rust_pgmap.h"
#include "../include/linux/rust_pgmap.h"

/* bindgen cannot expand function-like macros; these constants can. */
const unsigned int RUST_PGMAP_CONST_IOC_STATUS = RUST_PGMAP_IOC_STATUS;
const unsigned int RUST_PGMAP_CONST_IOC_PIN = RUST_PGMAP_IOC_PIN;
const unsigned int RUST_PGMAP_CONST_IOC_UNPIN = RUST_PGMAP_IOC_UNPIN;
const unsigned int RUST_PGMAP_CONST_IOC_REQUEST = RUST_PGMAP_IOC_REQUEST;
const unsigned int RUST_PGMAP_CONST_IOC_RELEASE = RUST_PGMAP_IOC_RELEASE;
const unsigned int RUST_PGMAP_CONST_IOC_TEARDOWN = RUST_PGMAP_IOC_TEARDOWN;
const unsigned int RUST_PGMAP_CONST_IOC_ATTACH = RUST_PGMAP_IOC_ATTACH;
const unsigned int RUST_PGMAP_CONST_IOC_RELEASE_HARDIRQ = RUST_PGMAP_IOC_RELEASE_HARDIRQ;
const unsigned int RUST_PGMAP_CONST_IOC_GUP_FAST_PROBE = RUST_PGMAP_IOC_GUP_FAST_PROBE;
const int RUST_PGMAP_CONST_MISC_DYNAMIC_MINOR = MISC_DYNAMIC_MINOR;
const unsigned int RUST_PGMAP_CONST_MODULE_NAME_LEN = MODULE_NAME_LEN;
