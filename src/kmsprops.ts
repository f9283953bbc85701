/**
 * KMS object properties for atomic modesetting: what OBJ_GETPROPERTIES and GETPROPERTY say about a
 * CRTC, connector or plane, by name; the value encoding of each property type; and the two blobs the
 * library reads or writes (a plane's IN_FORMATS, a CRTC's MODE_ID).
 */
import type { Backend, Fd, KmsModeInfo } from './backend/types';
import {
  DRM_MODE_PROP_ATOMIC, DRM_MODE_PROP_BITMASK, DRM_MODE_PROP_BLOB, DRM_MODE_PROP_ENUM, DRM_MODE_PROP_EXTENDED_TYPE,
  DRM_MODE_PROP_IMMUTABLE, DRM_MODE_PROP_OBJECT, DRM_MODE_PROP_RANGE, DRM_MODE_PROP_SIGNED_RANGE,
} from './constants';
import { invalidArgType, invalidArgValue } from './errors';

export type PropertyType = 'range' | 'signed-range' | 'enum' | 'bitmask' | 'blob' | 'object';

/** One property of a KMS object, as read when the Display was opened. */
export interface PropertyInfo {
  id: number;
  name: string;
  type: PropertyType;
  /** Its value then: a range's number (signed for a signed range), an enum's value, a blob or object id. */
  value: bigint;
  /** Read-only (DRM_MODE_PROP_IMMUTABLE): the driver's description, e.g. IN_FORMATS or a plane's type. */
  immutable: boolean;
  /** Only atomic clients see it (DRM_MODE_PROP_ATOMIC), e.g. FB_ID, CRTC_ID. */
  atomicOnly: boolean;
  /** A range's bounds (inclusive). */
  min?: bigint;
  max?: bigint;
  /** An enum's or bitmask's names and values (a bitmask's value is its bit's mask, 1 << n). */
  enums?: Readonly<Record<string, bigint>>;
}

export type PropertyTable = Readonly<Record<string, PropertyInfo>>;

function typeOf(flags: number): PropertyType {
  if (flags & DRM_MODE_PROP_RANGE) return 'range';
  if (flags & DRM_MODE_PROP_ENUM) return 'enum';
  if (flags & DRM_MODE_PROP_BITMASK) return 'bitmask';
  if (flags & DRM_MODE_PROP_BLOB) return 'blob';
  const ext = flags & DRM_MODE_PROP_EXTENDED_TYPE;
  if (ext === DRM_MODE_PROP_OBJECT) return 'object';
  if (ext === DRM_MODE_PROP_SIGNED_RANGE) return 'signed-range';
  return 'range';
}

/** Every property of one object, by name (OBJ_GETPROPERTIES, then GETPROPERTY of each). */
export function readProperties(backend: Backend, fd: Fd, objectId: number, objectType: number): PropertyTable {
  const { ids, values } = backend.kmsGetProperties(fd, objectId, objectType);
  const table: Record<string, PropertyInfo> = {};
  ids.forEach((id, i) => {
    const p = backend.kmsGetProperty(fd, id);
    const type = typeOf(p.flags);
    const raw = values[i]!;
    const info: PropertyInfo = {
      id, name: p.name, type, value: type === 'signed-range' ? BigInt.asIntN(64, raw) : raw,
      immutable: (p.flags & DRM_MODE_PROP_IMMUTABLE) !== 0, atomicOnly: (p.flags & DRM_MODE_PROP_ATOMIC) !== 0,
    };
    if (type === 'range' || type === 'signed-range') {
      const conv = type === 'signed-range' ? (v: bigint) => BigInt.asIntN(64, v) : (v: bigint) => v;
      if (p.values.length >= 2) {
        info.min = conv(p.values[0]!);
        info.max = conv(p.values[1]!);
      }
    }
    if (type === 'enum' || type === 'bitmask') {
      info.enums = Object.freeze(Object.fromEntries(p.enums.map((e) => [e.name, type === 'bitmask' ? 1n << e.value : e.value])));
    }
    table[p.name] = Object.freeze(info);
  });
  return Object.freeze(table);
}

export type PropertyValue = number | bigint | string | boolean;

