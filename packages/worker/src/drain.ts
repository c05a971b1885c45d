/** What `shutdown()` waited for: every running task, its timeout, or an `abort()`. */
export type DrainEnd = 'drained' | 'timeout' | 'aborted';

/** Waits for `running` to settle, at most `timeoutMs`, or until `aborted` resolves. */
export async function drain(
  running: readonly Promise<void>[],
  timeoutMs: number,
  aborted: Promise<'aborted'>,
): Promise<DrainEnd> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  const drained = Promise.all(running).then(() => 'drained' as const);
  try {
    return await Promise.race([drained, timedOut, aborted]);
  } finally {
    clearTimeout(timer);
  }
}
