import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts'],
    globalSetup: ['../testing/dist/global-setup.js'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    // Two files at a time: most wait on the CLI processes they spawn.
    maxWorkers: 2,
  },
});
