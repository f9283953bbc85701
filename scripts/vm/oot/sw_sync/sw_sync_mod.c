// SPDX-License-Identifier: GPL-2.0
/* Module metadata for sw_sync built out of tree (see Kbuild). It cannot be unloaded. */
#include <linux/module.h>
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("sw_sync and sync debugfs, built out of tree for testing");
