import { CeleriacError, ErrorCodes } from '@celeriac/core';

/** The namespace `memory://` (and `memory:///`) names: the process-wide default. */
export const DEFAULT_MEMORY_NAMESPACE = 'default';

/**
 * The namespace a `memory://` URL names: `memory://` is the process-wide default, and
 * `memory://<name>` (percent-decoded, trailing slashes, query and fragment dropped) a named one.
 * The memory broker, result backend and coordination all read their URL here, so one URL
 * names one namespace for all three.
 *
 * Throws `CELERIAC_ERR_UNSUPPORTED_URL` for anything else, with `owner` (the class that was
 * given the URL) in the message.
 */
export function parseMemoryUrl(url: string, owner: string): string {
  const match = /^memory:\/\/([^?#]*)/i.exec(url);
  if (!match) throw notMemoryUrl(url, owner);
  let name: string;
  try {
    name = decodeURIComponent((match[1] ?? '').replace(/\/+$/, ''));
  } catch (err) {
    throw notMemoryUrl(url, owner, err); // a stray `%`
  }
  return name === '' ? DEFAULT_MEMORY_NAMESPACE : name;
}

function notMemoryUrl(url: string, owner: string, cause?: unknown): CeleriacError {
  return new CeleriacError(
    ErrorCodes.UNSUPPORTED_URL,
    `${owner}: "${url}" is not a memory:// URL (use memory:// or memory://<name>)`,
    { details: { url }, ...(cause === undefined ? {} : { cause }) },
  );
}
