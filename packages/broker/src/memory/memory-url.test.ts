import { describe, expect, it } from 'vitest';
import { ErrorCodes } from '@celeriac/core';
import { DEFAULT_MEMORY_NAMESPACE, parseMemoryUrl } from './memory-url.js';

describe('parseMemoryUrl', () => {
  it('reads memory:// and memory:/// as the default namespace', () => {
    expect(parseMemoryUrl('memory://', 'X')).toBe(DEFAULT_MEMORY_NAMESPACE);
    expect(parseMemoryUrl('memory:///', 'X')).toBe(DEFAULT_MEMORY_NAMESPACE);
    expect(parseMemoryUrl('MEMORY://', 'X')).toBe(DEFAULT_MEMORY_NAMESPACE);
  });

  it('reads memory://<name>, decoded, without trailing slashes, query or fragment', () => {
    expect(parseMemoryUrl('memory://app', 'X')).toBe('app');
    expect(parseMemoryUrl('memory://app//', 'X')).toBe('app');
    expect(parseMemoryUrl('memory://app?x=1#y', 'X')).toBe('app');
    expect(parseMemoryUrl('memory://my%20app', 'X')).toBe('my app');
    expect(parseMemoryUrl('memory://a/b', 'X')).toBe('a/b');
  });

  it('refuses anything else with CELERIAC_ERR_UNSUPPORTED_URL naming the owner', () => {
    for (const url of ['redis://localhost', 'memory:', '', 'memory://%zz']) {
      expect(() => parseMemoryUrl(url, 'MemoryThing'), url).toThrow(
        expect.objectContaining({
          code: ErrorCodes.UNSUPPORTED_URL,
          message: `MemoryThing: "${url}" is not a memory:// URL (use memory:// or memory://<name>)`,
          details: { url },
        }) as Error,
      );
    }
  });
});
