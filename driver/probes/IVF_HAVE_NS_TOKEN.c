// SPDX-License-Identifier: GPL-2.0-only
/* Up to 6.12: MODULE_IMPORT_NS() takes a bare token; 6.13 wants a string. */
#include <linux/module.h>

MODULE_IMPORT_NS(IOMMUFD);
