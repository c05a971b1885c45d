import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts'],
    globalSetup: ['../testing/dist/global-setup.js'],
    testTimeout: 60_000,
    hookTimeout: 90_000,
  },
});
