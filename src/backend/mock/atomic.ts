/**
 * Atomic KMS on the mock's vkms (native/kms.cc's atomic half): GETENCODER, OBJ_GETPROPERTIES,
 * GETPROPERTY, GETPROPBLOB, CREATEPROPBLOB, DESTROYPROPBLOB and ATOMIC, with the errno the VM's 6.12
 * and 7.2 kernels give (test/01-backend-atomic.test.ts holds every refusal test/tools/kms-dump.ts
 * recorded there). The objects and properties are props.ts's, the check and the commit commit.ts's,
 * the picture compose.ts's; the legacy SETCRTC, PAGE_FLIP and RMFB of kms.ts are commits on the same
 * state.
 *
 * ATOMIC runs as drm_mode_atomic_ioctl does: DRM master (EACCES), the ATOMIC client cap (EINVAL),
 * the flags (unknown ones, PAGE_FLIP_ASYNC, TEST_ONLY with an event: EINVAL); then each object
 * (unknown, or one without properties: ENOENT) and each of its properties (not the object's: ENOENT)
 * in order, with drm_property_change_valid_get's checks (immutable, out of range, unknown bitmask
 * bits, enum values, a blob or object that does not exist: EINVAL) and the setters' (a MODE_ID blob
 * of the wrong size or an invalid mode, a GAMMA_LUT of a partial entry, a rotation of more than one
 * angle, a second IN_FENCE_FD or one that is no sync file, DPMS: EINVAL; a fence pointer the addon
 * did not make: EFAULT). Then prepare_signaling (not for TEST_ONLY): a flip event and an out-fence
 * for the CRTC, a fence for a writeback job (an event without a CRTC: EINVAL; the file's 4 KiB of
 * event space used up: ENOMEM). Then drm_atomic_check_only in the kernel's order:
 *
 * - drm_atomic_plane_check for the planes of the request: a CRTC without FB or an FB without CRTC,
 *   a format the plane does not take (EINVAL), CRTC coordinates that overflow (ERANGE), a source
 *   rectangle outside the framebuffer (ENOSPC);
 * - drm_atomic_crtc_check: ACTIVE without a mode, an event for a CRTC that is off and stays off;
 * - drm_atomic_connector_check: a writeback FB without CRTC or on an inactive CRTC, a writeback
 *   fence without FB (EINVAL);
 * - vkms_atomic_check: a GAMMA_LUT of more than 256 entries (EINVAL), then
 *   drm_atomic_helper_check_modeset: a mode without connectors or connectors without a mode, the
 *   writeback FB's size (it must be the mode's) and format (WRITEBACK_PIXEL_FORMATS), encoders on
 *   one CRTC that are no clones of each other (6.12: the writeback connector cannot share the CRTC
 *   with Virtual-1; 7.2: it can) (EINVAL);
 * - drm_atomic_helper_check_planes → vkms_plane_atomic_check → drm_atomic_helper_check_plane_state:
 *   no scaling (ERANGE), the rectangles clipped to the mode (a plane outside it is invisible, not
 *   an error), then the CRTC's visible planes;
 * - a modeset without DRM_MODE_ATOMIC_ALLOW_MODESET (EINVAL).
 *
 * TEST_ONLY stops there and changes nothing. A commit then takes the place of the state at once (as
 * drm_atomic_helper_swap_state does: GETCRTC, GETPLANE, GETCONNECTOR, GETENCODER and the properties
 * read the new state when the ioctl returns), and its "hardware" part follows: when every fence it
 * waits for has signalled (its planes' IN_FENCE_FDs and the write fences of their framebuffers'
 * buffers, as drm_gem_plane_helper_prepare_fb adds them), one vblank later the CRTC's vblank count
 * moves on, the flip-complete event is queued (user_data, crtc_id, sequence, timestamp), the
 * out-fence signals, and a writeback job's framebuffer receives the composed picture, after which
 * its fence signals. A NONBLOCK commit while an earlier one has not reached its vblank: EBUSY.
 *
 * Differences from the kernel (a JS model cannot block the JS thread):
 * - A blocking commit whose fences have all signalled (and with nothing pending before it) has its
 *   vblank at once: the event is queued and the out-fence signalled when the call returns, as after
 *   the kernel's wait for flip_done. The writeback picture still lands on a later turn of the event
 *   loop (the kernel's composer runs after the vblank too): wait for its fence.
 * - A blocking commit with an unsignalled fence, or behind a pending commit whose fences have not
 *   signalled, returns at once with its state in place; its vblank comes once the fences signal,
 *   as for a NONBLOCK commit (the kernel would sleep in the ioctl until then).
 * - CRC, the colorop pipeline and vblank events without a commit are not modelled; YUV planes are
 *   checked like the kernel's but not composed (compose.ts).
 */
