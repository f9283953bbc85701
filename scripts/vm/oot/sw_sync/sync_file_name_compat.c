// SPDX-License-Identifier: GPL-2.0
/*
 * sync_file_get_name() for kernels that do not export it (sync_debug.c uses it for its debugfs
 * listing). Same behaviour as drivers/dma-buf/sync_file.c.
 */
#include <linux/dma-fence.h>
#include <linux/string.h>
#include <linux/sync_file.h>

char *sync_file_get_name(struct sync_file *sync_file, char *buf, int len)
{
	struct dma_fence *fence = sync_file->fence;

	if (sync_file->user_name[0])
		strscpy(buf, sync_file->user_name, len);
	else
		snprintf(buf, len, "%s-%s%llu-%lld", fence->ops->get_driver_name(fence),
			 fence->ops->get_timeline_name(fence), fence->context, fence->seqno);
	return buf;
}
