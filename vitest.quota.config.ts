import { defineConfig } from 'vitest/config';

/** The rate measurements (acceptance figures of the streamer), run alone after the main suite. */
export default defineConfig({
  test: {
    include: ['test/quota/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: ['default'],
  },
});