import {
  DRM_CLIENT_CAP_ATOMIC, DRM_MODE_ATOMIC_ALLOW_MODESET, DRM_MODE_ATOMIC_FLAGS,
  DRM_MODE_ATOMIC_NONBLOCK, DRM_MODE_ATOMIC_TEST_ONLY, DRM_MODE_OBJECT_ANY, DRM_MODE_OBJECT_CONNECTOR,
  DRM_MODE_OBJECT_CRTC, DRM_MODE_PAGE_FLIP_ASYNC, DRM_MODE_PAGE_FLIP_EVENT, DRM_MODE_PROP_ATOMIC, DRM_MODE_PROP_BITMASK,
  DRM_MODE_PROP_BLOB, DRM_MODE_PROP_ENUM, DRM_MODE_PROP_IMMUTABLE, DRM_MODE_PROP_OBJECT,
  DRM_MODE_PROP_RANGE, DRM_MODE_PROP_SIGNED_RANGE,
} from '../../constants';
import { systemError } from '../../errors';
import type { Fd, KmsOps } from '../types';
import { apply, busy, CheckError, check, fail, newRequest, type Request, touchConn, touchPlane } from './commit';
import { drmFile } from './drm';
import { Fence, SyncPayload } from './fences';
import type { Machine } from './kernel';
import type { KmsFile, Pipe } from './kms';
import {
  type ConnectorObj, modeFromBytes, modeValid, newBlob, objectProps, objectType, type PlaneObj, type PropDef, propValue,
  putBlob, U32_MAX,
} from './props';
import { newSyncFile } from './sync';

export type AtomicOps = Pick<KmsOps, 'kmsGetEncoder' | 'kmsGetProperties' | 'kmsGetProperty' | 'kmsGetBlob' | 'kmsCreateBlob'
  | 'kmsDestroyBlob' | 'kmsAtomic'>;

const ATOMIC = 'ioctl(DRM_IOCTL_MODE_ATOMIC)';
/** The fake user addresses the mock gives OUT_FENCE_PTR values (the addon's s32 slots): one per slot. */
const SLOT_BASE = 0x7ffd_0000_0000n;

// ---- setting properties ------------------------------------------------------------------------------------

/** drm_property_change_valid_get */
function valueValid(p: Pipe, prop: PropDef, v: bigint): boolean {
  if (prop.flags & DRM_MODE_PROP_IMMUTABLE) return false;
  if (prop.flags & DRM_MODE_PROP_RANGE) return v >= prop.values[0]! && v <= prop.values[1]!;
  if ((prop.flags & 0xffc0) === DRM_MODE_PROP_SIGNED_RANGE) {
    const s = BigInt.asIntN(64, v);
    return s >= BigInt.asIntN(64, prop.values[0]!) && s <= BigInt.asIntN(64, prop.values[1]!);
  }
  if (prop.flags & DRM_MODE_PROP_BITMASK) {
    const mask = prop.values.reduce((a, b) => a | (1n << b), 0n);
    return (v & ~mask) === 0n;
  }
  if (prop.flags & DRM_MODE_PROP_BLOB) return v === 0n || (v <= U32_MAX && p.o.blobs.has(Number(v)));
  if ((prop.flags & 0xffc0) === DRM_MODE_PROP_OBJECT) {
    if (v === 0n) return true;
    return v <= U32_MAX && objectType(p.o, p.fbs, Number(v)) === Number(prop.values[0]);
  }
  if (prop.flags & DRM_MODE_PROP_ENUM) return prop.values.includes(v);
  return false;
}

/** A fence pointer: the addon's slot it names, or EFAULT for an address the kernel could not write. */
function slotOf(v: bigint, slots: number): number | null {
  if (v === 0n) return null;
  const i = v - SLOT_BASE;
  if (i < 0n || i % 4n !== 0n || i / 4n >= BigInt(slots)) throw new CheckError('EFAULT');
  return Number(i / 4n);
}

