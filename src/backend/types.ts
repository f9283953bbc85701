/**
 * The Backend interface: one syscall-shaped function per kernel operation, no policy.
 *
 * Two implementations: `native` (the C++ addon, real syscalls) and `mock` (a TypeScript model of the
 * kernel with the same errno semantics). The API layer (src/*.ts) only talks to a Backend, so one
 * contract test suite runs on both.
 *
 * Conventions, for both implementations:
 * - Every failure throws a SystemError-shaped Error (see src/errors.ts): `code` ('EINVAL'), `errno`
 *   (positive, e.g. 22), `syscall` (e.g. 'ioctl(UDMABUF_CREATE)', 'mmap', 'open'), and `path` where the
 *   function takes one. Arguments are NOT validated for policy here (the API layer does that); a
 *   backend only refuses what would be unsafe (non-integer fd, negative length, a view over a
 *   read-only mapping) with a TypeError/RangeError carrying an ERR_* code. Those argument checks are
 *   one specification (src/backend/args.ts) applied by both backends before they run, so the same bad
 *   argument gives the same error, code and message on either.
 * - Every fd a backend creates is close-on-exec: the close-on-exec flag of each call (O_CLOEXEC,
 *   MFD_CLOEXEC, UDMABUF_FLAGS_CLOEXEC, DRM_CLOEXEC) is added to whatever flags the caller passes.
 * - Sizes and offsets are JS numbers (safe integers); inode and device numbers are bigint.
 * - Blocking calls (DMA_BUF_IOCTL_SYNC, poll) have an *Async twin that runs off the JS thread and works
 *   on its own dup of the fd, so closing the fd meanwhile cannot redirect it to another file.
 */

export type Fd = number;

export interface StatInfo {
  /** st_ino */
  ino: bigint;
  /** st_dev */
  dev: bigint;
  /** st_rdev (device nodes) */
  rdev: bigint;
  /** st_mode (file type and permission bits) */
  mode: number;
  /** st_size */
  size: number;
  uid: number;
  gid: number;
}

export interface UdmabufItem {
  memfd: Fd;
  offset: number;
  size: number;
}

export interface DrmVersion {
  major: number;
  minor: number;
  patchlevel: number;
  name: string;
  date: string;
  desc: string;
}

export interface DumbBuffer {
  handle: number;
  pitch: number;
  size: number;
}

export interface SyncFenceInfo {
  objName: string;
  driverName: string;
  /** 1 signaled, 0 active, < 0 error */
  status: number;
  flags: number;
  timestampNs: bigint;
}

export interface SyncFileInfo {
  name: string;
  /** 1 signaled, 0 active, < 0 error */
  status: number;
  flags: number;
  fences: SyncFenceInfo[];
}

export interface KmsResources {
  fbs: number[];
  crtcs: number[];
  connectors: number[];
  encoders: number[];
  minWidth: number;
  maxWidth: number;
  minHeight: number;
  maxHeight: number;
}

/** struct drm_mode_modeinfo, field by field (name: up to 31 bytes). */
export interface KmsModeInfo {
  clock: number;
  hdisplay: number;
  hsyncStart: number;
  hsyncEnd: number;
  htotal: number;
  hskew: number;
  vdisplay: number;
  vsyncStart: number;
  vsyncEnd: number;
  vtotal: number;
  vscan: number;
  vrefresh: number;
  flags: number;
  /** DRM_MODE_TYPE_* bits (PREFERRED = 1 << 3, DRIVER = 1 << 6) */
  type: number;
  name: string;
}

export interface KmsConnector {
  id: number;
  /** DRM_MODE_CONNECTOR_* (Virtual = 15) */
  type: number;
  typeId: number;
  /** 1 connected, 2 disconnected, 3 unknown */
  connection: number;
  mmWidth: number;
  mmHeight: number;
  subpixel: number;
  encoderId: number;
  encoders: number[];
  modes: KmsModeInfo[];
}

export interface KmsCrtc {
  id: number;
  /** 0 when no framebuffer is shown. */
  fbId: number;
  x: number;
  y: number;
  gammaSize: number;
  /** null when mode_valid is 0 (the CRTC is off). */
  mode: KmsModeInfo | null;
}

/** One plane (GETPLANE): primary, overlay or cursor (the type is a property: atomic display). */
export interface KmsPlane {
  id: number;
  /** The CRTC it shows on now, 0 when off. */
  crtcId: number;
  fbId: number;
  /** Bit i: the i-th CRTC of GETRESOURCES. */
  possibleCrtcs: number;
  gammaSize: number;
  /** DRM fourccs it takes. */
  formats: number[];
}

