/*
 * dmabuf_bench: the C side of `npm run bench`.
 *
 * Does the same syscalls as the JavaScript API for one operation, in a loop, and prints the
 * per-operation times of each sample as one JSON line on stdout. The statistics (median, spread) are
 * computed by the TypeScript harness, so both sides are summarised the same way.
 *
 *   dmabuf_bench OP [options]
 *     --size BYTES      buffer size (default 1 MiB)
 *     --samples N       samples to take (default 15)
 *     --target-ms MS    each sample runs enough iterations to last about this long (default 20)
 *     --iters K         fixed iterations per sample instead (no calibration)
 *     --warmup MS       warm-up time before sampling (default 30)
 *     --card PATH       DRM card node for dumb / import (default /dev/dri/card0)
 *     --heap PATH       dma-heap node (default /dev/dma_heap/system)
 *     --count N         live buffers for scale-udmabuf / scale-heap
 *     --nofile N        set the soft RLIMIT_NOFILE to N (default: raise it to the hard limit)
 *
 *   OP: udmabuf heap dumb import sync map setname info
 *       calib-fstat calib-memfd                         (no device: fstat of a memfd; memfd_create+close)
 *       bw-fill bw-read bw-copy-in bw-copy-out          (over a udmabuf of --size, one pass = one op)
 *       scale-udmabuf scale-heap                        (create --count live buffers, then close them)
 *       limits                                          (RLIMIT_NOFILE before/after raising, udmabuf params)
 *       v4l2-cycle --video PATH --width W --height H     (capture at 60 fps, 4 MMAP buffers, XR24: DQBUF,
 *                                                        poll when EAGAIN, DQBUF, QBUF; per cycle: CPU time)
 *
 * Output (one line): {"op":"...","size":N,"iters":K,"samples_ns":[ns per op, ...], ...}
 * On failure: {"op":"...","error":"...","errno":N} and exit status 1.
 *
 * Build: gcc -O2 -Wall -Wextra -o dmabuf_bench bench/c/dmabuf_bench.c   (-static works too)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <linux/dma-buf.h>
#include <linux/dma-heap.h>
#include <linux/udmabuf.h>
#include <linux/videodev2.h>

#ifndef F_SEAL_SHRINK
#define F_SEAL_SHRINK 0x0002
#endif
#ifndef F_ADD_SEALS
#define F_ADD_SEALS 1033
#endif
#ifndef MFD_CLOEXEC
#define MFD_CLOEXEC 0x0001U
#define MFD_ALLOW_SEALING 0x0002U
#endif

/* DRM uAPI (not installed on this machine): the kernel's names and layouts, as native/drm.cc declares and checks them. */
struct drm_mode_create_dumb {
	uint32_t height, width, bpp, flags; /* in */
	uint32_t handle, pitch;             /* out */
	uint64_t size;                      /* out */
};
struct drm_mode_destroy_dumb { uint32_t handle; };
struct drm_prime_handle { uint32_t handle; uint32_t flags; int32_t fd; };
struct drm_gem_close { uint32_t handle; uint32_t pad; };
#define DRM_IOCTL_GEM_CLOSE 0x40086409UL
#define DRM_IOCTL_PRIME_HANDLE_TO_FD 0xC00C642DUL
#define DRM_IOCTL_PRIME_FD_TO_HANDLE 0xC00C642EUL
#define DRM_IOCTL_MODE_CREATE_DUMB 0xC02064B2UL
#define DRM_IOCTL_MODE_DESTROY_DUMB 0xC00464B4UL
#define DRM_RDWR O_RDWR
#define DRM_CLOEXEC O_CLOEXEC

/* ---- options, errors ------------------------------------------------------------------------- */

static const char *g_op = "?";
static size_t g_size = 1 << 20;
static int g_samples = 15;
static double g_target_ms = 20;
static long g_iters = 0;
static double g_warmup_ms = 30;
static const char *g_card = "/dev/dri/card0";
static const char *g_heap_path = "/dev/dma_heap/system";
static long g_count = 1000;
static const char *g_video = "/dev/video0";
static uint32_t g_width = 320, g_height = 180;
static long g_nofile = 0;   /* --nofile: set the soft RLIMIT_NOFILE to this instead of raising it */
static long g_reached = -1; /* scale runs: live buffers created so far (reported on failure) */

