import { readFile } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';

/** The page's files, shipped in the package's `static/` folder (no build step, no CDN). */
const STATIC_DIR = fileURLToPath(new URL('../../static/', import.meta.url));

const FILES: Readonly<Record<string, string>> = {
  '/': 'index.html',
  '/index.html': 'index.html',
  '/app.js': 'app.js',
  '/views.js': 'views.js',
  '/lib.js': 'lib.js',
  '/charts.js': 'charts.js',
  '/style.css': 'style.css',
};

const TYPES: Readonly<Record<string, string>> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
};

/** Whether `path` is one of the page's files. */
export function isStaticPath(path: string): boolean {
  return path in FILES;
}

/**
 * Serves one of the page's files. Only the names listed above are served, so no request
 * path ever reaches the file system.
 */
export async function serveStatic(path: string, res: ServerResponse): Promise<void> {
  const name = FILES[path];
  if (!name) {
    res.writeHead(404).end();
    return;
  }
  const body = await readFile(`${STATIC_DIR}${name}`);
  res.writeHead(200, {
    'content-type': TYPES[name.slice(name.lastIndexOf('.') + 1)] ?? 'application/octet-stream',
    'content-length': body.length,
    'cache-control': 'no-cache',
    // The page loads nothing from elsewhere: everything it needs is served from here.
    'content-security-policy':
      "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
    'x-content-type-options': 'nosniff',
  });
  res.end(body);
}
