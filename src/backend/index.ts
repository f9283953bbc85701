/**
 * Backend selection, done once: the native addon on Linux when it loads, the mock elsewhere.
 * DMABUF_BACKEND=mock|native forces one (native then fails loudly if the addon does not load).
 */
import type { Backend } from './types';
import { loadNative } from './native';
import { createMockBackend } from './mock';
import { dmabufError, invalidArgValue } from '../errors';

export type { Backend } from './types';

export interface BackendChoice {
  backend: Backend;
  /** Why this backend is active. */
  reason: string;
  /** Why the native addon is not active, when it is not. */
  nativeError?: Error;
}

let choice: BackendChoice | undefined;

function choose(): BackendChoice {
  const forced = process.env.DMABUF_BACKEND;
  if (forced !== undefined && forced !== '' && forced !== 'mock' && forced !== 'native') {
    throw invalidArgValue('DMABUF_BACKEND', forced, "must be 'mock' or 'native'");
  }
  if (forced === 'mock') {
    return { backend: createMockBackend(), reason: 'DMABUF_BACKEND=mock' };
  }
  const loaded = loadNative();
  if (loaded.backend) {
    return { backend: loaded.backend, reason: forced === 'native' ? 'DMABUF_BACKEND=native' : `native addon loaded on ${process.platform}` };
  }
  const err = loaded.error ?? new Error('native addon did not load');
  if (forced === 'native') {
    throw dmabufError('ERR_DMABUF_NO_NATIVE', `DMABUF_BACKEND=native but the native addon did not load: ${err.message}`,
      { cause: err });
  }
  return {
    backend: createMockBackend(),
    reason: process.platform === 'linux' ? `native addon did not load (${err.message}); using the mock`
      : `no native addon on ${process.platform}; using the mock`,
    nativeError: err,
  };
}

/** The active backend (chosen on first use). */
export function getBackend(): Backend {
  if (!choice) choice = choose();
  return choice.backend;
}

export function backendChoice(): BackendChoice {
  if (!choice) choice = choose();
  return choice;
}

/**
 * Replace the active backend (tests, or to run the mock beside a native process). Objects created
 * before keep the backend they were made with.
 */
export function setBackend(backend: Backend | 'mock' | 'native'): Backend {
  if (backend === 'mock') {
    choice = { backend: createMockBackend(), reason: 'setBackend(\'mock\')' };
  } else if (backend === 'native') {
    const loaded = loadNative();
    if (!loaded.backend) throw loaded.error ?? new Error('native addon did not load');
    choice = { backend: loaded.backend, reason: 'setBackend(\'native\')' };
  } else {
    choice = { backend, reason: `setBackend(${backend.name})` };
  }
  return choice.backend;
}
