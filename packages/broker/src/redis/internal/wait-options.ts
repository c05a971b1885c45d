import { CeleriacError, ErrorCodes } from '@celeriac/core';
import type { RedisOptions } from 'ioredis';
import { parseRedisUrl } from './redis-url.js';
import type { WaitOptions } from './run-script.js';

/** How long a write waits for its replicas when only their number is given. */
export const DEFAULT_WAIT_TIMEOUT_MS = 2000;

/**
 * A component's `waitReplicas` / `waitTimeoutMs`, from its options or its URL's
 * `?wait_replicas=` / `?wait_timeout_ms=` (the two must agree when both are given). Reads the
 * URL once, so a URL that cannot be used fails here, at construction, with
 * `CELERIAC_ERR_INVALID_URL`. Undefined when writes wait for no replica.
 */
export function compileWaitOptions(
  component: string,
  o: { readonly waitReplicas?: number | undefined; readonly waitTimeoutMs?: number | undefined },
  url: string | undefined,
  redisOptions: RedisOptions | undefined,
): WaitOptions | undefined {
  const fromUrl = url === undefined ? undefined : parseRedisUrl(url, redisOptions);
  const pick = (
    option: 'waitReplicas' | 'waitTimeoutMs',
    param: string,
    inUrl: number | undefined,
  ): number | undefined => {
    const given = o[option];
    if (given !== undefined && inUrl !== undefined && given !== inUrl) {
      throw new CeleriacError(
        ErrorCodes.INVALID_OPTION,
        `${component} option "${option}" is ${given} but the URL says ${param}=${inUrl}: give it once`,
        { details: { option, value: given, expected: `${inUrl}, as the URL says` } },
      );
    }
    return given ?? inUrl;
  };
  const replicas = pick('waitReplicas', 'wait_replicas', fromUrl?.waitReplicas) ?? 0;
  const timeoutMs = pick('waitTimeoutMs', 'wait_timeout_ms', fromUrl?.waitTimeoutMs);
  if (replicas === 0) return undefined;
  if (fromUrl?.cluster) {
    throw new CeleriacError(
      ErrorCodes.INVALID_OPTION,
      `${component} option "waitReplicas" is not supported on a Redis Cluster (redis+cluster://): WAIT cannot be sent to the node that took each write`,
      { details: { option: 'waitReplicas', value: replicas, expected: '0 on a cluster' } },
    );
  }
  return { replicas, timeoutMs: timeoutMs ?? DEFAULT_WAIT_TIMEOUT_MS };
}
