/**
 * What a KMS driver says about itself to an atomic client, as JSON: every object (CRTCs, encoders,
 * connectors with the writeback one, planes) with its properties (name, flags, range or enum, value)
 * and blobs, then the errno of a list of atomic requests the kernel refuses. Used to build and check
 * the mock's vkms model: `node dist/test/tools/kms-dump.js [driver]` (default vkms) in the VM.
 */
import { drm, Frame, getBackend } from '../../src/index';
import {
  DRM_CLIENT_CAP_ATOMIC, DRM_CLIENT_CAP_UNIVERSAL_PLANES, DRM_CLIENT_CAP_WRITEBACK_CONNECTORS,
  DRM_MODE_ATOMIC_ALLOW_MODESET, DRM_MODE_ATOMIC_TEST_ONLY, DRM_MODE_OBJECT_CONNECTOR, DRM_MODE_OBJECT_CRTC,
  DRM_MODE_OBJECT_PLANE, DRM_MODE_PAGE_FLIP_EVENT, DRM_MODE_PROP_BLOB,
} from '../../src/constants';

const b = getBackend();
const dev = drm.open({ driver: process.argv[2] ?? 'vkms' });
const fd = dev.fd;
const out: Record<string, unknown> = { kernel: require('node:os').release() };

const errno = (fn: () => unknown): string => {
  try {
    fn();
    return 'ok';
  } catch (e) {
    return (e as { code?: string }).code ?? String(e);
  }
};

out.atomicWithoutCap = errno(() => b.kmsAtomic(fd, DRM_MODE_ATOMIC_TEST_ONLY, [], [], [], [], 0, []));
b.drmSetClientCap(fd, DRM_CLIENT_CAP_UNIVERSAL_PLANES, 1);
b.drmSetClientCap(fd, DRM_CLIENT_CAP_ATOMIC, 1);
out.writebackCap = errno(() => b.drmSetClientCap(fd, DRM_CLIENT_CAP_WRITEBACK_CONNECTORS, 1));

const propDefs = new Map<number, ReturnType<typeof b.kmsGetProperty>>();
const props = (id: number, type: number): Record<string, string> => {
  const p = b.kmsGetProperties(fd, id, type);
  const named: Record<string, string> = {};
  p.ids.forEach((pid, i) => {
    if (!propDefs.has(pid)) propDefs.set(pid, b.kmsGetProperty(fd, pid));
    const def = propDefs.get(pid)!;
    let v = p.values[i]!.toString();
    if ((def.flags & DRM_MODE_PROP_BLOB) && p.values[i] !== 0n) {
      v += ' blob:' + Buffer.from(b.kmsGetBlob(fd, Number(p.values[i]))).toString('hex');
    }
    named[def.name] = v;
  });
  return named;
};

const res = b.kmsGetResources(fd);
out.resources = res;
out.crtcs = res.crtcs.map((id) => ({ id, props: props(id, DRM_MODE_OBJECT_CRTC) }));
out.encoders = res.encoders.map((id) => b.kmsGetEncoder(fd, id));
out.connectors = res.connectors.map((id) => {
  const c = b.kmsGetConnector(fd, id);
  return { id, type: c.type, typeId: c.typeId, connection: c.connection, encoders: c.encoders, modes: c.modes.length,
    props: props(id, DRM_MODE_OBJECT_CONNECTOR) };
});
const planes = b.kmsGetPlaneResources(fd);
out.planes = planes.map((id) => {
  const p = b.kmsGetPlane(fd, id);
  return { id, possibleCrtcs: p.possibleCrtcs, formats: p.formats.length, props: props(id, DRM_MODE_OBJECT_PLANE) };
});
out.properties = [...propDefs.values()].map((d) => ({
  id: d.id, name: d.name, flags: d.flags, values: d.values.map(String), enums: d.enums.map((e) => `${e.name}=${e.value}`),
}));

