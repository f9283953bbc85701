/**
 * The KMS objects of the mock's vkms and their properties, as the VM's kernels list them (6.12 and
 * 7.2, read with test/tools/kms-dump.ts): object ids in the kernel's creation order, every property
 * with its name, flags, range or enum entries and default, the IN_FORMATS and WRITEBACK_PIXEL_FORMATS
 * blobs, and the property blobs of the device (created by a file or by the kernel, alive while a file
 * or a state holds them). GETPROPERTY, OBJ_GETPROPERTIES and GETPROPBLOB read from here; setting a
 * property is atomic.ts's.
 *
 * Kernels from 6.13 on are given 7.2's objects (the `kernel` option decides, as it does for the
 * plane formats): BACKGROUND_COLOR on the CRTC, COLOR_ENCODING / COLOR_RANGE on the planes, ABGR8888
 * among the writeback formats, both encoders cloneable, and the writeback connector created before
 * the Virtual one. Core properties no vkms object carries (EDID, PATH, ...) are not modelled:
 * GETPROPERTY of their ids is ENOENT here.
 */
import {
  DRM_MODE_CONNECTOR_VIRTUAL, DRM_MODE_CONNECTOR_WRITEBACK, DRM_MODE_OBJECT_BLOB, DRM_MODE_OBJECT_CONNECTOR,
  DRM_MODE_OBJECT_CRTC, DRM_MODE_OBJECT_ENCODER, DRM_MODE_OBJECT_FB, DRM_MODE_OBJECT_PLANE, DRM_MODE_OBJECT_PROPERTY,
  DRM_MODE_PROP_ATOMIC, DRM_MODE_PROP_BITMASK, DRM_MODE_PROP_BLOB, DRM_MODE_PROP_ENUM, DRM_MODE_PROP_IMMUTABLE,
  DRM_MODE_PROP_OBJECT, DRM_MODE_PROP_RANGE, DRM_MODE_PROP_SIGNED_RANGE,
} from '../../constants';
import { I32_MAX } from '../../errors';
import { fourccValue } from '../../formats';
import type { KmsModeInfo } from '../types';
import type { Fence } from './fences';
import type { Store } from './pages';

export const U32_MAX = 0xffffffff;
export const U64_MAX = (1n << 64n) - 1n;
/** A signed 64-bit value as the kernel's u64 property value carries it. */
export const u64 = (v: bigint | number): bigint => BigInt.asUintN(64, BigInt(v));
/** DRM_MODE_ENCODER_VIRTUAL */
export const ENCODER_VIRTUAL = 5;
/** drm_plane_create_color_properties' defaults on vkms: BT.601, full range. */
const COLOR_ENCODING_DEFAULT = 0;
const COLOR_RANGE_DEFAULT = 1;
/** drm_crtc_attach_background_color_property's default: opaque black (DRM_ARGB64_PREP(0xffff, 0, 0, 0)). */
export const BACKGROUND_DEFAULT = 0xffffn << 48n;
/** vkms's gamma LUT size (VKMS_LUT_SIZE). */
export const LUT_SIZE = 256;
/** DRM_MODE_ROTATE_0 */
export const ROTATE_0 = 1;

export interface PropDef {
  id: number;
  name: string;
  flags: number;
  values: bigint[];
  enums: { value: bigint; name: string }[];
}

/** A property blob: made by a file (CREATEPROPBLOB: owner) or by the kernel (owner null). */
export interface Blob {
  id: number;
  data: Uint8Array;
  /** The file that made it, until it destroys it or closes. */
  owner: object | null;
  /** References from states (MODE_ID, GAMMA_LUT) and from the owning file. */
  refs: number;
}

/** One plane of a framebuffer: its GEM object's memory and layout. */
export interface FbPlane {
  mem: { readonly pages: Store; readonly resv: { pending(write: boolean): Fence[] } };
  pitch: number;
  offset: number;
}

export interface Fb {
  id: number;
  owner: object;
  width: number;
  height: number;
  format: number;
  modifier: bigint;
  planes: FbPlane[];
}

export type PlaneType = 'primary' | 'overlay' | 'cursor';

export interface PlaneObj {
  id: number;
  type: PlaneType;
  /** drm_plane_index: bit of the CRTC's plane_mask. */
  index: number;
  inFormats: Blob;
  props: PropDef[];
  rotation: PropDef;
  colorEncoding: PropDef | null;
  colorRange: PropDef | null;
}