/**
 * The u64 the kernel takes for `value` of property `p`: a number or bigint in its range (a signed
 * range's negative values as two's complement), an enum's name, or a bitmask's names joined by '|'.
 * A value out of range is refused here, with the range, before the kernel's EINVAL.
 */
export function encodeValue(p: PropertyInfo, value: PropertyValue, name: string): bigint {
  if (p.immutable) throw invalidArgValue(name, value, `sets ${p.name}, which is immutable`);
  let v: bigint;
  if (typeof value === 'string') {
    if (p.enums === undefined) throw invalidArgValue(name, value, `is a name, but ${p.name} is a ${p.type} property`);
    const parts = p.type === 'bitmask' ? value.split('|').map((s) => s.trim()) : [value];
    v = 0n;
    for (const part of parts) {
      const e = p.enums[part];
      if (e === undefined) {
        throw invalidArgValue(name, value, `is not a value of ${p.name} (${Object.keys(p.enums).join(', ')})`);
      }
      v |= e;
    }
    return v;
  }
  if (typeof value === 'boolean') v = value ? 1n : 0n;
  else if (typeof value === 'bigint') v = value;
  else if (typeof value === 'number' && Number.isSafeInteger(value)) v = BigInt(value);
  else throw invalidArgType(name, 'an integer, a bigint, a boolean or an enum name', value);
  if (p.min !== undefined && p.max !== undefined && (v < p.min || v > p.max)) {
    throw invalidArgValue(name, value, `is outside ${p.name}'s range [${p.min}, ${p.max}]`);
  }
  if (p.type === 'enum' && p.enums !== undefined && !Object.values(p.enums).includes(v)) {
    throw invalidArgValue(name, value, `is not a value of ${p.name} (${Object.keys(p.enums).join(', ')})`);
  }
  return BigInt.asUintN(64, v);
}

/**
 * IN_FORMATS (struct drm_format_modifier_blob): each fourcc the plane takes with its modifiers.
 * Layout: u32 version, flags, count_formats, formats_offset, count_modifiers, modifiers_offset; the
 * fourccs (u32); the modifiers (struct drm_format_modifier: u64 formats bitmask, u32 offset, u32 pad,
 * u64 modifier), bit i of the mask meaning format offset + i.
 */
export function decodeInFormats(blob: Uint8Array): Map<number, bigint[]> {
  const out = new Map<number, bigint[]>();
  if (blob.byteLength < 24) return out;
  const dv = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  const countFormats = dv.getUint32(8, true);
  const formatsOffset = dv.getUint32(12, true);
  const countModifiers = dv.getUint32(16, true);
  const modifiersOffset = dv.getUint32(20, true);
  const fourccs: number[] = [];
  for (let i = 0; i < countFormats && formatsOffset + 4 * i + 4 <= blob.byteLength; i++) {
    const f = dv.getUint32(formatsOffset + 4 * i, true);
    fourccs.push(f);
    out.set(f, []);
  }
  for (let i = 0; i < countModifiers && modifiersOffset + 24 * i + 24 <= blob.byteLength; i++) {
    const at = modifiersOffset + 24 * i;
    const mask = dv.getBigUint64(at, true);
    const offset = dv.getUint32(at + 8, true);
    const modifier = dv.getBigUint64(at + 16, true);
    for (let bit = 0; bit < 64; bit++) {
      if ((mask >> BigInt(bit)) & 1n) out.get(fourccs[offset + bit] ?? -1)?.push(modifier);
    }
  }
  return out;
}

/** The 68 bytes of struct drm_mode_modeinfo, as MODE_ID's blob holds a mode. */
export function modeBlob(m: KmsModeInfo): Uint8Array {
  const b = new Uint8Array(68);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, m.clock, true);
  const u16 = [m.hdisplay, m.hsyncStart, m.hsyncEnd, m.htotal, m.hskew, m.vdisplay, m.vsyncStart, m.vsyncEnd, m.vtotal,
    m.vscan];
  u16.forEach((v, i) => dv.setUint16(4 + 2 * i, v, true));
  dv.setUint32(24, m.vrefresh, true);
  dv.setUint32(28, m.flags, true);
  dv.setUint32(32, m.type, true);
  const name = Buffer.from(m.name, 'latin1').subarray(0, 31);
  b.set(name, 36);
  return b;
}