static int g_udev = -1; /* /dev/udmabuf */
static int g_heap = -1;
static int g_drm = -1;

/* Print the failure as JSON (the harness reads stdout) and exit. */
static void die(const char *what, int err)
{
	printf("{\"op\":\"%s\",\"error\":\"%s: %s\",\"errno\":%d", g_op, what, strerror(err), err);
	if (g_reached >= 0)
		printf(",\"reached\":%ld", g_reached);
	printf("}\n");
	fflush(stdout);
	exit(1);
}

#define CHECK(expr, what)                                                                          \
	do {                                                                                       \
		if ((expr) < 0)                                                                    \
			die(what, errno);                                                          \
	} while (0)

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- the operations: each does exactly what one JS call does at the syscall level ------------- */

/* udmabuf.create(size).close(): memfd_create, ftruncate, F_ADD_SEALS, UDMABUF_CREATE, close x2. */
static int udmabuf_create(size_t size)
{
	int memfd = memfd_create("udmabuf", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	CHECK(memfd, "memfd_create");
	CHECK(ftruncate(memfd, (off_t)size), "ftruncate");
	CHECK(fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK), "fcntl(F_ADD_SEALS)");
	struct udmabuf_create c = { .memfd = (uint32_t)memfd, .flags = UDMABUF_FLAGS_CLOEXEC, .offset = 0, .size = size };
	int fd = ioctl(g_udev, UDMABUF_CREATE, &c);
	if (fd < 0)
		die("ioctl(UDMABUF_CREATE)", errno);
	CHECK(close(memfd), "close(memfd)");
	return fd;
}

static int heap_alloc(size_t size)
{
	struct dma_heap_allocation_data d = { .len = size, .fd = 0, .fd_flags = O_RDWR | O_CLOEXEC, .heap_flags = 0 };
	CHECK(ioctl(g_heap, DMA_HEAP_IOCTL_ALLOC, &d), "ioctl(DMA_HEAP_IOCTL_ALLOC)");
	return (int)d.fd;
}

static void op_udmabuf(void)
{
	CHECK(close(udmabuf_create(g_size)), "close");
}

static void op_heap(void)
{
	CHECK(close(heap_alloc(g_size)), "close");
}

/* createDumb(256x256x32) + export() + close() + destroy() */
static void op_dumb(void)
{
	struct drm_mode_create_dumb c = { .height = 256, .width = 256, .bpp = 32 };
	CHECK(ioctl(g_drm, DRM_IOCTL_MODE_CREATE_DUMB, &c), "ioctl(MODE_CREATE_DUMB)");
	struct drm_prime_handle p = { .handle = c.handle, .flags = DRM_CLOEXEC | DRM_RDWR, .fd = -1 };
	CHECK(ioctl(g_drm, DRM_IOCTL_PRIME_HANDLE_TO_FD, &p), "ioctl(PRIME_HANDLE_TO_FD)");
	CHECK(close(p.fd), "close");
	struct drm_mode_destroy_dumb d = { .handle = c.handle };
	CHECK(ioctl(g_drm, DRM_IOCTL_MODE_DESTROY_DUMB, &d), "ioctl(MODE_DESTROY_DUMB)");
}

static int g_buf = -1; /* the buffer the per-buffer operations work on */

/* dev.import(buf).release(): PRIME_FD_TO_HANDLE + GEM_CLOSE */
static void op_import(void)
{
	struct drm_prime_handle p = { .fd = g_buf };
	CHECK(ioctl(g_drm, DRM_IOCTL_PRIME_FD_TO_HANDLE, &p), "ioctl(PRIME_FD_TO_HANDLE)");
	struct drm_gem_close c = { .handle = p.handle };
	CHECK(ioctl(g_drm, DRM_IOCTL_GEM_CLOSE, &c), "ioctl(GEM_CLOSE)");
}

static void dma_sync(int fd, uint64_t flags)
{
	struct dma_buf_sync s = { .flags = flags };
	int r;
	do
		r = ioctl(fd, DMA_BUF_IOCTL_SYNC, &s);
	while (r < 0 && (errno == EINTR || errno == EAGAIN));
	CHECK(r, "ioctl(DMA_BUF_IOCTL_SYNC)");
}

