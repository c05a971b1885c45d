import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '@celeriac/core';
import { isAuthorized, type BasicAuth } from './basic-auth.js';
import { HttpError, matchPath, readJsonBody, sendJson, type DashboardRoute } from './http-kit.js';
import { isStaticPath, serveStatic } from './static-files.js';

/** How requests are let in and routed. */
export interface HandlerOptions {
  readonly routes: readonly DashboardRoute[];
  readonly allowActions: boolean;
  readonly basicAuth: BasicAuth | null;
  readonly logger: Logger;
}

/**
 * An action must come from the page itself: a JSON body (which a cross-site form cannot send
 * without a CORS preflight this server never grants) and, when the browser names an Origin,
 * the same host as the request.
 */
function checkSameOrigin(req: IncomingMessage): void {
  const type = req.headers['content-type'] ?? '';
  if (!/^application\/json\b/i.test(type))
    throw new HttpError(415, 'actions take a JSON body (content-type: application/json)');
  const origin = req.headers.origin;
  if (origin === undefined || origin === 'null') return;
  let host: string;
  try {
    host = new URL(origin).host;
  } catch {
    throw new HttpError(403, 'bad Origin header');
  }
  if (host !== req.headers.host) throw new HttpError(403, 'cross-origin actions are refused');
}

/** The dashboard's request handler: basic auth, the route table, then the page's files. */
export function createRequestHandler(
  o: HandlerOptions,
): (req: IncomingMessage, res: ServerResponse) => void {
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://dashboard.invalid');
    const path = url.pathname;
    let route: DashboardRoute | undefined;
    let params: Record<string, string> | null = null;
    let pathKnown = false;
    for (const r of o.routes) {
      const m = matchPath(r.path, path);
      if (!m) continue;
      pathKnown = true;
      if (r.method === req.method || (r.method === 'GET' && req.method === 'HEAD')) {
        route = r;
        params = m;
        break;
      }
    }
    if (o.basicAuth && !route?.public && !isAuthorized(req, o.basicAuth)) {
      res.writeHead(401, {
        'www-authenticate': 'Basic realm="Celeriac dashboard", charset="UTF-8"',
        'content-type': 'text/plain; charset=utf-8',
      });
      res.end('authentication required\n');
      return;
    }
    if (!route) {
      if ((req.method === 'GET' || req.method === 'HEAD') && isStaticPath(path))
        return serveStatic(path, res);
      if (pathKnown) throw new HttpError(405, `${req.method ?? ''} is not allowed on ${path}`);
      throw new HttpError(404, `no route ${path}`);
    }
    if (route.action) {
      if (!o.allowActions)
        throw new HttpError(403, 'actions are disabled: start the dashboard with --allow-actions');
      checkSameOrigin(req);
    }
    const value = await route.handle({
      req,
      res,
      url,
      params: params ?? {},
      body: () => readJsonBody(req),
    });
    if (!res.headersSent && !res.writableEnded) sendJson(res, 200, value ?? null);
  };
  return (req, res) => {
    handle(req, res).catch((err: unknown) => {
      const status = err instanceof HttpError ? err.status : 500;
      if (status === 500) o.logger.error({ err, url: req.url }, 'dashboard: request failed');
      if (res.headersSent) {
        res.destroy();
        return;
      }
      sendJson(res, status, { error: err instanceof Error ? err.message : String(err) });
    });
  };
}
