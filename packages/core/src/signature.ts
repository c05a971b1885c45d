/**
 * A signature as it travels inside a message (callbacks, errbacks, chain, chord) and in
 * Celery's canvas: `{task, args, kwargs, options, subtask_type, immutable}`. Groups, chains
 * and chords use the task names `celery.group`, `celery.chain`, `celery.chord` and keep their
 * parts in `kwargs`.
 */
export interface SignatureJSON {
  task: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
  options: Record<string, unknown>;
  subtask_type: string | null;
  immutable: boolean;
  /** Celery also sends `chord_size` and other keys; they are kept. */
  [extra: string]: unknown;
}

export function isSignatureJSON(value: unknown): value is SignatureJSON {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const v = value as Record<string, unknown>;
  return typeof v['task'] === 'string';
}

/** Fills the fields Celery always sends, so a partially written signature is still valid. */
export function normalizeSignature(
  value: Partial<SignatureJSON> & { task: string },
): SignatureJSON {
  return {
    ...value,
    task: value.task,
    args: value.args ?? [],
    kwargs: value.kwargs ?? {},
    options: value.options ?? {},
    subtask_type: value.subtask_type ?? null,
    immutable: value.immutable ?? false,
  };
}