/* beginAccess('readwrite') + endAccess('readwrite') */
static void op_sync(void)
{
	dma_sync(g_buf, DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW);
	dma_sync(g_buf, DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW);
}

/* map('readwrite') + unmap(): mmap + munmap of the whole buffer, pages not touched */
static void op_map(void)
{
	void *p = mmap(NULL, g_size, PROT_READ | PROT_WRITE, MAP_SHARED, g_buf, 0);
	if (p == MAP_FAILED)
		die("mmap", errno);
	CHECK(munmap(p, g_size), "munmap");
}

static void op_setname(void)
{
	CHECK(ioctl(g_buf, DMA_BUF_SET_NAME_B, "bench"), "ioctl(DMA_BUF_SET_NAME_B)");
}

/* info(): read /proc/self/fdinfo/<fd> (open, read, close) */
static void op_info(void)
{
	char path[64], text[1024];
	snprintf(path, sizeof path, "/proc/self/fdinfo/%d", g_buf);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	CHECK(fd, "open(fdinfo)");
	ssize_t n = read(fd, text, sizeof text - 1);
	CHECK(n, "read(fdinfo)");
	CHECK(close(fd), "close(fdinfo)");
	text[n] = 0;
	if (!strstr(text, "exp_name:"))
		die("fdinfo has no exp_name", EINVAL);
}

/* calibration, no device needed: one fstat; memfd_create + close */
static void op_fstat(void)
{
	struct stat st;
	CHECK(fstat(g_buf, &st), "fstat");
}

