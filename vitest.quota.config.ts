import { defineConfig } from 'vitest/config';

/** The rate measurements (acceptance figures of the streamer), run alone after the main suite. */
export default defineConfig({
  test: {
    // The estimate's acceptance times drills against predictions: it needs the machine as much to itself.
    include: ['test/quota/**/*.test.ts', 'test/cli/estimate-drills.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: ['default'],
  },
});
