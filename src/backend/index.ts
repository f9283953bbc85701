/**
 * Backend selection, done once: the native addon on Linux, the mock elsewhere (macOS, Windows).
 * DMABUF_BACKEND=mock|native forces one (native then fails loudly if the addon does not load).
 *
 * On Linux the mock is never used silently: when the addon does not load and DMABUF_BACKEND is not
 * 'mock', the active backend is a stand-in whose every call throws ERR_DMABUF_NO_NATIVE (what the
 * loader tried, and the fix), and probe() says so.
 */
import type { Backend } from './types';
import { debug, debugEnabled } from '../debug';
import { loadNative } from './native';
import { createMockBackend } from './mock';
import { dmabufError, invalidArgValue, type DmabufError } from '../errors';

export type { Backend } from './types';

export interface BackendChoice {
  backend: Backend;
  /** Why this backend is active. */
  reason: string;
  /** Why the native addon is not active, when it is not. */
  nativeError?: Error;
  /**
   * False when no backend works: on Linux the addon did not load (and DMABUF_BACKEND is not 'mock');
   * then every call of `backend` throws ERR_DMABUF_NO_NATIVE.
   */
  usable: boolean;
  /** The addon file that was loaded, for the native backend. */
  addon?: string;
}

/**
 * The backend that stands in for an addon that did not load: every method throws
 * ERR_DMABUF_NO_NATIVE (a new error each time, with the loader's as `cause`), and so does reading
 * `pageSize`. Its name is 'native': the backend chosen is the native one; it is missing.
 */
function unavailableBackend(error: DmabufError): Backend {
  const fail = (): never => {
    throw dmabufError('ERR_DMABUF_NO_NATIVE', error.message, { cause: error, tried: (error as { tried?: string[] }).tried });
  };
  return new Proxy({} as Backend, {
    get(_target, prop) {
      if (prop === 'name') return 'native';
      if (typeof prop === 'symbol' || prop === 'then' || prop === 'toJSON') return undefined;
      if (prop === 'pageSize') return fail();
      return fail;
    },
  });
}

let choice: BackendChoice | undefined;

function chosen(c: BackendChoice): BackendChoice {
  if (debugEnabled) {
    debug('backend %s: %s%s', c.usable ? c.backend.name : 'none', c.reason, c.nativeError ? ` (${c.nativeError.message})` : '');
  }
  return c;
}

function choose(): BackendChoice {
  const forced = process.env.DMABUF_BACKEND;
  if (forced !== undefined && forced !== '' && forced !== 'mock' && forced !== 'native') {
    throw invalidArgValue('DMABUF_BACKEND', forced, "must be 'mock' or 'native'");
  }
  if (forced === 'mock') {
    return { backend: createMockBackend(), reason: 'DMABUF_BACKEND=mock', usable: true };
  }
  const loaded = loadNative();
  if (loaded.backend) {
    const reason = forced === 'native' ? 'DMABUF_BACKEND=native' : `native addon loaded on ${process.platform}`;
    return { backend: loaded.backend, reason, usable: true, ...(loaded.file ? { addon: loaded.file } : {}) };
  }
  const err = loaded.error ?? dmabufError('ERR_DMABUF_NO_NATIVE', 'the native addon did not load');
  if (forced === 'native') {
    throw dmabufError('ERR_DMABUF_NO_NATIVE', `DMABUF_BACKEND=native but the native addon did not load: ${err.message}`,
      { cause: err, tried: loaded.tried });
  }
  if (process.platform === 'linux') {
    const error = err as DmabufError;
    return { backend: unavailableBackend(error), reason: 'the native addon did not load', nativeError: error, usable: false };
  }
  return {
    backend: createMockBackend(),
    reason: `no native addon on ${process.platform}; using the mock`,
    nativeError: err,
    usable: true,
  };
}

/**
 * The active backend (chosen on first use). On Linux without the addon (and DMABUF_BACKEND not
 * 'mock') it throws ERR_DMABUF_NO_NATIVE: every API call that reaches a device goes through here.
 */
export function getBackend(): Backend {
  if (!choice) choice = chosen(choose());
  if (!choice.usable) {
    const e = choice.nativeError as DmabufError;
    throw dmabufError('ERR_DMABUF_NO_NATIVE', e.message, { cause: e, tried: (e as { tried?: string[] }).tried });
  }
  return choice.backend;
}

export function backendChoice(): BackendChoice {
  if (!choice) choice = chosen(choose());
  return choice;
}

/**
 * Replace the active backend (tests, or to run the mock beside a native process). Objects created
 * before keep the backend they were made with.
 */
export function setBackend(backend: Backend | 'mock' | 'native'): Backend {
  if (backend === 'mock') {
    choice = { backend: createMockBackend(), reason: 'setBackend(\'mock\')', usable: true };
  } else if (backend === 'native') {
    const loaded = loadNative();
    if (!loaded.backend) throw loaded.error ?? dmabufError('ERR_DMABUF_NO_NATIVE', 'the native addon did not load');
    choice = { backend: loaded.backend, reason: 'setBackend(\'native\')', usable: true, ...(loaded.file ? { addon: loaded.file } : {}) };
  } else {
    choice = { backend, reason: `setBackend(${backend.name})`, usable: true };
  }
  if (debugEnabled) debug('backend %s: %s', choice.backend.name, choice.reason);
  return choice.backend;
}
