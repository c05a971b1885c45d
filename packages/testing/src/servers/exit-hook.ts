/**
 * Servers a test process started and has not stopped yet: killed when the process exits, so
 * one that ends without `stop()` (a crash, a timeout) leaves nothing running.
 */
const live = new Set<() => void>();
let installed = false;

/** Kills `killNow` at process exit unless the returned function is called first (on `stop()`). */
export function killOnExit(killNow: () => void): () => void {
  live.add(killNow);
  if (!installed) {
    installed = true;
    process.once('exit', () => {
      for (const kill of live) kill();
    });
  }
  return () => {
    live.delete(killNow);
  };
}
