import { defineConfig } from 'vitest/config';

/**
 * Four projects: `unit` (pure, in-memory, no network), `infra` (CDK synth, assertions, cdk-nag),
 * `e2e` (the real stack deployed into local AWS, which the e2e global setup starts and stops) and
 * `local-run` (`npm start`, `npm run demo` and local AWS as real processes: Ctrl-C, kills, leftovers).
 */
export default defineConfig({
  test: {
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      {
        test: {
          name: 'infra',
          include: ['test/infra/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          globalSetup: ['test/e2e/global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 600_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'local-run',
          include: ['test/local-run/**/*.test.ts'],
          testTimeout: 600_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
