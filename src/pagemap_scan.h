/*
 * The PAGEMAP_SCAN ioctl on /proc/self/pagemap (Linux 6.7,
 * include/uapi/linux/fs.h): its argument, its output and its flags, for
 * kernel headers that predate it (Debian 12's are 6.1).  Whether the
 * running kernel has it is found at run time (ENOTTY, EINVAL).
 */
#ifndef PACEGC_PAGEMAP_SCAN_H
#define PACEGC_PAGEMAP_SCAN_H

#include <linux/fs.h>
#include <stdint.h>
#include <sys/ioctl.h>

#ifndef PAGEMAP_SCAN
struct page_region {
  uint64_t start, end, categories;
};
struct pm_scan_arg {
  uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
  uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};
#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)

/* Categories of a page (category masks, page_region.categories). */
#define PAGE_IS_WPALLOWED (1 << 0)
#define PAGE_IS_WRITTEN (1 << 1)
#define PAGE_IS_FILE (1 << 2)
#define PAGE_IS_PRESENT (1 << 3)
#define PAGE_IS_SWAPPED (1 << 4)
#define PAGE_IS_PFNZERO (1 << 5)

/* Flags of the scan. */
#define PM_SCAN_WP_MATCHING (1 << 0)     /* write-protect the pages reported */
#define PM_SCAN_CHECK_WPASYNC (1 << 1)   /* fail on a page not under WP_ASYNC */
#endif

#endif
