import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';
import { findBin } from './helpers/postgres';

const root = fileURLToPath(new URL('..', import.meta.url));

// The second run of the store-using suites needs a PostgreSQL server to start; CI always has one.
const withPostgres =
  Boolean(process.env['CI']) || Boolean(process.env['TESSERA_TEST_PG_URL']) || (findBin('initdb') !== null && findBin('pg_ctl') !== null);
if (!withPostgres) console.warn('[unit-pg] skipped: PostgreSQL is not installed (no initdb/pg_ctl), so the suites run on SQLite only');

/** The store, service, command-line and server suites again, with every dataset in PostgreSQL. */
const unitPg = {
  extends: true as const,
  test: {
    name: 'unit-pg',
    include: ['test/services/**/*.test.ts', 'test/cli/**/*.test.ts', 'test/web/**/*.test.ts'],
    testTimeout: 30_000,
    globalSetup: ['./test/helpers/postgres.ts'],
    setupFiles: ['./test/helpers/pgStore.ts'],
  },
};

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
      ...(withPostgres ? [unitPg] : []),
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