/** One event read from a DRM file; vblank and flip-complete events carry the drm_event_vblank fields. */
export interface DrmEvent {
  /** DRM_EVENT_VBLANK 1, DRM_EVENT_FLIP_COMPLETE 2, DRM_EVENT_CRTC_SEQUENCE 3 */
  type: number;
  length: number;
  userData?: number;
  sec?: number;
  usec?: number;
  sequence?: number;
  crtcId?: number;
}

/**
 * One mmap()ed region. Opaque to callers; a backend keeps the address in it. The region stays mapped
 * until munmap() or until both this handle and its ArrayBuffer (if one was made) are garbage.
 */
export interface MapHandle {
  readonly length: number;
  readonly prot: number;
}

/** Plain file syscalls (native/fd.cc). */
export interface FileOps {
  /** open(2) with O_CLOEXEC always added. syscall 'open', path set. */
  open(path: string, flags: number): Fd;
  /** close(2). EBADF if not open. */
  close(fd: Fd): void;
  /** fcntl(F_DUPFD_CLOEXEC, 0). syscall 'dup'. */
  dup(fd: Fd): Fd;
  fstat(fd: Fd): StatInfo;
  /** stat(2) of a path. */
  stat(path: string): StatInfo;
  /** lseek(2); returns the new offset. */
  lseek(fd: Fd, offset: number, whence: number): number;
  /** fcntl(F_GETFL) */
  getFlags(fd: Fd): number;
  /** read(2) of up to `length` bytes (used to check that dma-bufs refuse read()). */
  read(fd: Fd, length: number): Uint8Array;
  /** write(2) (dma-bufs refuse it; memfds accept it). Returns bytes written. */
  write(fd: Fd, data: Uint8Array, position?: number): number;
  /** pread(2) of a regular file or memfd. */
  pread(fd: Fd, length: number, position: number): Uint8Array;
  /** A whole small text file, e.g. /proc/self/fdinfo/<fd> or a sysfs attribute. syscall 'open'/'read'. */
  readTextFile(path: string): string;
  /** Entries of a directory, sorted, without '.' and '..'. syscall 'opendir'. */
  readdir(path: string): string[];
  /** readlink(2). */
  readlink(path: string): string;
  /** access(path, mode) without throwing: true when permitted. */
  access(path: string, mode: number): boolean;
}

/** memfd and its seals (native/fd.cc). */
export interface MemfdOps {
  /** memfd_create(2); MFD_CLOEXEC always added. */
  memfdCreate(name: string, flags: number): Fd;
  ftruncate(fd: Fd, size: number): void;
  /** fcntl(F_ADD_SEALS) */
  addSeals(fd: Fd, seals: number): void;
  /** fcntl(F_GET_SEALS) */
  getSeals(fd: Fd): number;
}

/** /dev/udmabuf (native/udmabuf.cc). */
export interface UdmabufOps {
  /** ioctl(UDMABUF_CREATE) on an open /dev/udmabuf; returns the new dma-buf fd. UDMABUF_FLAGS_CLOEXEC always added. */
  udmabufCreate(dev: Fd, memfd: Fd, offset: number, size: number, flags: number): Fd;
  /** ioctl(UDMABUF_CREATE_LIST); UDMABUF_FLAGS_CLOEXEC always added. */
  udmabufCreateList(dev: Fd, flags: number, items: readonly UdmabufItem[]): Fd;
}

/** /dev/dma_heap/<name> (native/heap.cc). */
export interface HeapOps {
  /** ioctl(DMA_HEAP_IOCTL_ALLOC) on an open heap node; returns the new dma-buf fd. O_CLOEXEC always added to fdFlags. */
  heapAlloc(heap: Fd, len: number, fdFlags: number, heapFlags: number): Fd;
}

