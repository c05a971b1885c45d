import type { ResultBackend } from '@celeriac/core';

/** The reply queue an rpc result backend wants on published tasks ('' for others), declared once. */
export async function resolveReplyTo(app: {
  readonly hasResultBackend: boolean;
  resultBackend(): Promise<ResultBackend>;
}): Promise<string> {
  if (!app.hasResultBackend) return '';
  const backend = await app.resultBackend();
  if (backend.replyTo === undefined) return '';
  await backend.declareReplyQueue?.();
  return backend.replyTo;
}
