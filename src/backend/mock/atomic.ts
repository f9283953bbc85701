/**
 * Atomic KMS on the mock (properties, blobs, ATOMIC): not modelled yet; every call is ENOTTY, the
 * kernel's answer to an ioctl it does not know.
 */
import { systemError } from '../../errors';
import type { KmsOps } from '../types';
import type { Machine } from './kernel';

export type AtomicOps = Pick<KmsOps, 'kmsGetEncoder' | 'kmsGetProperties' | 'kmsGetProperty' | 'kmsGetBlob' | 'kmsCreateBlob'
  | 'kmsDestroyBlob' | 'kmsAtomic'>;

export function atomicOps(_m: Machine): AtomicOps {
  const no = (name: string) => (): never => { throw systemError('ENOTTY', `ioctl(${name})`); };
  return {
    kmsGetEncoder: no('DRM_IOCTL_MODE_GETENCODER'),
    kmsGetProperties: no('DRM_IOCTL_MODE_OBJ_GETPROPERTIES'),
    kmsGetProperty: no('DRM_IOCTL_MODE_GETPROPERTY'),
    kmsGetBlob: no('DRM_IOCTL_MODE_GETPROPBLOB'),
    kmsCreateBlob: no('DRM_IOCTL_MODE_CREATEPROPBLOB'),
    kmsDestroyBlob: no('DRM_IOCTL_MODE_DESTROYPROPBLOB'),
    kmsAtomic: no('DRM_IOCTL_MODE_ATOMIC'),
  };
}