/** The ioctls of every dma-buf fd (native/dmabuf.cc). */
export interface DmabufOps {
  /** ioctl(DMA_BUF_IOCTL_SYNC) with raw flags; EINTR/EAGAIN retried. May block (fences). */
  dmabufSync(fd: Fd, flags: number): void;
  /** The same, on the thread pool, against a dup of fd. */
  dmabufSyncAsync(fd: Fd, flags: number): Promise<void>;
  /** ioctl(DMA_BUF_SET_NAME_B): the kernel copies at most 32 bytes incl. NUL. */
  dmabufSetName(fd: Fd, name: string): void;
  /** ioctl(DMA_BUF_IOCTL_EXPORT_SYNC_FILE); flags DMA_BUF_SYNC_READ/WRITE; returns a sync_file fd. */
  dmabufExportSyncFile(fd: Fd, flags: number): Fd;
  /** ioctl(DMA_BUF_IOCTL_IMPORT_SYNC_FILE) */
  dmabufImportSyncFile(fd: Fd, flags: number, syncFile: Fd): void;
}

/** sync_file fds (native/sync.cc). */
export interface SyncFileOps {
  /** ioctl(SYNC_IOC_FILE_INFO), including the fence array. */
  syncFileInfo(fd: Fd): SyncFileInfo;
  /** ioctl(SYNC_IOC_MERGE); returns a new sync_file fd. */
  syncFileMerge(name: string, fd1: Fd, fd2: Fd): Fd;
}

/** poll(2) (native/fd.cc). */
export interface PollOps {
  /** poll(2) on one fd; returns revents (0 on timeout). timeoutMs < 0 = forever. EINTR retried. */
  poll(fd: Fd, events: number, timeoutMs: number): number;
  pollAsync(fd: Fd, events: number, timeoutMs: number): Promise<number>;
}

/** mmap(2) and the views over a mapping (native/mapping.cc). */
export interface MappingOps {
  /**
   * mmap(2). offset must be page aligned (else EINVAL from the kernel). Refused before the kernel,
   * because the result could crash JS: MAP_FIXED / MAP_FIXED_NOREPLACE (ERR_INVALID_ARG_VALUE), and a
   * regular file or memfd mapped past its current end (ERR_OUT_OF_RANGE: touching it would SIGBUS).
   */
  mmap(fd: Fd, length: number, prot: number, flags: number, offset: number): MapHandle;
  /**
   * The zero-copy ArrayBuffer over a PROT_WRITE|PROT_READ mapping; the same object on every call.
   * A read-only mapping never gets one (a write through it would crash): ERR_INVALID_STATE.
   * After munmap: ERR_INVALID_STATE.
   */
  mapBuffer(m: MapHandle): ArrayBuffer;
  /** Copy `target.byteLength` bytes at `offset` of the mapping into target (any readable mapping). */
  mapRead(m: MapHandle, offset: number, target: Uint8Array): void;
  /** Detach the ArrayBuffer (if any), then munmap(2). Idempotent. */
  munmap(m: MapHandle): void;
  /** True until munmap(). */
  isMapped(m: MapHandle): boolean;
}

/** DRM device ioctls: version, caps, dumb buffers, GEM, PRIME, vgem fences (native/drm.cc). */
export interface DrmOps {
  /** ioctl(DRM_IOCTL_VERSION) */
  drmVersion(fd: Fd): DrmVersion;
  /** ioctl(DRM_IOCTL_GET_CAP) */
  drmGetCap(fd: Fd, capability: number): number;
  /** ioctl(DRM_IOCTL_SET_CLIENT_CAP) */
  drmSetClientCap(fd: Fd, capability: number, value: number): void;
  /** ioctl(DRM_IOCTL_MODE_CREATE_DUMB) */
  drmCreateDumb(fd: Fd, width: number, height: number, bpp: number, flags: number): DumbBuffer;
  /** ioctl(DRM_IOCTL_MODE_MAP_DUMB): the fake mmap offset on the DRM fd. */
  drmMapDumb(fd: Fd, handle: number): number;
  /** ioctl(DRM_IOCTL_MODE_DESTROY_DUMB) */
  drmDestroyDumb(fd: Fd, handle: number): void;
  /** ioctl(DRM_IOCTL_GEM_CLOSE) */
  drmGemClose(fd: Fd, handle: number): void;
  /** ioctl(DRM_IOCTL_PRIME_HANDLE_TO_FD); flags DRM_CLOEXEC|DRM_RDWR (DRM_CLOEXEC always added). */
  drmPrimeHandleToFd(fd: Fd, handle: number, flags: number): Fd;
  /** ioctl(DRM_IOCTL_PRIME_FD_TO_HANDLE) */
  drmPrimeFdToHandle(fd: Fd, dmabuf: Fd): number;
  /** ioctl(DRM_IOCTL_VGEM_FENCE_ATTACH): returns the fence id. flags VGEM_FENCE_WRITE. */
  vgemFenceAttach(fd: Fd, handle: number, flags: number): number;
  /** ioctl(DRM_IOCTL_VGEM_FENCE_SIGNAL) */
  vgemFenceSignal(fd: Fd, fence: number): void;
}