interface SetContext {
  m: Machine;
  p: Pipe;
  f: KmsFile;
  r: Request;
  slots: number;
}

function setCrtcProp(x: SetContext, prop: PropDef, v: bigint): void {
  const { p, r } = x;
  const c = r.next.crtc;
  r.crtc = true;
  switch (prop.name) {
    case 'ACTIVE': c.active = v === 1n; break;
    case 'MODE_ID': {
      const blob = v === 0n ? null : p.o.blobs.get(Number(v))!;
      if (blob === c.modeBlob) break;
      c.modeBlob = null;
      c.mode = null;
      c.enable = false;
      if (blob !== null) {
        if (blob.data.length !== 68) fail();
        const mode = modeFromBytes(blob.data);
        if (!modeValid(mode)) fail();
        c.modeBlob = blob;
        c.mode = mode;
        c.enable = true;
      }
      break;
    }
    case 'VRR_ENABLED': c.vrr = v === 1n; break;
    case 'GAMMA_LUT': {
      const blob = v === 0n ? null : p.o.blobs.get(Number(v))!;
      if (blob !== null && blob.data.length % 8 !== 0) fail();
      if (blob !== c.gammaLut) r.colorMgmtChanged = true;
      c.gammaLut = blob;
      break;
    }
    case 'OUT_FENCE_PTR': {
      const slot = slotOf(v, x.slots);
      if (slot !== null) r.crtcFenceSlot = slot;
      break;
    }
    case 'BACKGROUND_COLOR': c.background = v; break;
    default: fail();
  }
}

function setPlaneProp(x: SetContext, plane: PlaneObj, prop: PropDef, v: bigint): void {
  const { m, p, r } = x;
  const st = touchPlane(r, plane.id);
  if (prop === plane.rotation) {
    const angle = Number(v & 0xfn);
    if (angle === 0 || (angle & (angle - 1)) !== 0) fail();
    st.rotation = Number(v);
    return;
  }
  if (prop === plane.colorEncoding) { st.colorEncoding = Number(v); return; }
  if (prop === plane.colorRange) { st.colorRange = Number(v); return; }
  switch (prop.name) {
    case 'FB_ID': st.fb = v === 0n ? null : p.fbs.get(Number(v))!; break;
    case 'IN_FENCE_FD': {
      if (r.inFences.has(plane.id)) fail();
      const fd = Number(BigInt.asIntN(64, v));
      if (fd === -1) break;
      const file = m.fds.get(fd);
      if (file?.kind !== 'syncfile') fail(); // sync_file_get_fence
      if (file?.kind === 'syncfile') r.inFences.set(plane.id, [...file.sync.fences]);
      break;
    }
    case 'CRTC_ID': {
      if (st.crtc !== 0 || v !== 0n) r.crtc = true;
      st.crtc = Number(v);
      break;
    }
    case 'CRTC_X': st.crtcX = Number(BigInt.asIntN(64, v)); break;
    case 'CRTC_Y': st.crtcY = Number(BigInt.asIntN(64, v)); break;
    case 'CRTC_W': st.crtcW = Number(v); break;
    case 'CRTC_H': st.crtcH = Number(v); break;
    case 'SRC_X': st.srcX = Number(v); break;
    case 'SRC_Y': st.srcY = Number(v); break;
    case 'SRC_W': st.srcW = Number(v); break;
    case 'SRC_H': st.srcH = Number(v); break;
    default: fail();
  }
}

function setConnectorProp(x: SetContext, conn: ConnectorObj, prop: PropDef, v: bigint): void {
  const { p, r } = x;
  touchConn(r, conn.id);
  const st = r.next.conns.get(conn.id)!;
  switch (prop.name) {
    case 'CRTC_ID': {
      if (st.crtc !== 0 || v !== 0n) r.crtc = true;
      st.crtc = Number(v);
      break;
    }
    case 'DPMS': fail(); break; // the legacy SETPROPERTY path's alone
    case 'link-status': if (st.linkStatus !== 0) st.linkStatus = Number(v); break; // never GOOD → BAD from userspace
    case 'WRITEBACK_FB_ID': {
      const fb = v === 0n ? null : p.fbs.get(Number(v))!;
      if (r.wbJob === null) r.wbJob = { conn, fb, fence: null };
      else r.wbJob.fb = fb;
      break;
    }
    case 'WRITEBACK_OUT_FENCE_PTR': {
      const slot = slotOf(v, x.slots);
      if (slot !== null) r.wbFenceSlot = slot;
      break;
    }
    default: fail();
  }
}

