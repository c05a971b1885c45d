import { afterEach, describe, expect, it, vi } from 'vitest';
import { compileCeleriacOptions } from './celeriac-options.js';

describe('compileCeleriacOptions', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('stores results beside a broker that can hold them: memory, Redis, SQLite', () => {
    vi.stubEnv('CELERIAC_RESULT_BACKEND', '');
    for (const broker of ['memory://', 'redis://localhost:6379/0', 'sqlite://./celeriac.db']) {
      expect(compileCeleriacOptions({ broker }).backendUrl).toBe(broker);
    }
    expect(compileCeleriacOptions({ broker: 'amqp://localhost' }).backendUrl).toBe(false);
    expect(compileCeleriacOptions({ broker: 'sqlite://./a.db', backend: false }).backendUrl).toBe(
      false,
    );
  });
});
