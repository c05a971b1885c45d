import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts'],
    globalSetup: ['../testing/dist/global-setup.js'],
    testTimeout: 60_000,
    hookTimeout: 90_000,
    // Two files at a time: most wait on child processes, Redis, SQLite or PostgreSQL (the
    // multi-process files run 60 s each), so the package takes about half as long.
    maxWorkers: 2,
  },
});