// ---- the ioctls --------------------------------------------------------------------------------------------

/** The atomic KMS ioctls of the DRM files (native/kms.cc), answered by the Machine's KMS model. */
export function atomicOps(m: Machine): AtomicOps {
  /** A KMS ioctl without DRM_MASTER: the device's objects (EOPNOTSUPP without modesetting). */
  const objs = (fd: Fd, syscall: string): { p: Pipe; f: KmsFile } => {
    const f = drmFile(m, fd, syscall);
    return { p: m.kms.enter(f.dev, f, syscall), f };
  };

  return {
    kmsGetEncoder(fd, encoderId) {
      const syscall = 'ioctl(DRM_IOCTL_MODE_GETENCODER)';
      const { p } = objs(fd, syscall);
      const e = p.o.encoders.find((x) => x.id === encoderId);
      if (e === undefined) throw systemError('ENOENT', syscall);
      // drm_encoder_get_crtc: the CRTC of the connector whose best encoder it is
      const conn = p.o.connectors.find((c) => p.state.conns.get(c.id)!.encoder === e.id);
      return { id: e.id, type: 5, crtcId: conn ? p.state.conns.get(conn.id)!.crtc : 0, possibleCrtcs: 1,
        possibleClones: e.possibleClones };
    },

    kmsGetProperties(fd, objectId, objectType_) {
      const syscall = 'ioctl(DRM_IOCTL_MODE_OBJ_GETPROPERTIES)';
      const { p, f } = objs(fd, syscall);
      const type = objectType(p.o, p.fbs, objectId);
      if (type === undefined || (objectType_ !== DRM_MODE_OBJECT_ANY && type !== objectType_)) throw systemError('ENOENT', syscall);
      const list = objectProps(p.o, objectId);
      if (list === undefined) throw systemError('EINVAL', syscall); // an object without properties
      const atomic = (f.clientCaps.get(DRM_CLIENT_CAP_ATOMIC) ?? 0) > 0;
      const shown = list.filter((x) => atomic || !(x.flags & DRM_MODE_PROP_ATOMIC));
      return { ids: shown.map((x) => x.id), values: shown.map((x) => propValue(p.o, p.state, objectId, x)) };
    },

    kmsGetProperty(fd, propertyId) {
      const syscall = 'ioctl(DRM_IOCTL_MODE_GETPROPERTY)';
      const { p } = objs(fd, syscall);
      const prop = p.o.props.get(propertyId);
      if (prop === undefined) throw systemError('ENOENT', syscall);
      const enums = prop.flags & (DRM_MODE_PROP_ENUM | DRM_MODE_PROP_BITMASK) ? prop.enums.map((e) => ({ ...e })) : [];
      return { id: prop.id, name: prop.name, flags: prop.flags, values: [...prop.values], enums };
    },

    kmsGetBlob(fd, blobId) {
      const syscall = 'ioctl(DRM_IOCTL_MODE_GETPROPBLOB)';
      const { p } = objs(fd, syscall);
      const b = p.o.blobs.get(blobId);
      if (b === undefined) throw systemError('ENOENT', syscall);
      return Buffer.from(b.data); // a copy, a Buffer as the addon's Napi::Buffer
    },

    kmsCreateBlob(fd, data) {
      const syscall = 'ioctl(DRM_IOCTL_MODE_CREATEPROPBLOB)';
      const { p, f } = objs(fd, syscall);
      if (data.length === 0) throw systemError('EINVAL', syscall);
      return newBlob(p.o, data, f).id;
    },

    kmsDestroyBlob(fd, blobId) {
      const syscall = 'ioctl(DRM_IOCTL_MODE_DESTROYPROPBLOB)';
      const { p, f } = objs(fd, syscall);
      const b = p.o.blobs.get(blobId);
      if (b === undefined) throw systemError('ENOENT', syscall); // drm_property_lookup_blob found none
      if (b.owner !== f) throw systemError('EPERM', syscall); // "created by this user" only
      b.owner = null;
      putBlob(p.o, b);
    },

    kmsAtomic(fd, flags, objects, counts, props, values, userData, outFences) {
      // the addon's own checks, before the ioctl
      const total = counts.reduce((a, c) => a + c, 0);
      if (objects.length !== counts.length || props.length !== values.length || total !== props.length) {
        throw systemError('EINVAL', ATOMIC);
      }
      if (outFences.some((i) => i >= values.length)) throw systemError('EINVAL', ATOMIC);
      const vals = [...values];
      outFences.forEach((i, k) => { vals[i] = SLOT_BASE + BigInt(4 * k); });
      const slots: Fd[] = outFences.map(() => -1);

      const f = drmFile(m, fd, ATOMIC);
      const p = m.kms.enter(f.dev, f, ATOMIC, true);
      if ((f.clientCaps.get(DRM_CLIENT_CAP_ATOMIC) ?? 0) === 0) throw systemError('EINVAL', ATOMIC);
      if (flags & ~DRM_MODE_ATOMIC_FLAGS || flags & DRM_MODE_PAGE_FLIP_ASYNC) throw systemError('EINVAL', ATOMIC);
      const testOnly = (flags & DRM_MODE_ATOMIC_TEST_ONLY) !== 0;
      const event = (flags & DRM_MODE_PAGE_FLIP_EVENT) !== 0;
      if (testOnly && event) throw systemError('EINVAL', ATOMIC);

      const r = newRequest(p, (flags & DRM_MODE_ATOMIC_ALLOW_MODESET) !== 0);
      const x: SetContext = { m, p, f, r, slots: outFences.length };
      const installed: Fd[] = [];
      try {
        let at = 0;
        objects.forEach((id, i) => {
          const type = objectType(p.o, p.fbs, id);
          const list = objectProps(p.o, id);
          if (type === undefined || list === undefined) throw new CheckError('ENOENT');
          for (let j = 0; j < counts[i]!; j++, at++) {
            const prop = list.find((q) => q.id === props[at]);
            if (prop === undefined) throw new CheckError('ENOENT');
            const v = vals[at]!;
            if (!valueValid(p, prop, v)) throw new CheckError('EINVAL');
            if (type === DRM_MODE_OBJECT_CRTC) setCrtcProp(x, prop, v);
            else if (type === DRM_MODE_OBJECT_CONNECTOR) setConnectorProp(x, p.o.connectors.find((c) => c.id === id)!, prop, v);
            else setPlaneProp(x, p.o.planes.find((q) => q.id === id)!, prop, v);
          }
        });
        // prepare_signaling
        if (!testOnly) {
          const install = (fence: Fence, slot: number): void => {
            const sfd = m.install(newSyncFile(m, new SyncPayload(m.hub, [fence])), true, ATOMIC, 'ENOMEM');
            installed.push(sfd);
            slots[slot] = sfd;
          };
          if (r.crtc && (event || r.crtcFenceSlot !== null)) {
            if (event) m.kms.reserveEvent(f, ATOMIC);
            r.event = { file: event ? f : null, userData };
            if (r.crtcFenceSlot !== null) {
              const c = p.o.crtc;
              r.outFence = new Fence(p.driver, `CRTC:${c.id}-crtc-0`, c.fenceContext, ++c.fenceSeqno);
              install(r.outFence, r.crtcFenceSlot);
            }
          }
          if (r.wbJob !== null && r.wbFenceSlot !== null) {
            const conn = r.wbJob.conn;
            const wb = conn.wb!;
            r.wbJob.fence = new Fence(p.driver, `CONNECTOR:${conn.id}-Writeback-${conn.typeId}`, wb.fenceContext, ++wb.fenceSeqno);
            install(r.wbJob.fence, r.wbFenceSlot);
          }
          if (!r.crtc && event) throw new CheckError('EINVAL');
        }
        check(p, r);
        if (!testOnly && (flags & DRM_MODE_ATOMIC_NONBLOCK) && r.crtc && busy(p)) throw new CheckError('EBUSY');
      } catch (e) {
        // complete_signaling(…, false): nothing is installed, the event space comes back
        for (const sfd of installed) m.close(sfd);
        if (r.event?.file) m.kms.unreserveEvent(f);
        if (e instanceof CheckError) throw systemError(e.errno, ATOMIC);
        throw e;
      }
      if (testOnly) return slots.map(() => -1);
      apply(m, p, r, (flags & DRM_MODE_ATOMIC_NONBLOCK) === 0);
      return slots;
    },
  };
}