/** The sw_sync test timeline, /sys/kernel/debug/sync/sw_sync (native/sync.cc). */
export interface SwSyncOps {
  /** ioctl(SW_SYNC_IOC_CREATE_FENCE) on an open sw_sync timeline; returns a sync_file fd. */
  swSyncCreateFence(timeline: Fd, value: number, name: string): Fd;
  /** ioctl(SW_SYNC_IOC_INC) */
  swSyncInc(timeline: Fd, count: number): void;
}

/** SCM_RIGHTS over Unix sockets (native/fd.cc). */
export interface FdPassingOps {
  /** sendmsg(2) with SCM_RIGHTS over a connected Unix socket fd. */
  sendFds(socket: Fd, data: Uint8Array, fds: readonly Fd[]): number;
  /** recvmsg(2) with SCM_RIGHTS (MSG_CMSG_CLOEXEC); EAGAIN on a non-blocking socket with nothing. */
  recvFds(socket: Fd, maxData: number, maxFds: number): { data: Uint8Array; fds: Fd[] };
}

/** KMS modesetting on card nodes and the DRM event queue (native/kms.cc). */
export interface KmsOps {
  /** ioctl(DRM_IOCTL_MODE_GETRESOURCES), counts then ids (EOPNOTSUPP/EINVAL without KMS, e.g. vgem). */
  kmsGetResources(fd: Fd): KmsResources;
  /** ioctl(DRM_IOCTL_MODE_GETCONNECTOR): count_modes 0 first (the master's call probes), then the lists. */
  kmsGetConnector(fd: Fd, connectorId: number): KmsConnector;
  /** ioctl(DRM_IOCTL_MODE_GETCRTC) */
  kmsGetCrtc(fd: Fd, crtcId: number): KmsCrtc;
  /** ioctl(DRM_IOCTL_MODE_SETCRTC); mode null = mode_valid 0 (off); fbId 0xffffffff keeps the current fb. */
  kmsSetCrtc(fd: Fd, crtcId: number, fbId: number, x: number, y: number, connectorIds: readonly number[],
    mode: KmsModeInfo | null): void;
  /** ioctl(DRM_IOCTL_MODE_GETPLANERESOURCES): plane ids (overlays only without UNIVERSAL_PLANES). */
  kmsGetPlaneResources(fd: Fd): number[];
  /** ioctl(DRM_IOCTL_MODE_GETPLANE), count then formats. */
  kmsGetPlane(fd: Fd, planeId: number): KmsPlane;
  /**
   * ioctl(DRM_IOCTL_MODE_ADDFB2) with up to 4 planes; modifiers are read by the kernel only with
   * flags & DRM_MODE_FB_MODIFIERS (else they must be 0). Returns the framebuffer id.
   */
  kmsAddFb2(fd: Fd, width: number, height: number, format: number, handles: readonly number[],
    pitches: readonly number[], offsets: readonly number[], modifiers: readonly bigint[], flags: number): number;
  /** ioctl(DRM_IOCTL_MODE_RMFB) */
  kmsRmFb(fd: Fd, fbId: number): void;
  /** ioctl(DRM_IOCTL_MODE_PAGE_FLIP); flags DRM_MODE_PAGE_FLIP_EVENT (1) queues a flip-complete event. */
  kmsPageFlip(fd: Fd, crtcId: number, fbId: number, flags: number, userData: number): void;
  /** The events queued on a DRM file, without blocking (none: []); wait with pollAsync(POLLIN). */
  drmReadEvents(fd: Fd): DrmEvent[];
}

/** Every kernel operation, grouped by interface like native/ (one .cc file each) and src/backend/mock/. */
export interface Backend extends FileOps, MemfdOps, UdmabufOps, HeapOps, DmabufOps, SyncFileOps, PollOps, MappingOps,
  DrmOps, SwSyncOps, FdPassingOps, KmsOps {
  readonly name: 'native' | 'mock';
  /** sysconf(_SC_PAGESIZE) */
  readonly pageSize: number;
}

/** The names of the syscall-shaped functions of a Backend (everything but name and pageSize). */
export type BackendMethod = Exclude<keyof Backend, 'name' | 'pageSize'>;
