import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Rate measurements run on their own afterwards (vitest.quota.config.ts): on two cores, test files running
    // beside them would measure the machine, not the streamer.
    exclude: ['test/quota/**', '**/node_modules/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // One temp root per run, removed at the end (test/support/temp-root.ts).
    globalSetup: ['test/support/temp-root.ts'],
    reporters: ['default'],
  },
});
