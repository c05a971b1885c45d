import type { IncomingMessage, ServerResponse } from 'node:http';

/** An error answered with its HTTP status and a JSON `{error}` body. */
export class HttpError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/** What a route handler gets. */
export interface RouteContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly url: URL;
  /** The `:name` parts of the route's path, decoded. */
  readonly params: Readonly<Record<string, string>>;
  /** The request's JSON body (POST routes); `{}` when empty. */
  body(): Promise<Record<string, unknown>>;
}

/**
 * One entry of the dashboard's route table. A route answers by writing to `ctx.res` itself or
 * by resolving with a value, sent as JSON (200).
 */
export interface DashboardRoute {
  readonly method: 'GET' | 'POST';
  /** `/api/tasks/:id`: literal segments and `:name` parameters. */
  readonly path: string;
  /** An action (changes something): refused with 403 unless actions are allowed. */
  readonly action?: boolean;
  /** Reachable without basic auth (health probes). */
  readonly public?: boolean;
  readonly handle: (ctx: RouteContext) => unknown;
}

/** The `:name` parameters of `path` when it matches `pattern`, else null. */
export function matchPath(pattern: string, path: string): Record<string, string> | null {
  const want = pattern.split('/');
  const got = path.split('/');
  if (want.length !== got.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    const w = want[i] ?? '';
    const g = got[i] ?? '';
    if (w.startsWith(':')) {
      if (g === '') return null;
      try {
        params[w.slice(1)] = decodeURIComponent(g);
      } catch {
        return null;
      }
    } else if (w !== g) return null;
  }
  return params;
}

const MAX_BODY = 64 * 1024;

/** Reads a JSON object body of at most 64 KiB. */
export async function readJsonBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new HttpError(413, 'request body too large');
    chunks.push(chunk);
  }
  const raw = Buffer.concat(chunks).toString('utf8').trim();
  if (raw === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new HttpError(400, 'the body is not JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new HttpError(400, 'the body must be a JSON object');
  return parsed as Record<string, unknown>;
}

/** Sends `value` as JSON. */
export function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  res.end(body);
}
