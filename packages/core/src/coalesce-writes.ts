import type { Writable } from 'node:stream';

const COALESCED = Symbol.for('celeriac.coalesceWrites');

/**
 * Makes every write to `stream` in one turn of the event loop leave in a single `writev`:
 * the first write of a turn corks the stream and a `process.nextTick` uncorks it. amqplib
 * writes each frame (a publish, an ack) to its socket on its own, one system call each;
 * coalesced, a worker finishing 50 tasks in a turn sends them in one. Backpressure is kept
 * (`write()` still returns false past the high-water mark, and `drain` still fires).
 * Idempotent; returns `stream`.
 */
export function coalesceWrites<S extends Writable>(stream: S): S {
  const marked = stream as S & { [COALESCED]?: true };
  if (marked[COALESCED]) return stream;
  marked[COALESCED] = true;
  const write = stream.write.bind(stream) as (...args: Parameters<Writable['write']>) => boolean;
  let corked = false;
  const uncork = (): void => {
    corked = false;
    stream.uncork();
  };
  stream.write = ((...args: Parameters<Writable['write']>): boolean => {
    if (!corked && !stream.destroyed) {
      corked = true;
      stream.cork();
      process.nextTick(uncork);
    }
    return write(...args);
  }) as Writable['write'];
  return stream;
}