// ---- refusals -------------------------------------------------------------------------------------
const id = (obj: number, type: number, name: string): number => {
  const p = b.kmsGetProperties(fd, obj, type);
  const at = p.ids.findIndex((pid) => propDefs.get(pid)?.name === name);
  if (at < 0) throw new Error(`no ${name} on ${obj}`);
  return p.ids[at]!;
};
const crtc = res.crtcs[0]!;
const conns = out.connectors as { id: number; type: number }[];
const conn = conns.find((c) => c.type !== 18)!.id;
const wb = conns.find((c) => c.type === 18)?.id;
const primary = planes[0]!;
const overlay = planes[1]!;
const connector = b.kmsGetConnector(fd, conn);
const mode = connector.modes.find((m) => (m.type & 8) !== 0) ?? connector.modes[0]!;
const modeBytes = Buffer.alloc(68);
{
  let o = 0;
  modeBytes.writeUInt32LE(mode.clock, o); o += 4;
  for (const k of ['hdisplay', 'hsyncStart', 'hsyncEnd', 'htotal', 'hskew', 'vdisplay', 'vsyncStart', 'vsyncEnd', 'vtotal', 'vscan'] as const) {
    modeBytes.writeUInt16LE(mode[k], o); o += 2;
  }
  modeBytes.writeUInt32LE(mode.vrefresh, o); o += 4;
  modeBytes.writeUInt32LE(mode.flags, o); o += 4;
  modeBytes.writeUInt32LE(mode.type, o); o += 4;
  modeBytes.write(mode.name, o, 'latin1');
}
const blob = b.kmsCreateBlob(fd, modeBytes);
const W = mode.hdisplay;
const H = mode.vdisplay;
const frame = Frame.allocate({ width: W, height: H, format: 'XRGB8888' }, { provider: dev });
const fb = dev.addFramebuffer(frame);
const small = Frame.allocate({ width: 64, height: 64, format: 'XRGB8888' }, { provider: dev });
const smallFb = dev.addFramebuffer(small);

