import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Dataset } from '../../src-main/services/dataset';
import { makeImages } from '../helpers/images';
import { repoRoot, sharedPath, tempDir } from '../helpers/shared';

const BIN = path.join(repoRoot, 'scripts', 'tessera.mjs');

function tessera(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('tessera CLI', () => {
  it('is the package bin', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { bin: Record<string, string> };
    expect(pkg.bin['tessera']).toBe('scripts/tessera.mjs');
  });

  it('init, import --json and info --json work on a real dataset', async () => {
    const dir = tempDir();
    await makeImages(path.join(dir, 'imgs'));
    fs.writeFileSync(path.join(dir, 'imgs', 'broken.jpg'), Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16]));
    const db = path.join(dir, 'd.tessera');

    const init = tessera('init', db, '--root', dir);
    expect(init.code).toBe(0);
    expect(init.out).toContain('created');

    const imp = tessera('import', db, path.join(dir, 'imgs'), '--json');
    expect(imp.code).toBe(0);
    const report = JSON.parse(imp.out) as { imported: number; problems: { file: string; kind: string }[] };
    expect(report.imported).toBe(8);
    expect(report.problems).toEqual([expect.objectContaining({ file: path.join(dir, 'imgs', 'broken.jpg'), kind: 'truncated' })]);

    // The same rows the command wrote, read straight from the store.
    const ds = await Dataset.open(db);
    expect(await ds.db.prepare('SELECT count(*) FROM images').pluck().get()).toBe(8);
    await ds.close();

    const info = tessera('info', db, '--json');
    expect(info.code).toBe(0);
    const parsed = JSON.parse(info.out) as {
      images: { total: number; byStatus: Record<string, number> };
      annotations: { total: number; byKind: Record<string, number>; bySource: Record<string, number> };
      classes: unknown[];
    };
    expect(parsed.images).toMatchObject({ total: 8, byStatus: { new: 8, done: 0 } });
    expect(parsed.annotations).toMatchObject({ total: 0, byKind: { box: 0, polygon: 0, mask: 0 }, bySource: { human: 0, model: 0 } });
    expect(parsed.classes).toEqual([]);
  });

  it('fails with a non-zero exit and one line naming the file and the problem', () => {
    const dir = tempDir();
    const notDb = path.join(dir, 'notes.txt');
    fs.writeFileSync(notDb, 'hello '.repeat(1000));
    for (const [args, pattern] of [
      [['info', notDb, '--json'], /NOT_A_DATASET: .*notes\.txt: is not a Tessera dataset/],
      [['info', path.join(dir, 'missing.tessera')], /FILE_NOT_FOUND: .*missing\.tessera/],
      [['init', notDb], /DATASET_EXISTS: .*notes\.txt/],
      [['import', path.join(dir, 'missing.tessera'), dir], /FILE_NOT_FOUND/],
      [['frobnicate'], /unknown command/],
    ] as const) {
      const r = tessera(...args);
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(r.err.trim().split('\n')).toHaveLength(1);
      expect(r.err).toMatch(pattern);
    }
  });

  it('imports the BCCD images from the shared data', () => {
    const bccd = sharedPath('datasets/bccd_voc/JPEGImages');
    if (!bccd) return;
    const dir = tempDir();
    const db = path.join(dir, 'bccd.tessera');
    expect(tessera('init', db).code).toBe(0);
    const r = tessera('import', db, bccd, '--json');
    expect(JSON.parse(r.out)).toMatchObject({ imported: 28, external: 28, problems: [] });
    expect(JSON.parse(tessera('info', db, '--json').out)).toMatchObject({ images: { total: 28 } });
  });
});