static void op_memfd(void)
{
	int fd = memfd_create("calib", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	CHECK(fd, "memfd_create");
	CHECK(close(fd), "close");
}

/* ---- bandwidth over a mapped udmabuf -------------------------------------------------------- */

static unsigned char *g_map;
static unsigned char *g_src; /* ordinary (malloc) memory of the same size */
static volatile uint32_t g_sink;
static unsigned g_fill = 1;

static void op_bw_fill(void)
{
	dma_sync(g_buf, DMA_BUF_SYNC_START | DMA_BUF_SYNC_WRITE);
	memset(g_map, (int)(g_fill++ & 0xff), g_size);
	dma_sync(g_buf, DMA_BUF_SYNC_END | DMA_BUF_SYNC_WRITE);
}

static void op_bw_read(void)
{
	dma_sync(g_buf, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ);
	const uint32_t *w = (const uint32_t *)g_map;
	uint32_t sum = 0;
	for (size_t i = 0, n = g_size / 4; i < n; i++)
		sum += w[i];
	g_sink = sum;
	dma_sync(g_buf, DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ);
}

static void op_bw_copy_in(void)
{
	dma_sync(g_buf, DMA_BUF_SYNC_START | DMA_BUF_SYNC_WRITE);
	memcpy(g_map, g_src, g_size);
	dma_sync(g_buf, DMA_BUF_SYNC_END | DMA_BUF_SYNC_WRITE);
}

static void op_bw_copy_out(void)
{
	dma_sync(g_buf, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ);
	memcpy(g_src, g_map, g_size);
	dma_sync(g_buf, DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ);
}

/* ---- V4L2: a capture queue's DQBUF + QBUF cycle ---------------------------------------------- */

/*
 * VideoQueue.dequeue() then queue(frame) on a streaming capture queue of the device's own (MMAP)
 * buffers, at the ioctl level: DQBUF on the non-blocking fd; when it says EAGAIN, poll(POLLIN) and
 * DQBUF again; then QBUF of the same buffer. The device paces the loop (its frame rate), so the
 * cost of a cycle is the process's CPU time (getrusage: user + system), not the wall time.
 */
static int g_vfd = -1;

static void v4l2_setup(void)
{
	g_vfd = open(g_video, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (g_vfd < 0)
		die("open(video)", errno);
	struct v4l2_format f = { .type = V4L2_BUF_TYPE_VIDEO_CAPTURE };
	f.fmt.pix.width = g_width;
	f.fmt.pix.height = g_height;
	f.fmt.pix.pixelformat = V4L2_PIX_FMT_XBGR32; /* 'XR24', DRM's XRGB8888 */
	f.fmt.pix.field = V4L2_FIELD_NONE;
	CHECK(ioctl(g_vfd, VIDIOC_S_FMT, &f), "ioctl(VIDIOC_S_FMT)");
	struct v4l2_requestbuffers rb = { .count = 4, .type = V4L2_BUF_TYPE_VIDEO_CAPTURE, .memory = V4L2_MEMORY_MMAP };
	/* 60 frames per second (vivid's default after S_FMT depends on the size: 5 at 320x180) */
	struct v4l2_streamparm parm = { .type = V4L2_BUF_TYPE_VIDEO_CAPTURE };
	parm.parm.capture.timeperframe.numerator = 1;
	parm.parm.capture.timeperframe.denominator = 60;
	CHECK(ioctl(g_vfd, VIDIOC_S_PARM, &parm), "ioctl(VIDIOC_S_PARM)");
	CHECK(ioctl(g_vfd, VIDIOC_REQBUFS, &rb), "ioctl(VIDIOC_REQBUFS)");
	for (uint32_t i = 0; i < rb.count; i++) {
		struct v4l2_buffer b = { .index = i, .type = V4L2_BUF_TYPE_VIDEO_CAPTURE, .memory = V4L2_MEMORY_MMAP };
		CHECK(ioctl(g_vfd, VIDIOC_QBUF, &b), "ioctl(VIDIOC_QBUF)");
	}
	int type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	CHECK(ioctl(g_vfd, VIDIOC_STREAMON, &type), "ioctl(VIDIOC_STREAMON)");
}

static void op_v4l2_cycle(void)
{
	struct v4l2_buffer b = { .type = V4L2_BUF_TYPE_VIDEO_CAPTURE, .memory = V4L2_MEMORY_MMAP };
	while (ioctl(g_vfd, VIDIOC_DQBUF, &b) < 0) {
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			die("ioctl(VIDIOC_DQBUF)", errno);
		struct pollfd p = { .fd = g_vfd, .events = POLLIN };
		if (poll(&p, 1, -1) < 0 && errno != EINTR)
			die("poll", errno);
	}
	CHECK(ioctl(g_vfd, VIDIOC_QBUF, &b), "ioctl(VIDIOC_QBUF)");
}

static uint64_t cpu_ns(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000u +
	       ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000u;
}

/* Fixed cycles per sample (--iters, default 60): samples of CPU ns per cycle, and their wall time. */
static void run_v4l2(const char *op)
{
	long iters = g_iters > 0 ? g_iters : 60;
	for (int i = 0; i < 10; i++)
		op_v4l2_cycle(); /* warm-up: the device reaches its frame rate */
	double *cpu = calloc((size_t)g_samples, sizeof *cpu), *wall = calloc((size_t)g_samples, sizeof *wall);
	if (!cpu || !wall)
		die("calloc", ENOMEM);
	for (int s = 0; s < g_samples; s++) {
		uint64_t c = cpu_ns(), w = now_ns();
		for (long i = 0; i < iters; i++)
			op_v4l2_cycle();
		cpu[s] = (double)(cpu_ns() - c) / (double)iters;
		wall[s] = (double)(now_ns() - w) / (double)iters;
	}
	int type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	CHECK(ioctl(g_vfd, VIDIOC_STREAMOFF, &type), "ioctl(VIDIOC_STREAMOFF)");
	printf("{\"op\":\"%s\",\"iters\":%ld,\"samples_ns\":[", op, iters);
	for (int s = 0; s < g_samples; s++)
		printf("%s%.1f", s ? "," : "", cpu[s]);
	printf("],\"wall_samples_ns\":[");
	for (int s = 0; s < g_samples; s++)
		printf("%s%.1f", s ? "," : "", wall[s]);
	printf("]}\n");
	free(cpu);
	free(wall);
}

/* ---- harness: warm-up, calibration, N samples of K iterations --------------------------------- */

static void run(const char *op, void (*fn)(void))
{
	uint64_t t0 = now_ns(), warm = (uint64_t)(g_warmup_ms * 1e6);
	long k = 0;
	do {
		fn();
		k++;
	} while (now_ns() - t0 < warm || k < 2);
	long iters = g_iters;
	if (iters <= 0) {
		/* iterations per sample from the warm-up rate, so a sample lasts about target-ms */
		double per = (double)(now_ns() - t0) / (double)k;
		iters = (long)(g_target_ms * 1e6 / per);
		if (iters < 1)
			iters = 1;
	}
	double *samples = calloc((size_t)g_samples, sizeof *samples);
	if (!samples)
		die("calloc", ENOMEM);
	for (int s = 0; s < g_samples; s++) {
		uint64_t a = now_ns();
		for (long i = 0; i < iters; i++)
			fn();
		samples[s] = (double)(now_ns() - a) / (double)iters;
	}
	printf("{\"op\":\"%s\",\"size\":%zu,\"iters\":%ld,\"samples_ns\":[", op, g_size, iters);
	for (int s = 0; s < g_samples; s++)
		printf("%s%.1f", s ? "," : "", samples[s]);
	printf("]}\n");
	free(samples);
}

/* Create --count live buffers, then close them all; one sample = one round. */
static void run_scale(const char *op, int (*make)(size_t))
{
	int *fds = calloc((size_t)g_count, sizeof *fds);
	double *create = calloc((size_t)g_samples, sizeof *create);
	double *destroy = calloc((size_t)g_samples, sizeof *destroy);
	if (!fds || !create || !destroy)
		die("calloc", ENOMEM);
	for (int s = 0; s < g_samples; s++) {
		uint64_t a = now_ns();
		for (long i = 0; i < g_count; i++) {
			g_reached = i;
			fds[i] = make(g_size);
		}
		g_reached = -1;
		uint64_t b = now_ns();
		for (long i = 0; i < g_count; i++)
			CHECK(close(fds[i]), "close");
		uint64_t c = now_ns();
		create[s] = (double)(b - a) / (double)g_count;
		destroy[s] = (double)(c - b) / (double)g_count;
	}
	printf("{\"op\":\"%s\",\"size\":%zu,\"count\":%ld,\"iters\":%ld,\"samples_ns\":[", op, g_size, g_count, g_count);
	for (int s = 0; s < g_samples; s++)
		printf("%s%.1f", s ? "," : "", create[s]);
	printf("],\"close_samples_ns\":[");
	for (int s = 0; s < g_samples; s++)
		printf("%s%.1f", s ? "," : "", destroy[s]);
	printf("]}\n");
	free(fds);
	free(create);
	free(destroy);
}

/* RLIMIT_NOFILE: raise the soft limit to the hard limit (what node does at startup, too). */
static void raise_nofile(struct rlimit *before, struct rlimit *after)
{
	CHECK(getrlimit(RLIMIT_NOFILE, before), "getrlimit");
	*after = *before;
	if (after->rlim_cur != after->rlim_max) {
		after->rlim_cur = after->rlim_max;
		CHECK(setrlimit(RLIMIT_NOFILE, after), "setrlimit");
	}
}

static long read_param(const char *path)
{
	FILE *f = fopen(path, "r");
	long v = -1;
	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static int open_dev(const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC);
	if (fd < 0) {
		char what[256];
		snprintf(what, sizeof what, "open(%s)", path);
		die(what, errno);
	}
	return fd;
}

static void need_udmabuf(void) { g_udev = open_dev("/dev/udmabuf", O_RDONLY); }
static void need_heap(void) { g_heap = open_dev(g_heap_path, O_RDONLY); }
static void need_drm(void) { g_drm = open_dev(g_card, O_RDWR); }
static void need_buf(void)
{
	need_udmabuf();
	g_buf = udmabuf_create(g_size);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s OP [--size B] [--samples N] [--target-ms MS] [--iters K] [--warmup MS] "
				"[--card PATH] [--heap PATH] [--count N]\n", argv[0]);
		return 2;
	}
	g_op = argv[1];
	for (int i = 2; i + 1 < argc; i += 2) {
		const char *k = argv[i], *v = argv[i + 1];
		if (!strcmp(k, "--size")) g_size = strtoull(v, NULL, 0);
		else if (!strcmp(k, "--samples")) g_samples = atoi(v);
		else if (!strcmp(k, "--target-ms")) g_target_ms = atof(v);
		else if (!strcmp(k, "--iters")) g_iters = atol(v);
		else if (!strcmp(k, "--warmup")) g_warmup_ms = atof(v);
		else if (!strcmp(k, "--card")) g_card = v;
		else if (!strcmp(k, "--heap")) g_heap_path = v;
		else if (!strcmp(k, "--count")) g_count = atol(v);
		else if (!strcmp(k, "--nofile")) g_nofile = atol(v);
		else if (!strcmp(k, "--video")) g_video = v;
		else if (!strcmp(k, "--width")) g_width = (uint32_t)atol(v);
		else if (!strcmp(k, "--height")) g_height = (uint32_t)atol(v);
		else {
			fprintf(stderr, "unknown option %s\n", k);
			return 2;
		}
	}
	if (g_samples < 1)
		g_samples = 1;
	struct rlimit before, after;
	raise_nofile(&before, &after);
	if (g_nofile > 0) {
		after.rlim_cur = (rlim_t)g_nofile;
		CHECK(setrlimit(RLIMIT_NOFILE, &after), "setrlimit");
	}

	const char *op = g_op;
	if (!strcmp(op, "limits")) {
		printf("{\"op\":\"limits\",\"nofile_soft_before\":%llu,\"nofile_soft\":%llu,\"nofile_hard\":%llu,"
		       "\"udmabuf_size_limit_mb\":%ld,\"udmabuf_list_limit\":%ld}\n",
		       (unsigned long long)before.rlim_cur, (unsigned long long)after.rlim_cur,
		       (unsigned long long)after.rlim_max, read_param("/sys/module/udmabuf/parameters/size_limit_mb"),
		       read_param("/sys/module/udmabuf/parameters/list_limit"));
	} else if (!strcmp(op, "calib-fstat")) {
		g_buf = memfd_create("calib", MFD_CLOEXEC);
		CHECK(g_buf, "memfd_create");
		run(op, op_fstat);
	} else if (!strcmp(op, "calib-memfd")) {
		run(op, op_memfd);
	} else if (!strcmp(op, "udmabuf")) {
		need_udmabuf();
		run(op, op_udmabuf);
	} else if (!strcmp(op, "heap")) {
		need_heap();
		run(op, op_heap);
	} else if (!strcmp(op, "dumb")) {
		need_drm();
		run(op, op_dumb);
	} else if (!strcmp(op, "import")) {
		need_drm();
		need_buf();
		run(op, op_import);
	} else if (!strcmp(op, "sync")) {
		need_buf();
		run(op, op_sync);
	} else if (!strcmp(op, "map")) {
		need_buf();
		run(op, op_map);
	} else if (!strcmp(op, "setname")) {
		need_buf();
		run(op, op_setname);
	} else if (!strcmp(op, "info")) {
		need_buf();
		run(op, op_info);
	} else if (!strncmp(op, "bw-", 3)) {
		need_buf();
		g_map = mmap(NULL, g_size, PROT_READ | PROT_WRITE, MAP_SHARED, g_buf, 0);
		if (g_map == MAP_FAILED)
			die("mmap", errno);
		g_src = malloc(g_size);
		if (!g_src)
			die("malloc", ENOMEM);
		memset(g_src, 0x5a, g_size); /* fault the source in, as JS's Buffer.alloc does */
		memset(g_map, 0, g_size);    /* and the mapping */
		if (!strcmp(op, "bw-fill")) run(op, op_bw_fill);
		else if (!strcmp(op, "bw-read")) run(op, op_bw_read);
		else if (!strcmp(op, "bw-copy-in")) run(op, op_bw_copy_in);
		else if (!strcmp(op, "bw-copy-out")) run(op, op_bw_copy_out);
		else die("unknown bandwidth op", EINVAL);
	} else if (!strcmp(op, "v4l2-cycle")) {
		v4l2_setup();
		run_v4l2(op);
	} else if (!strcmp(op, "scale-udmabuf")) {
		need_udmabuf();
		run_scale(op, udmabuf_create);
	} else if (!strcmp(op, "scale-heap")) {
		need_heap();
		run_scale(op, heap_alloc);
	} else {
		die("unknown op", EINVAL);
	}
	fflush(stdout);
	return 0;
}
