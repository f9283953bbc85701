/**
 * For the examples with a consumer child on a stdio socket: each line the consumer writes back, in
 * order; rejects once the consumer has exited.
 */
import type { ChildProcess } from 'node:child_process';
import type * as net from 'node:net';

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
