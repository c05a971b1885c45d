import { describe, expect, it } from 'vitest';
import type { Coordination, Revocation } from '@celeriac/core';
import { uniqueName } from '../unique.js';

export interface CoordinationFixture {
  /** Two handles on the same shared state (two processes' view, for Redis). */
  a: Coordination;
  b: Coordination;
  close(): Promise<void>;
}

/**
 * The contract every `Coordination` passes: revocations reach current and later watchers,
 * rate slots are evenly spaced across clients, and a uniqueness claim is held by one task id.
 */
export function coordinationConformance(
  name: string,
  factory: () => Promise<CoordinationFixture>,
): void {
  describe(`${name}: Coordination conformance`, () => {
    it('announces a revocation to a watcher and lists it for a watcher started later', async () => {
      const f = await factory();
      try {
        const seen: Revocation[] = [];
        const watch = await f.a.watchRevocations((r) => seen.push(r));
        const id = uniqueName('task');
        await f.b.revoke([id], { ttlMs: 60_000, terminate: true });
        await expect.poll(() => seen.some((r) => r.id === id && r.terminate)).toBe(true);
        const later = await f.b.watchRevocations(() => undefined);
        expect(later.current.some((r) => r.id === id && r.terminate)).toBe(true);
        await watch.stop();
        await later.stop();
      } finally {
        await f.close();
      }
    });

    it('forgets a revocation after its ttl', async () => {
      const f = await factory();
      try {
        const id = uniqueName('task');
        await f.a.revoke([id], { ttlMs: 150, terminate: false });
        const now = await f.b.watchRevocations(() => undefined);
        expect(now.current.some((r) => r.id === id)).toBe(true);
        await now.stop();
        await new Promise((r) => setTimeout(r, 300));
        const later = await f.b.watchRevocations(() => undefined);
        expect(later.current.some((r) => r.id === id)).toBe(false);
        await later.stop();
      } finally {
        await f.close();
      }
    });

    it('spaces rate slots evenly across clients: 10 per second means 100 ms apart', async () => {
      const f = await factory();
      try {
        const key = uniqueName('rate');
        const waits = await Promise.all(
          Array.from({ length: 10 }, (_, i) =>
            (i % 2 === 0 ? f.a : f.b).reserveRateSlot(key, 10, 1000),
          ),
        );
        const sorted = [...waits].sort((x, y) => x - y);
        expect(sorted[0]).toBeLessThanOrEqual(5);
        for (let i = 1; i < sorted.length; i++) {
          const gap = (sorted[i] ?? 0) - (sorted[i - 1] ?? 0);
          expect(gap).toBeGreaterThanOrEqual(95);
          expect(gap).toBeLessThanOrEqual(105);
        }
        // Another key is independent.
        expect(await f.a.reserveRateSlot(uniqueName('rate'), 10, 1000)).toBeLessThanOrEqual(5);
      } finally {
        await f.close();
      }
    });

    it('lets one task id hold a uniqueness key until it expires', async () => {
      const f = await factory();
      try {
        const key = uniqueName('unique');
        const claims = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            (i % 2 ? f.a : f.b).claimUnique(key, `id-${i}`, 200),
          ),
        );
        const winners = claims.filter((c) => c === null);
        expect(winners).toHaveLength(1);
        const winner = `id-${claims.indexOf(null)}`;
        expect(new Set(claims.filter((c) => c !== null))).toEqual(new Set([winner]));
        await new Promise((r) => setTimeout(r, 300));
        expect(await f.a.claimUnique(key, 'later', 200)).toBeNull();
      } finally {
        await f.close();
      }
    });
  });
}
