import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const root = fileURLToPath(new URL('..', import.meta.url));

export default defineConfig({
  test: {
    root,
    reporters: ['default', './test/helpers/summaryReporter.ts'],
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: ['test/e2e/**'],
          testTimeout: 30_000,
          // A throw-away PostgreSQL cluster for the run (skipped with a reason when not installed).
          globalSetup: ['./test/helpers/postgres.ts'],
        },
      },
      {
        // The store, service, command-line and server suites again, with every dataset in PostgreSQL.
        extends: true,
        test: {
          name: 'unit-pg',
          include: ['test/services/**/*.test.ts', 'test/cli/**/*.test.ts', 'test/web/**/*.test.ts', 'test/db/store.test.ts'],
          testTimeout: 30_000,
          globalSetup: ['./test/helpers/postgres.ts'],
          setupFiles: ['./test/helpers/pgStore.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          fileParallelism: false,
          // The UI answers within a second on an idle machine; CI's may be busy (unit files run
          // beside the browser), so a poll waits up to 15 s before it fails.
          expect: { poll: { timeout: 15_000 } },
        },
      },
    ],
  },
});