type Req = [number, number, bigint][];
const commit = (flags: number, req: Req, fences: number[] = []): string => errno(() => {
  const objs: number[] = [];
  const counts: number[] = [];
  const ps: number[] = [];
  const vs: bigint[] = [];
  for (const [o, p, v] of req) {
    if (objs[objs.length - 1] !== o) { objs.push(o); counts.push(0); }
    counts[counts.length - 1]!++;
    ps.push(p);
    vs.push(v);
  }
  return b.kmsAtomic(fd, flags, objs, counts, ps, vs, 0, fences.map((f) => f));
});
const C = (name: string): number => id(crtc, DRM_MODE_OBJECT_CRTC, name);
const N = (name: string, c = conn): number => id(c, DRM_MODE_OBJECT_CONNECTOR, name);
const P = (name: string, p = primary): number => id(p, DRM_MODE_OBJECT_PLANE, name);
const planeOn = (p: number, f: number, w = W, h = H, x = 0, y = 0, sw = w, sh = h): Req => [
  [p, P('FB_ID', p), BigInt(f)], [p, P('CRTC_ID', p), BigInt(crtc)],
  [p, P('SRC_X', p), 0n], [p, P('SRC_Y', p), 0n], [p, P('SRC_W', p), BigInt(sw) << 16n], [p, P('SRC_H', p), BigInt(sh) << 16n],
  [p, P('CRTC_X', p), BigInt.asUintN(64, BigInt(x))], [p, P('CRTC_Y', p), BigInt.asUintN(64, BigInt(y))],
  [p, P('CRTC_W', p), BigInt(w)], [p, P('CRTC_H', p), BigInt(h)],
];
const modeset: Req = [[crtc, C('MODE_ID'), BigInt(blob)], [crtc, C('ACTIVE'), 1n], [conn, N('CRTC_ID'), BigInt(crtc)]];
const T = DRM_MODE_ATOMIC_TEST_ONLY;
const M = DRM_MODE_ATOMIC_ALLOW_MODESET;
const sorted = (r: Req): Req => [...r].sort((a, z) => a[0] - z[0]);
const full = sorted([...planeOn(primary, fb.id), ...modeset]);
const r: Record<string, string> = {};
r.emptyTestOnly = commit(T, []);
r.badFlags = commit(T | 0x8000, []);
r.testOnlyWithEvent = commit(T | DRM_MODE_PAGE_FLIP_EVENT, []);
r.unknownObject = commit(T, [[999999, C('ACTIVE'), 1n]]);
r.unknownProperty = commit(T, [[crtc, 999999, 1n]]);
r.propertyOfAnotherObject = commit(T, [[crtc, P('FB_ID'), 0n]]);
r.immutable = commit(T, [[primary, P('type'), 1n]]);
r.rangeTooBig = commit(T, [[crtc, C('ACTIVE'), 2n]]);
r.modesetWithoutAllow = commit(T, full);
r.modesetTestOnly = commit(T | M, full);
r.activeWithoutMode = commit(T | M, [[crtc, C('ACTIVE'), 1n]]);
r.planeCrtcOff = commit(T | M, sorted(planeOn(primary, fb.id)));
r.scaling = commit(T | M, sorted([...planeOn(primary, fb.id), ...modeset, ...planeOn(overlay, smallFb.id, 128, 128, 10, 10, 64, 64)]));
r.srcPastFb = commit(T | M, sorted([...planeOn(primary, fb.id), ...modeset, ...planeOn(overlay, smallFb.id, 128, 128, 10, 10, 128, 128)]));
r.fbWithoutCrtc = commit(T | M, sorted([...modeset, [primary, P('FB_ID'), BigInt(fb.id)]]));
r.overlayOffScreen = commit(T | M, sorted([...planeOn(primary, fb.id), ...modeset, ...planeOn(overlay, smallFb.id, 64, 64, W + 10, 10)]));
r.overlayNegative = commit(T | M, sorted([...planeOn(primary, fb.id), ...modeset, ...planeOn(overlay, smallFb.id, 64, 64, -10, -10)]));
r.primarySmall = commit(T | M, sorted([...planeOn(primary, smallFb.id, 64, 64, 10, 10), ...modeset]));
r.badFb = commit(T | M, sorted([...planeOn(primary, 999999), ...modeset]));
r.badInFence = commit(T | M, sorted([...planeOn(primary, fb.id), ...modeset, [primary, P('IN_FENCE_FD'), 999n]]));
r.outFenceTestOnly = commit(T | M, sorted([...planeOn(primary, fb.id), ...modeset, [crtc, C('OUT_FENCE_PTR'), 0n]]), []);
r.badModeBlob = commit(T | M, sorted([...planeOn(primary, fb.id), [crtc, C('MODE_ID'), 999999n], [crtc, C('ACTIVE'), 1n], [conn, N('CRTC_ID'), BigInt(crtc)]]));
if (wb !== undefined) {
  const W_ = (name: string): number => N(name, wb);
  const wbOn: Req = [[wb, W_('CRTC_ID'), BigInt(crtc)]];
  r.writebackModeset = commit(T | M, sorted([...full, ...wbOn, [wb, W_('WRITEBACK_FB_ID'), BigInt(fb.id)]]));
  r.writebackWrongSize = commit(T | M, sorted([...full, ...wbOn, [wb, W_('WRITEBACK_FB_ID'), BigInt(smallFb.id)]]));
  r.writebackNoCrtc = commit(T | M, sorted([...full, [wb, W_('WRITEBACK_FB_ID'), BigInt(fb.id)]]));
  r.writebackFenceWithoutFb = commit(T | M, sorted([...full, ...wbOn, [wb, W_('WRITEBACK_OUT_FENCE_PTR'), 0n]]));
}
out.refusals = r;

// a real modeset with an out-fence, then the CRTC's state
const realFull = sorted([...full, [crtc, C('OUT_FENCE_PTR'), 0n]]);
const fenceAt = realFull.findIndex(([, p]) => p === C('OUT_FENCE_PTR'));
let fences: number[] = [];
out.realModeset = errno(() => {
  const objs: number[] = []; const counts: number[] = []; const ps: number[] = []; const vs: bigint[] = [];
  for (const [o, p, v] of realFull) {
    if (objs[objs.length - 1] !== o) { objs.push(o); counts.push(0); }
    counts[counts.length - 1]!++; ps.push(p); vs.push(v);
  }
  fences = b.kmsAtomic(fd, M | DRM_MODE_PAGE_FLIP_EVENT, objs, counts, ps, vs, 77, [fenceAt]);
});
out.outFence = fences.map((f) => (f >= 0 ? b.syncFileInfo(f) : f));
out.crtcAfter = props(crtc, DRM_MODE_OBJECT_CRTC);
out.primaryAfter = props(primary, DRM_MODE_OBJECT_PLANE);
for (const f of fences) if (f >= 0) b.close(f);
console.log(JSON.stringify(out, (_k, v) => (typeof v === 'bigint' ? v.toString() : v), 1));
fb.release(); smallFb.release(); frame.close(); small.close();
b.kmsDestroyBlob(fd, blob);
dev.close();
