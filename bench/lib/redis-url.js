/**
 * ioredis options for a redis:// or rediss:// URL, for libraries (BullMQ) that take an options
 * object rather than a URL.
 * @param {string} url
 */
export function redisOptionsFromUrl(url) {
  const u = new URL(url);
  const dbText = u.pathname.length > 1 ? u.pathname.slice(1) : u.searchParams.get('db');
  return {
    host: u.hostname || '127.0.0.1',
    port: u.port ? Number(u.port) : 6379,
    db: dbText ? Number(dbText) : 0,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}

/** The URL with its password hidden, for printing. */
export function redactUrl(url) {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}
