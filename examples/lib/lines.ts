/**
 * For the examples with a consumer child on a stdio socket: starting it, and each line it writes
 * back, in order.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type * as net from 'node:net';

/** The consumer: this process's end of the socket (an fd for sendFds), its lines, its exit status. */
export interface Consumer {
  child: ChildProcess;
  sock: number;
  nextLine: () => Promise<string>;
  exited: Promise<number | null>;
  /** Stop the child if it still runs (for a finally). */
  stop(): void;
}

/** Run `file --consumer` with a Unix socket as its fd 3 (a stdio 'pipe' is a socketpair on Linux). */
export function spawnConsumer(file: string): Consumer {
  const child = spawn(process.execPath, [file, '--consumer'], { stdio: ['ignore', 'inherit', 'inherit', 'pipe'] });
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (c) => resolve(c));
  });
  const stop = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill();
  };
  const socket = child.stdio[3] as net.Socket;
  const sock = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof sock !== 'number' || sock < 0) {
    stop();
    throw new Error('no fd under the stdio pipe (not a Unix platform?)');
  }
  return { child, sock, nextLine: lines(socket, child), exited, stop };
}

/** Each line the consumer writes back, in order; rejects once the consumer has exited. */
export function lines(socket: net.Socket, child: ChildProcess): () => Promise<string> {
  const queue: string[] = [];
  let waiting: { resolve: (s: string) => void; reject: (e: Error) => void } | undefined;
  let pending = '';
  let ended: Error | undefined;
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    pending += chunk;
    let i;
    while ((i = pending.indexOf('\n')) >= 0) {
      queue.push(pending.slice(0, i));
      pending = pending.slice(i + 1);
    }
    if (waiting && queue.length > 0) {
      waiting.resolve(queue.shift()!);
      waiting = undefined;
    }
  });
  child.on('exit', (code) => {
    ended = new Error(`the consumer exited (status ${code})`);
    waiting?.reject(ended);
  });
  return () => new Promise<string>((resolve, reject) => {
    if (queue.length > 0) resolve(queue.shift()!);
    else if (ended) reject(ended);
    else waiting = { resolve, reject };
  });
}
