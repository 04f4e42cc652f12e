/**
 * Curation benchmark (`npm run bench:embed`), each section printing the project beside its
 * baseline from one run:
 *   throughput  embeddings computed per second by the app's job beside bare `session.run`
 *   search      k-NN query time on 100,000 synthetic 1,280-d vectors (p50/p95) beside a
 *               brute-force scan, and near-duplicates at 100,000 images
 *   projection  the embedding map's 2-D projection of 20,000 points
 *   curation    the in-app classifier's training, k-centre greedy and uniqueness
 * `npm run bench:embed -- search` runs one section.
 */
export {};

const SECTIONS = {
  throughput: () => import('./embed/throughput'),
  search: () => import('./embed/search'),
  projection: () => import('./embed/projection'),
  curation: () => import('./embed/curation'),
} as const;

const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
for (const name of wanted) if (!(name in SECTIONS)) throw new Error(`unknown section "${name}" (one of ${Object.keys(SECTIONS).join(', ')})`);
for (const [name, load] of Object.entries(SECTIONS)) {
  if (wanted.length > 0 && !wanted.includes(name)) continue;
  console.log(`\n== ${name} ==`);
  await (await load()).run();
}