export interface EncoderObj {
  id: number;
  index: number;
  possibleClones: number;
}

export interface WritebackObj {
  formats: number[];
  blob: Blob;
  fenceContext: number;
  fenceSeqno: number;
}

export interface ConnectorObj {
  id: number;
  type: number;
  typeId: number;
  index: number;
  encoder: EncoderObj;
  props: PropDef[];
  /** The legacy DPMS value (drm_connector.dpms), kept outside the atomic state as the kernel does. */
  dpms: number;
  wb: WritebackObj | null;
}

export interface CrtcObj {
  id: number;
  props: PropDef[];
  fenceContext: number;
  fenceSeqno: number;
}

/** The rectangles drm_atomic_helper_check_plane_state leaves: src in 16.16, dst in CRTC pixels. */
export interface Rect {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

export interface PlaneState {
  fb: Fb | null;
  crtc: number;
  crtcX: number;
  crtcY: number;
  crtcW: number;
  crtcH: number;
  srcX: number;
  srcY: number;
  srcW: number;
  srcH: number;
  rotation: number;
  colorEncoding: number;
  colorRange: number;
  visible: boolean;
  src: Rect;
  dst: Rect;
}

export interface CrtcState {
  active: boolean;
  enable: boolean;
  mode: KmsModeInfo | null;
  modeBlob: Blob | null;
  vrr: boolean;
  gammaLut: Blob | null;
  background: bigint;
}

export interface ConnState {
  crtc: number;
  /** best_encoder's id, 0 when the connector drives nothing. */
  encoder: number;
  linkStatus: number;
}

/** One atomic state of the device: what GETCRTC, GETPLANE and the properties read. */
export interface KmsState {
  crtc: CrtcState;
  planes: Map<number, PlaneState>;
  conns: Map<number, ConnState>;
}

export function copyState(s: KmsState): KmsState {
  const planes = new Map<number, PlaneState>();
  for (const [id, p] of s.planes) planes.set(id, { ...p, src: { ...p.src }, dst: { ...p.dst } });
  const conns = new Map<number, ConnState>();
  for (const [id, c] of s.conns) conns.set(id, { ...c });
  return { crtc: { ...s.crtc }, planes, conns };
}

/** The objects of one modesetting device, with its id space (drm_mode_object idr). */
export interface Objects {
  v7: boolean;
  props: Map<number, PropDef>;
  /** Core properties by name (one each; per-plane ones are on the planes). */
  named: Map<string, PropDef>;
  planes: PlaneObj[];
  crtc: CrtcObj;
  encoders: EncoderObj[];
  /** In GETRESOURCES order. */
  connectors: ConnectorObj[];
  blobs: Map<number, Blob>;
  nextId: number;
}

const range = (min: bigint | number, max: bigint | number): bigint[] => [u64(min), u64(max)];
const enumOf = (names: string[]): Pick<PropDef, 'values' | 'enums'> => ({
  values: names.map((_, i) => BigInt(i)), enums: names.map((name, i) => ({ value: BigInt(i), name })),
});
/** DRM_MODE_PROP_ATOMIC, as the u32 flags field holds it (the constant is a negative int32 in JS). */
const A = DRM_MODE_PROP_ATOMIC >>> 0;
/** The core properties vkms's objects carry: flags and values as GETPROPERTY reports them. */
const CORE: Record<string, Omit<PropDef, 'id' | 'name'>> = {
  'DPMS': { flags: DRM_MODE_PROP_ENUM, ...enumOf(['On', 'Standby', 'Suspend', 'Off']) },
  'TILE': { flags: DRM_MODE_PROP_IMMUTABLE | DRM_MODE_PROP_BLOB, values: [], enums: [] },
  'link-status': { flags: DRM_MODE_PROP_ENUM, ...enumOf(['Good', 'Bad']) },
  'non-desktop': { flags: DRM_MODE_PROP_IMMUTABLE | DRM_MODE_PROP_RANGE, values: range(0, 1), enums: [] },
  'type': { flags: DRM_MODE_PROP_IMMUTABLE | DRM_MODE_PROP_ENUM, ...enumOf(['Overlay', 'Primary', 'Cursor']) },
  'SRC_X': { flags: A | DRM_MODE_PROP_RANGE, values: range(0, U32_MAX), enums: [] },
  'SRC_Y': { flags: A | DRM_MODE_PROP_RANGE, values: range(0, U32_MAX), enums: [] },
  'SRC_W': { flags: A | DRM_MODE_PROP_RANGE, values: range(0, U32_MAX), enums: [] },
  'SRC_H': { flags: A | DRM_MODE_PROP_RANGE, values: range(0, U32_MAX), enums: [] },
  'CRTC_X': { flags: A | DRM_MODE_PROP_SIGNED_RANGE, values: range(-I32_MAX - 1, I32_MAX), enums: [] },
  'CRTC_Y': { flags: A | DRM_MODE_PROP_SIGNED_RANGE, values: range(-I32_MAX - 1, I32_MAX), enums: [] },
  'CRTC_W': { flags: A | DRM_MODE_PROP_RANGE, values: range(0, I32_MAX), enums: [] },
  'CRTC_H': { flags: A | DRM_MODE_PROP_RANGE, values: range(0, I32_MAX), enums: [] },
  'FB_ID': { flags: A | DRM_MODE_PROP_OBJECT, values: [BigInt(DRM_MODE_OBJECT_FB)], enums: [] },
  'IN_FENCE_FD': { flags: A | DRM_MODE_PROP_SIGNED_RANGE, values: range(-1, I32_MAX), enums: [] },
  'OUT_FENCE_PTR': { flags: A | DRM_MODE_PROP_RANGE, values: range(0, U64_MAX), enums: [] },
  'CRTC_ID': { flags: A | DRM_MODE_PROP_OBJECT, values: [BigInt(DRM_MODE_OBJECT_CRTC)], enums: [] },
  'ACTIVE': { flags: A | DRM_MODE_PROP_RANGE, values: range(0, 1), enums: [] },
  'MODE_ID': { flags: A | DRM_MODE_PROP_BLOB, values: [], enums: [] },
  'VRR_ENABLED': { flags: DRM_MODE_PROP_RANGE, values: range(0, 1), enums: [] },
  'GAMMA_LUT': { flags: DRM_MODE_PROP_BLOB, values: [], enums: [] },
  'GAMMA_LUT_SIZE': { flags: DRM_MODE_PROP_IMMUTABLE | DRM_MODE_PROP_RANGE, values: range(0, U32_MAX), enums: [] },
  'BACKGROUND_COLOR': { flags: DRM_MODE_PROP_RANGE, values: range(0, U64_MAX), enums: [] },
  'IN_FORMATS': { flags: DRM_MODE_PROP_IMMUTABLE | DRM_MODE_PROP_BLOB, values: [], enums: [] },
};
/** The core properties' ids, as the VM's kernels numbered them (created at drm_mode_config_init). */
const CORE_IDS_6_12: Record<string, number> = {
  'DPMS': 2, 'TILE': 4, 'link-status': 5, 'non-desktop': 6, 'type': 8, 'SRC_X': 9, 'SRC_Y': 10, 'SRC_W': 11,
  'SRC_H': 12, 'CRTC_X': 13, 'CRTC_Y': 14, 'CRTC_W': 15, 'CRTC_H': 16, 'FB_ID': 17, 'IN_FENCE_FD': 18,
  'OUT_FENCE_PTR': 19, 'CRTC_ID': 20, 'ACTIVE': 22, 'MODE_ID': 23, 'VRR_ENABLED': 24, 'GAMMA_LUT': 28,
  'GAMMA_LUT_SIZE': 29, 'IN_FORMATS': 30,
};
const CORE_IDS_7_2: Record<string, number> = {
  'DPMS': 2, 'TILE': 4, 'link-status': 5, 'non-desktop': 7, 'type': 9, 'SRC_X': 10, 'SRC_Y': 11, 'SRC_W': 12,
  'SRC_H': 13, 'CRTC_X': 14, 'CRTC_Y': 15, 'CRTC_W': 16, 'CRTC_H': 17, 'FB_ID': 18, 'IN_FENCE_FD': 19,
  'OUT_FENCE_PTR': 20, 'CRTC_ID': 21, 'ACTIVE': 23, 'MODE_ID': 24, 'VRR_ENABLED': 25, 'GAMMA_LUT': 29,
  'GAMMA_LUT_SIZE': 30, 'BACKGROUND_COLOR': 31, 'IN_FORMATS': 32,
};
const ROTATION_NAMES = ['rotate-0', 'rotate-90', 'rotate-180', 'rotate-270', 'reflect-x', 'reflect-y'];
const PLANE_PROPS = ['type', 'FB_ID', 'IN_FENCE_FD', 'CRTC_ID', 'CRTC_X', 'CRTC_Y', 'CRTC_W', 'CRTC_H', 'SRC_X', 'SRC_Y',
  'SRC_W', 'SRC_H', 'IN_FORMATS'];
const CRTC_PROPS = ['ACTIVE', 'MODE_ID', 'OUT_FENCE_PTR', 'VRR_ENABLED', 'GAMMA_LUT', 'GAMMA_LUT_SIZE'];
const CONNECTOR_PROPS = ['DPMS', 'link-status', 'non-desktop', 'TILE', 'CRTC_ID'];
/** vkms_wb_formats[] */
const WB_FORMATS_6_12 = ['AR24', 'XR24', 'XR48', 'AR48', 'RG16'];
const WB_FORMATS_7_2 = ['AR24', 'XR24', 'AB24', 'XR48', 'AR48', 'RG16'];
/** vkms_output_init with enable_overlay (NUM_OVERLAY_PLANES) and enable_cursor. */
export const OVERLAY_PLANES = 8;

/** create_in_format_blob: struct drm_format_modifier_blob with one modifier (linear) for every format. */
function inFormatsBlob(formats: readonly number[]): Uint8Array {
  const formatsEnd = 24 + 4 * formats.length;
  const modOffset = Math.ceil(formatsEnd / 8) * 8;
  const out = new Uint8Array(modOffset + 24);
  const v = new DataView(out.buffer);
  v.setUint32(0, 1, true); // FORMAT_BLOB_CURRENT
  v.setUint32(8, formats.length, true);
  v.setUint32(12, 24, true);
  v.setUint32(16, 1, true);
  v.setUint32(20, modOffset, true);
  formats.forEach((f, i) => v.setUint32(24 + 4 * i, f, true));
  v.setBigUint64(modOffset, (1n << BigInt(formats.length)) - 1n, true); // every format, from offset 0
  return out; // offset, pad and DRM_FORMAT_MOD_LINEAR: 0
}

function u32Blob(values: readonly number[]): Uint8Array {
  const out = new Uint8Array(4 * values.length);
  const v = new DataView(out.buffer);
  values.forEach((x, i) => v.setUint32(4 * i, x, true));
  return out;
}

/**
 * The objects vkms_output_init makes (with enable_overlay, enable_cursor and, for vkms, enable_writeback)
 * in the kernel's order: planes with their IN_FORMATS blobs and per-plane properties, the CRTC, the
 * Virtual connector and encoder, the writeback connector with its encoder, properties and formats blob.
 * `context()` hands out fence contexts (the CRTC's and the writeback connector's timelines).
 */
export function vkmsObjects(v7: boolean, writeback: boolean, formats: readonly number[], virtualTypeId: number,
  context: () => number): Objects {
  const props = new Map<number, PropDef>();
  const named = new Map<string, PropDef>();
  const blobs = new Map<number, Blob>();
  const ids = v7 ? CORE_IDS_7_2 : CORE_IDS_6_12;
  for (const [name, id] of Object.entries(ids)) {
    const p: PropDef = { id, name, ...structuredClone(CORE[name]!) };
    props.set(id, p);
    named.set(name, p);
  }
  const prop = (id: number, name: string, def: Omit<PropDef, 'id' | 'name'>): PropDef => {
    const p: PropDef = { id, name, ...def };
    props.set(id, p);
    return p;
  };
  const blob = (id: number, data: Uint8Array): Blob => {
    const b: Blob = { id, data, owner: null, refs: 1 };
    blobs.set(id, b);
    return b;
  };
  const core = (names: string[]): PropDef[] => names.map((n) => named.get(n)!);
  // planes: primary, overlays, cursor, each followed by its IN_FORMATS blob and its own properties
  const types: PlaneType[] = ['primary', ...Array.from({ length: OVERLAY_PLANES }, (): PlaneType => 'overlay'), 'cursor'];
  let id = v7 ? 35 : 32;
  const planes = types.map((type, index): PlaneObj => {
    const planeId = id;
    const inFormats = blob(id + 1, inFormatsBlob(formats));
    const rotation = prop(id + 2, 'rotation', { flags: DRM_MODE_PROP_BITMASK, ...enumOf(ROTATION_NAMES) });
    let colorEncoding: PropDef | null = null;
    let colorRange: PropDef | null = null;
    if (v7) {
      colorEncoding = prop(id + 3, 'COLOR_ENCODING',
        { flags: DRM_MODE_PROP_ENUM, ...enumOf(['ITU-R BT.601 YCbCr', 'ITU-R BT.709 YCbCr', 'ITU-R BT.2020 YCbCr']) });
      colorRange = prop(id + 4, 'COLOR_RANGE', { flags: DRM_MODE_PROP_ENUM, ...enumOf(['YCbCr limited range', 'YCbCr full range']) });
    }
    id += v7 ? 5 : 3;
    const own = [rotation, ...(colorEncoding ? [colorEncoding, colorRange!] : [])];
    return { id: planeId, type, index, inFormats, props: [...core(PLANE_PROPS), ...own], rotation, colorEncoding, colorRange };
  });
  const crtc: CrtcObj = { id: id++, props: core([...CRTC_PROPS, ...(v7 ? ['BACKGROUND_COLOR'] : [])]), fenceContext: context(),
    fenceSeqno: 0 };
  const encoders: EncoderObj[] = [];
  const connectors: ConnectorObj[] = [];
  const addVirtual = (): void => {
    const connId = v7 ? id + 1 : id;
    const encoder: EncoderObj = { id: v7 ? id : id + 1, index: encoders.length, possibleClones: 0 };
    id += 2;
    encoders.push(encoder);
    connectors.push({ id: connId, type: DRM_MODE_CONNECTOR_VIRTUAL, typeId: virtualTypeId, index: connectors.length, encoder,
      props: core(CONNECTOR_PROPS), dpms: 0, wb: null });
  };
  const addWriteback = (): void => {
    // 6.12: encoder, properties, formats blob, connector; 7.2: encoder, connector, properties, blob
    const encoder: EncoderObj = { id: id++, index: encoders.length, possibleClones: 0 };
    encoders.push(encoder);
    const connId = v7 ? id++ : id + 4;
    const fbId = prop(id, 'WRITEBACK_FB_ID', { flags: A | DRM_MODE_PROP_OBJECT, values: [BigInt(DRM_MODE_OBJECT_FB)], enums: [] });
    const pixelFormats = prop(id + 1, 'WRITEBACK_PIXEL_FORMATS',
      { flags: A | DRM_MODE_PROP_IMMUTABLE | DRM_MODE_PROP_BLOB, values: [], enums: [] });
    const fence = prop(id + 2, 'WRITEBACK_OUT_FENCE_PTR', { flags: A | DRM_MODE_PROP_RANGE, values: range(0, U64_MAX), enums: [] });
    const wbFormats = (v7 ? WB_FORMATS_7_2 : WB_FORMATS_6_12).map(fourccValue);
    const b = blob(id + 3, u32Blob(wbFormats));
    id += v7 ? 4 : 5;
    connectors.push({ id: connId, type: DRM_MODE_CONNECTOR_WRITEBACK, typeId: 1, index: connectors.length, encoder,
      props: [...core(CONNECTOR_PROPS), fence, fbId, pixelFormats], dpms: 0,
      wb: { formats: wbFormats, blob: b, fenceContext: context(), fenceSeqno: 0 } });
  };
  if (v7 && writeback) addWriteback();
  addVirtual();
  if (!v7 && writeback) addWriteback();
  // possible_clones: 6.12 leaves each encoder its own bit; 7.2's vkms lets them all clone each other
  const all = (1 << encoders.length) - 1;
  for (const e of encoders) e.possibleClones = v7 ? all : 1 << e.index;
  for (const p of props.values()) p.flags >>>= 0;
  // the next id is the fbdev emulation's framebuffer (made when the device registers; never shown here)
  return { v7, props, named, planes, crtc, encoders, connectors, blobs, nextId: id + 1 };
}

/** The state of a device that nothing has set: everything off, the properties at their defaults. */
export function initialState(o: Objects): KmsState {
  const planes = new Map<number, PlaneState>();
  const none: Rect = { x1: 0, y1: 0, x2: 0, y2: 0 };
  for (const p of o.planes) {
    planes.set(p.id, { fb: null, crtc: 0, crtcX: 0, crtcY: 0, crtcW: 0, crtcH: 0, srcX: 0, srcY: 0, srcW: 0, srcH: 0,
      rotation: ROTATE_0, colorEncoding: COLOR_ENCODING_DEFAULT, colorRange: COLOR_RANGE_DEFAULT, visible: false,
      src: { ...none }, dst: { ...none } });
  }
  const conns = new Map<number, ConnState>();
  for (const c of o.connectors) conns.set(c.id, { crtc: 0, encoder: 0, linkStatus: 0 });
  return { crtc: { active: false, enable: false, mode: null, modeBlob: null, vrr: false, gammaLut: null,
    background: BACKGROUND_DEFAULT }, planes, conns };
}

/** What kind of object an id names (drm_mode_object_find with DRM_MODE_OBJECT_ANY), or undefined. */
export function objectType(o: Objects, fbs: ReadonlyMap<number, Fb>, id: number): number | undefined {
  if (id === o.crtc.id) return DRM_MODE_OBJECT_CRTC;
  if (o.planes.some((p) => p.id === id)) return DRM_MODE_OBJECT_PLANE;
  if (o.connectors.some((c) => c.id === id)) return DRM_MODE_OBJECT_CONNECTOR;
  if (o.encoders.some((e) => e.id === id)) return DRM_MODE_OBJECT_ENCODER;
  if (o.props.has(id)) return DRM_MODE_OBJECT_PROPERTY;
  if (o.blobs.has(id)) return DRM_MODE_OBJECT_BLOB;
  if (fbs.has(id)) return DRM_MODE_OBJECT_FB;
  return undefined;
}

/** The property list of an object that has one (a CRTC, a plane, a connector). */
export function objectProps(o: Objects, id: number): PropDef[] | undefined {
  if (id === o.crtc.id) return o.crtc.props;
  return o.planes.find((p) => p.id === id)?.props ?? o.connectors.find((c) => c.id === id)?.props;
}

/** The value a property of an object reads (drm_atomic_get_property, or the immutable value). */
export function propValue(o: Objects, s: KmsState, objId: number, p: PropDef): bigint {
  const blobId = (b: Blob | null): bigint => BigInt(b?.id ?? 0);
  if (objId === o.crtc.id) {
    const c = s.crtc;
    switch (p.name) {
      case 'ACTIVE': return c.active ? 1n : 0n;
      case 'MODE_ID': return blobId(c.modeBlob);
      case 'VRR_ENABLED': return c.vrr ? 1n : 0n;
      case 'GAMMA_LUT': return blobId(c.gammaLut);
      case 'GAMMA_LUT_SIZE': return BigInt(LUT_SIZE);
      case 'BACKGROUND_COLOR': return c.background;
      default: return 0n; // OUT_FENCE_PTR
    }
  }
  const plane = o.planes.find((x) => x.id === objId);
  if (plane !== undefined) {
    const st = s.planes.get(objId)!;
    if (p === plane.rotation) return BigInt(st.rotation);
    if (p === plane.colorEncoding) return BigInt(st.colorEncoding);
    if (p === plane.colorRange) return BigInt(st.colorRange);
    switch (p.name) {
      case 'type': return BigInt(['overlay', 'primary', 'cursor'].indexOf(plane.type));
      case 'FB_ID': return BigInt(st.fb?.id ?? 0);
      case 'IN_FENCE_FD': return U64_MAX; // -1
      case 'CRTC_ID': return BigInt(st.crtc);
      case 'CRTC_X': return u64(st.crtcX);
      case 'CRTC_Y': return u64(st.crtcY);
      case 'CRTC_W': return BigInt(st.crtcW);
      case 'CRTC_H': return BigInt(st.crtcH);
      case 'SRC_X': return BigInt(st.srcX);
      case 'SRC_Y': return BigInt(st.srcY);
      case 'SRC_W': return BigInt(st.srcW);
      case 'SRC_H': return BigInt(st.srcH);
      case 'IN_FORMATS': return BigInt(plane.inFormats.id);
      default: return 0n;
    }
  }
  const conn = o.connectors.find((c) => c.id === objId)!;
  const st = s.conns.get(objId)!;
  switch (p.name) {
    case 'DPMS': return BigInt(conn.dpms);
    case 'link-status': return BigInt(st.linkStatus);
    case 'CRTC_ID': return BigInt(st.crtc);
    case 'WRITEBACK_PIXEL_FORMATS': return BigInt(conn.wb?.blob.id ?? 0);
    default: return 0n; // non-desktop, TILE, WRITEBACK_FB_ID (one-shot), WRITEBACK_OUT_FENCE_PTR
  }
}

/** drm_property_blob_put: the blob goes (and its id with it) with its last reference. */
export function putBlob(o: Objects, b: Blob | null): void {
  if (b === null) return;
  if (--b.refs <= 0) o.blobs.delete(b.id);
}

export function getBlob(b: Blob | null): Blob | null {
  if (b !== null) b.refs++;
  return b;
}

/** drm_property_create_blob: a new blob of the device (refs 1: the creator's). */
export function newBlob(o: Objects, data: Uint8Array, owner: object | null): Blob {
  const b: Blob = { id: o.nextId++, data: Uint8Array.from(data), owner, refs: 1 };
  o.blobs.set(b.id, b);
  return b;
}

/** struct drm_mode_modeinfo as MODE_ID blobs carry it (68 bytes). */
export function modeToBytes(m: KmsModeInfo): Uint8Array {
  const out = new Uint8Array(68);
  const v = new DataView(out.buffer);
  v.setUint32(0, m.clock, true);
  [m.hdisplay, m.hsyncStart, m.hsyncEnd, m.htotal, m.hskew, m.vdisplay, m.vsyncStart, m.vsyncEnd, m.vtotal, m.vscan]
    .forEach((x, i) => v.setUint16(4 + 2 * i, x, true));
  v.setUint32(24, m.vrefresh, true);
  v.setUint32(28, m.flags, true);
  v.setUint32(32, m.type, true);
  out.set(Buffer.from(m.name, 'latin1').subarray(0, 31), 36);
  return out;
}

export function modeFromBytes(b: Uint8Array): KmsModeInfo {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const u16 = (i: number): number => v.getUint16(4 + 2 * i, true);
  const nameBytes = b.subarray(36, 68);
  const nul = nameBytes.indexOf(0);
  return {
    clock: v.getUint32(0, true), hdisplay: u16(0), hsyncStart: u16(1), hsyncEnd: u16(2), htotal: u16(3), hskew: u16(4),
    vdisplay: u16(5), vsyncStart: u16(6), vsyncEnd: u16(7), vtotal: u16(8), vscan: u16(9), vrefresh: v.getUint32(24, true),
    flags: v.getUint32(28, true), type: v.getUint32(32, true),
    name: Buffer.from(nameBytes.subarray(0, nul < 0 ? 31 : Math.min(nul, 31))).toString('latin1'),
  };
}

/** drm_mode_equal: the timings, clock and flags (not the name, type or vrefresh). */
export function sameMode(a: KmsModeInfo | null, b: KmsModeInfo | null): boolean {
  if (a === null || b === null) return a === b;
  return a.clock === b.clock && a.hdisplay === b.hdisplay && a.hsyncStart === b.hsyncStart && a.hsyncEnd === b.hsyncEnd &&
    a.htotal === b.htotal && a.hskew === b.hskew && a.vdisplay === b.vdisplay && a.vsyncStart === b.vsyncStart &&
    a.vsyncEnd === b.vsyncEnd && a.vtotal === b.vtotal && a.vscan === b.vscan && a.flags === b.flags;
}

/**
 * drm_mode_convert_umode + drm_mode_validate_basic: the checks a mode from userspace passes (clock and
 * refresh in int range, a picture aspect ratio the core knows, a clock, timings in order).
 */
export function modeValid(m: KmsModeInfo): boolean {
  if (m.clock > 0x7fffffff || m.vrefresh > 0x7fffffff) return false;
  if (((m.flags >>> 19) & 0xf) > 4) return false; // DRM_MODE_FLAG_PIC_AR_*: none, 4:3, 16:9, 64:27, 256:135
  if (m.clock === 0) return false;
  return m.hdisplay !== 0 && m.hdisplay <= m.hsyncStart && m.hsyncStart <= m.hsyncEnd && m.hsyncEnd <= m.htotal &&
    m.vdisplay !== 0 && m.vdisplay <= m.vsyncStart && m.vsyncStart <= m.vsyncEnd && m.vsyncEnd <= m.vtotal;
}

/** A rectangle for the mode's area, as drm_mode_get_hv_timing gives it (the clip of the planes). */
export function modeRect(m: KmsModeInfo | null): Rect {
  return { x1: 0, y1: 0, x2: m?.hdisplay ?? 0, y2: m?.vdisplay ?? 0 };
}
