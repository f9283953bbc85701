/**
 * memfd_create, ftruncate and seals of the mock kernel (native/fd.cc; mm/memfd.c, mm/shmem.c).
 * hugetlb memfds are not modelled.
 */
import {
  F_ALL_SEALS, F_SEAL_EXEC, F_SEAL_FUTURE_WRITE, F_SEAL_GROW, F_SEAL_SEAL, F_SEAL_SHRINK, F_SEAL_WRITE,
  MFD_ALL_FLAGS, MFD_ALLOW_SEALING, MFD_EXEC, MFD_HUGE_MASK, MFD_HUGE_SHIFT, MFD_HUGETLB, MFD_NAME_MAX_LEN,
  MFD_NOEXEC_SEAL, O_RDWR,
} from '../../constants';
import { systemError, unsupportedError } from '../../errors';
import type { MemfdOps } from '../types';
import { type Machine, type ShmInode, u32, writable } from './kernel';
import { Extents } from './pages';

const MFD_HUGE_BITS = MFD_HUGE_MASK << MFD_HUGE_SHIFT;

export function memfdOps(m: Machine): MemfdOps {
  return {
    memfdCreate(name, flags) {
      const syscall = 'memfd_create';
      // MFD_CLOEXEC is always added (an fd of the model is close-on-exec unless installed otherwise)
      if (flags & ~(MFD_ALL_FLAGS | MFD_HUGE_BITS)) throw systemError('EINVAL', syscall);
      if (!(flags & MFD_HUGETLB) && (flags & MFD_HUGE_BITS)) throw systemError('EINVAL', syscall);
      if ((flags & MFD_EXEC) && (flags & MFD_NOEXEC_SEAL)) throw systemError('EINVAL', syscall);
      if (Buffer.byteLength(name) > MFD_NAME_MAX_LEN) throw systemError('EINVAL', syscall);
      if (flags & MFD_HUGETLB) throw unsupportedError('hugetlb memfds are not modelled by the mock backend');
      let seals = (flags & (MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL)) ? 0 : F_SEAL_SEAL;
      if (flags & MFD_NOEXEC_SEAL) seals |= F_SEAL_EXEC;
      const node: ShmInode = { ino: m.ino(), mem: new Extents(), writableMaps: 0, seals, name, memfd: true };
      return m.install(m.file(`/memfd:${name}`, O_RDWR, { kind: 'memfd', node }, node.ino), true, syscall);
    },

    ftruncate(fd, size) {
      const f = m.get(fd, 'ftruncate');
      if (f.kind !== 'memfd' || !writable(f)) throw systemError('EINVAL', 'ftruncate');
      const node = f.node;
      if ((size < node.mem.size && (node.seals & F_SEAL_SHRINK)) || (size > node.mem.size && (node.seals & F_SEAL_GROW))) {
        throw systemError('EPERM', 'ftruncate');
      }
      node.mem.resize(size);
    },

    addSeals(fd, seals) {
      const syscall = 'fcntl(F_ADD_SEALS)';
      let add = u32(seals); // fcntl's int argument, taken as unsigned by memfd_add_seals()
      const f = m.get(fd, syscall);
      if (f.kind !== 'memfd') throw systemError('EINVAL', syscall);
      if (!writable(f)) throw systemError('EPERM', syscall);
      if (add & ~F_ALL_SEALS) throw systemError('EINVAL', syscall);
      const node = f.node;
      if (node.seals & F_SEAL_SEAL) throw systemError('EPERM', syscall);
      if ((add & F_SEAL_WRITE) && !(node.seals & F_SEAL_WRITE) && node.writableMaps > 0) {
        throw systemError('EBUSY', syscall); // mapping_deny_writable()
      }
      if (add & F_SEAL_EXEC) add |= F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_FUTURE_WRITE;
      node.seals |= add;
    },

    getSeals(fd) {
      const syscall = 'fcntl(F_GET_SEALS)';
      const f = m.get(fd, syscall);
      if (f.kind !== 'memfd') throw systemError('EINVAL', syscall);
      return f.node.seals;
    },
  };
}
