import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts'],
    globalSetup: ['../testing/dist/global-setup.js'],
    // Two minutes a test: with two files at a time, a Python interop case (Celery's imports alone
    // take seconds on a loaded machine) ran past one minute once in CI.
    testTimeout: 120_000,
    hookTimeout: 90_000,
    // Two files at a time: most of them wait on Python, Redis or RabbitMQ, so the package runs in
    // 160 s instead of 349 s serially. Three at a time on 2 CPUs slowed the Python canvas files
    // past their timeouts.
    maxWorkers: 2,
  },
});
