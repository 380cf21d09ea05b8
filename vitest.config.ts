import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Rate measurements run on their own afterwards (vitest.quota.config.ts): on two cores, test files running
    // beside them would measure the machine, not the streamer (nor the drills `homebound estimate` is checked against).
    exclude: ['test/quota/**', 'test/cli/estimate-drills.test.ts', '**/node_modules/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Vitest's default is one worker fewer than the CPUs: on the 2-core CI machines, one test file at a time while the
    // second core idles. Most test files wait on child processes and sockets, so two at once keep both busy.
    maxWorkers: 2,
    // One temp root per run, removed at the end (test/support/temp-root.ts).
    globalSetup: ['test/support/temp-root.ts'],
    reporters: ['default'],
  },
});
