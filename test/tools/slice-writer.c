/*
 * A light child for the 64-process sharing test (test/23-sharing.test.ts): the dma-buf is its fd 3.
 * It maps the whole buffer, writes its own slice between DMA_BUF_IOCTL_SYNC START and END, says
 * "r" on stdout, then holds the buffer (fd and mapping) until its stdin reaches end of file, so
 * that every child holds it at the same time. Exit status: 0, or the step that failed (2-6).
 *
 * usage: slice-writer INDEX SLICE_BYTES
 */
#include <errno.h>
#include <linux/dma-buf.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

static int sync_buf(int fd, __u64 flags) {
  struct dma_buf_sync s = { .flags = flags };
  int r;
  do {
    r = ioctl(fd, DMA_BUF_IOCTL_SYNC, &s);
  } while (r < 0 && (errno == EINTR || errno == EAGAIN));
  return r;
}

/* The byte at offset k of slice i: the test computes the same. */
static uint8_t pattern(unsigned i, size_t k) {
  return (uint8_t)(i * 37 + k * 7 + 1);
}

int main(int argc, char **argv) {
  if (argc != 3) return 2;
  unsigned index = (unsigned)strtoul(argv[1], NULL, 10);
  size_t slice = strtoul(argv[2], NULL, 10);
  off_t size = lseek(3, 0, SEEK_END);
  if (size <= 0 || (size_t)size < (index + 1) * slice) return 3;
  uint8_t *p = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, 3, 0);
  if (p == MAP_FAILED) return 4;
  if (sync_buf(3, DMA_BUF_SYNC_START | DMA_BUF_SYNC_WRITE) < 0) return 5;
  for (size_t k = 0; k < slice; k++) p[index * slice + k] = pattern(index, k);
  if (sync_buf(3, DMA_BUF_SYNC_END | DMA_BUF_SYNC_WRITE) < 0) return 5;
  if (write(1, "r", 1) != 1) return 6;
  char c;
  while (read(0, &c, 1) > 0) {
  }
  munmap(p, (size_t)size);
  close(3);
  return 0;
}
