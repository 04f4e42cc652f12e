/**
 * Setup of the unit-pg project: every dataset the suites create by path lives in PostgreSQL (see
 * src-main/services/storeTarget.ts), in the cluster the global setup started.
 */
const url = process.env['TESSERA_TEST_PG_URL'];
if (!url) {
  if (process.env['CI']) throw new Error('unit-pg: no PostgreSQL cluster (TESSERA_TEST_PG_URL is not set) and CI is set');
} else {
  process.env['TESSERA_STORE'] = url;
}
