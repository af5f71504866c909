// SPDX-License-Identifier: GPL-2.0

//! Abstractions that 6.12's `kernel` crate lacks. Each file's doc names its upstream counterpart
//! and the version that has it, or says that there is none, so that a rebase knows what to
//! delete.

pub mod arc_stack;
pub mod completion;
pub mod debugfs;
pub mod delay;
pub mod dev_pagemap;
pub mod drop_once;
pub mod hardirq;
pub mod miscdevice;
pub mod mm;
pub mod module;
pub mod page;
pub mod pinned_pages;
pub mod rcu;
pub mod region;
pub mod shared_mapping;
