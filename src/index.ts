/// <reference types="node" preserve="true" />
/**
 * dmabuf: Linux dma-buf for Node.js.
 */
export { probe } from './probe';
export type { ProbeResult, InterfaceStatus } from './probe';
export { udmabuf, Memfd, UDMABUF_PATH } from './udmabuf';
export type { UdmabufItem, UdmabufOptions, UdmabufLimits, MemfdOptions } from './udmabuf';
export { heaps, Heap, CMA_HEAP_NAMES, HEAP_DIR } from './heap';
export type { HeapInfo, HeapQuery, AllocateOptions } from './heap';
export { drm, Device, DumbBuffer, GemHandle } from './drm';
export type { DrmDeviceInfo, DumbOptions, OpenQuery, NodeKind } from './drm';
export { DmaBuf, Mapping, parseFdinfo, ACCESS_MODES } from './dmabuf';
export type { Access, DmaBufInfo, MapOptions } from './dmabuf';
export { SyncFile } from './syncfile';
export { formats, fourccString, fourccValue } from './formats';
export { Frame, FramePool, DRM_FORMAT_MOD_LINEAR } from './frame';
export type {
  FrameDescription, FrameProvider, FrameAllocateOptions, FramePlane, FramePlaneInput, FrameFromOptions, FramePoolOptions,
  FramePoolStats,
} from './frame';
export type { FrameLayout, LayoutOptions, PixelFormatInfo, PlaneFormat, PlaneLayout, V4l2Format } from './formats';
export type { WaitOptions } from './wait';
export { systemError, errnoName, errnoValue, isSystemError } from './errors';
export type { DmabufSystemError, CodedError } from './errors';
export { getBackend, setBackend, backendChoice } from './backend/index';
export type { BackendChoice } from './backend/index';
// The Backend interface and every type its methods take and return (some are also what API objects
// return: SyncFile.info() is a SyncFileInfo, Device.version a DrmVersion).
export type {
  Backend, BackendMethod, V4l2CodecCommand, Fd, MapHandle, StatInfo, DrmVersion, SyncFenceInfo, SyncFileInfo,
  UdmabufItem as BackendUdmabufItem, DumbBuffer as BackendDumbBuffer,
  KmsResources, KmsModeInfo, KmsConnector, KmsCrtc, KmsPlane, KmsEncoder, KmsObjectProperties, KmsProperty, DrmEvent,
  V4l2Capability, V4l2FmtDesc, V4l2FrameSize, V4l2PlaneFormat, V4l2PixFormat, V4l2RequestBuffers, V4l2CreateBuffers,
  V4l2BufferPlane, V4l2Buffer, V4l2QueuePlane, V4l2QueueBuffer, V4l2Input, V4l2Output, V4l2QueryExtCtrl, V4l2QueryMenu,
  V4l2ControlKind, V4l2Control, V4l2ControlValue, V4l2ControlsError, V4l2Event,
  FileOps, MemfdOps, UdmabufOps, HeapOps, DmabufOps, SyncFileOps, PollOps, MappingOps, DrmOps, SwSyncOps, FdPassingOps,
  KmsOps, V4l2Ops,
} from './backend/types';
export * as constants from './constants';
export { Exporter, Attachment } from './exporter';
export type {
  ExporterOptions, Importer, Constraints, CpuMap, DeviceMap, FramebufferMap, QueueMap, AnyMap, MapResult, BackingInfo, ExporterStats, ConstraintsError,
  Layout, Refusal, RefusalKind, ProviderSpec, ExporterEvents, ExporterListener, MoveEvent, EvictEvent,
} from './exporter';
export { v4l2, VideoDevice, VideoQueue, controlKey } from './v4l2';
export type {
  VideoDeviceInfo, QueueInfo, QueueFormat, QueueFormatDesc, QueueOptions, Dequeued, ControlInfo, SetFormatOptions,
  OpenQuery as V4l2OpenQuery, QueueDirection, VideoDeviceEvents, VideoInputInfo, VideoOutputInfo,
} from './v4l2';
export { Display, Framebuffer, DRM_FORMAT_XRGB8888, DRM_FORMAT_ARGB8888 } from './display';
export type { FramebufferPlane } from './framebuffer';
export type {
  DisplayMode, DisplayOptions, ConnectorInfo, FramebufferOptions, FlipOptions, FlipResult, PixelFormat, Plane, PlaneType,
  PlaneAssignment, Rect, CommitOptions, CommitResult, PropertyInfo, PropertyTable, PropertyType, PropertyValue,
} from './display';
export type { EncoderCommand, DecoderCommand, CodecCommandOptions } from './v4l2';
