import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../src-main/cli/main';
import type { VersionDiff, VersionRecord } from '../../src-main/common/versions';
import { insertAnnotations } from '../../src-main/db/annotations';
import { insertClass } from '../../src-main/db/classes';
import { setSplits } from '../../src-main/db/export';
import { Dataset } from '../../src-main/services/dataset';
import { sha256File, VERSION_FILE } from '../../src-main/services/interchange/versionFile';
import { tempDir } from '../helpers/shared';

async function cli(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, { out: (s) => out.push(s), err: (s) => err.push(s), tty: false });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

async function hashes(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isDirectory()) out[path.relative(dir, path.join(e.parentPath, e.name))] = await sha256File(path.join(e.parentPath, e.name));
  }
  return out;
}

describe('tessera version create | list | diff, and export --version', () => {
  it('freezes, lists, diffs and exports versions', async () => {
    const dir = tempDir('tessera-cli-versions-');
    const root = path.join(dir, 'imgs');
    fs.mkdirSync(root);
    for (const [i, n] of ['a.png', 'b.png', 'c.png'].entries()) {
      await sharp({ create: { width: 32, height: 24, channels: 3, background: { r: 60 * i, g: 90, b: 10 } } })
        .png()
        .toFile(path.join(root, n));
    }
    const db = path.join(dir, 'd.tessera');
    expect((await cli('init', db, '--root', root)).code).toBe(0);
    expect((await cli('import', db, root, '--json')).code).toBe(0);
    let ds = await Dataset.open(db);
    const ids = Object.fromEntries((await ds.db.prepare('SELECT path, id FROM images').raw().all() as [string, number][]).map(([p, id]) => [p, id]));
    const cell = (await insertClass(ds.db, { name: 'cell', color: '#00ff00' })).id;
    const [box] = await insertAnnotations(ds.db, [
      { imageId: ids['a.png']!, classId: cell, geometry: { kind: 'box', x: 1, y: 1, w: 5, h: 5 }, source: 'human' },
      { imageId: ids['b.png']!, classId: cell, geometry: { kind: 'box', x: 2, y: 2, w: 5, h: 5 }, source: 'human' },
    ]);
    await ds.close();

    const created = await cli('version', 'create', db, '--name', 'baseline', '--note', 'first labels', '--json');
    expect(created.code).toBe(0);
    expect(JSON.parse(created.out)).toMatchObject({ number: 1, name: 'baseline', note: 'first labels', images: 3, annotations: 2 } satisfies Partial<VersionRecord>);
    const out1 = path.join(dir, 'v1-first');
    const e1 = await cli('export', db, out1, '--format', 'yolo', '--version', '1');
    expect(e1.code, e1.err).toBe(0);
    const first = await hashes(out1);
    expect(JSON.parse(fs.readFileSync(path.join(out1, VERSION_FILE), 'utf8')).version).toMatchObject({ number: 1, name: 'baseline' });

    ds = await Dataset.open(db);
    const moved = JSON.parse(await ds.db.prepare('SELECT geometry FROM annotations WHERE id = ?').pluck().get(box!) as string) as { x: number };
    moved.x = 3;
    await ds.db.prepare('UPDATE annotations SET geometry = ? WHERE id = ?').run(JSON.stringify(moved), box!);
    await ds.db.prepare('DELETE FROM images WHERE id = ?').run(ids['b.png']!);
    await setSplits(ds.db, [[ids['c.png']!, 'val']]);
    await ds.close();
    const c2 = await cli('version', 'create', db, '--name', 'cleaned');
    expect(c2).toMatchObject({ code: 0, out: 'created version 2 "cleaned": 2 image(s), 1 class(es), 1 annotation(s)' });

    const list = await cli('version', 'list', db, '--json');
    expect((JSON.parse(list.out) as VersionRecord[]).map((v) => [v.number, v.name])).toEqual([
      [1, 'baseline'],
      [2, 'cleaned'],
    ]);
    const text = await cli('version', 'list', db);
    expect(text.out.split('\n')).toHaveLength(2);
    expect(text.out).toMatch(/^\s+1 {2}baseline {2}\S+ {2}3 image\(s\), 1 class\(es\), 2 annotation\(s\) {2}first labels$/m);

    const diff = JSON.parse((await cli('version', 'diff', db, '1', '2', '--json')).out) as VersionDiff;
    expect(diff.images.removed).toEqual([{ id: ids['b.png'], path: 'b.png' }]);
    expect(diff.images.splitMoves).toEqual([{ id: ids['c.png'], path: 'c.png', from: null, to: 'val' }]);
    expect(diff.annotations.byClass).toEqual([{ classId: cell, name: 'cell', added: 0, changed: 1, removed: 1 }]);
    const diffText = await cli('version', 'diff', db, '1', '2');
    expect(diffText.out).toContain('from version 1 (baseline) to version 2 (cleaned)');
    expect(diffText.out).toContain('1 moved to another split: c.png none -> val');
    expect(diffText.out).toMatch(/cell\s+\+0 ~1 -1/);
    const current = await cli('version', 'diff', db, '2', 'current');
    expect(current.out).toContain('to the dataset now');
    expect(current.out).toContain('annotations 0 added, 0 changed, 0 removed');

    const out2 = path.join(dir, 'v1-again');
    expect((await cli('export', db, out2, '--format', 'yolo', '--version', '1')).code).toBe(0);
    expect(await hashes(out2)).toEqual(first);

    expect(await cli('version', 'diff', db, '1', '9')).toMatchObject({ code: 1, err: 'tessera: NOT_FOUND: no version 9 in this dataset (versions: 1, 2)' });
    expect((await cli('version', 'create', db)).err).toContain('version create needs --name NAME');
    expect((await cli('version', 'list', db, '--name', 'x')).code).toBe(2);
    expect((await cli('export', db, path.join(dir, 'x'), '--format', 'yolo', '--version', 'two')).err).toContain('--version must be a version number');
    expect((await cli('export', db, path.join(dir, 'x'), '--format', 'yolo', '--version', '1', '--split', '0.8,0.2,0')).code).toBe(2);
  });
});

describe('tessera version create --recipe, and export --version with the saved recipe', () => {
  it('exports a version with its recipe as the same files before and after the dataset is edited', async () => {
    const dir = tempDir('tessera-cli-version-recipe-');
    const root = path.join(dir, 'imgs');
    fs.mkdirSync(root);
    for (const [i, n] of ['a.png', 'b.png', 'c.png', 'd.png'].entries()) {
      const data = Buffer.alloc(48 * 40 * 3);
      for (let p = 0; p < data.length; p++) data[p] = (p * (i + 3) + i * 50) % 251;
      await sharp(data, { raw: { width: 48, height: 40, channels: 3 } }).png().toFile(path.join(root, n));
    }
    const db = path.join(dir, 'd.tessera');
    expect((await cli('init', db, '--root', root)).code).toBe(0);
    expect((await cli('import', db, root, '--json')).code).toBe(0);
    let ds = await Dataset.open(db);
    const ids = Object.fromEntries((await ds.db.prepare('SELECT path, id FROM images').raw().all() as [string, number][]).map(([p, id]) => [p, id]));
    const cell = (await insertClass(ds.db, { name: 'cell', color: '#00ff00' })).id;
    await insertAnnotations(
      ds.db,
      ['a.png', 'b.png', 'c.png', 'd.png'].map((n, i) => ({ imageId: ids[n]!, classId: cell, geometry: { kind: 'box' as const, x: 2 + i, y: 3, w: 20, h: 15 }, source: 'human' as const })),
    );
    await setSplits(ds.db, [
      [ids['a.png']!, 'train'],
      [ids['b.png']!, 'train'],
      [ids['c.png']!, 'train'],
      [ids['d.png']!, 'val'],
    ]);
    await ds.close();
    const recipe = path.join(dir, 'recipe.json');
    fs.writeFileSync(
      recipe,
      JSON.stringify({
        recipe: 1,
        format: 'coco',
        preprocess: { resize: { mode: 'letterbox', width: 40, height: 40 } },
        augment: { outputs: 2, seed: 9, steps: [{ op: 'mosaic', p: 0.5 }, { op: 'flip', horizontal: 0.5 }, { op: 'rotate', p: 0.7, degrees: [-20, 20] }] },
      }),
    );

    const created = await cli('version', 'create', db, '--name', 'train-set', '--recipe', recipe);
    expect(created.code, created.err).toBe(0);
    expect(created.out).toMatch(/with its recipe/);
    expect((await cli('version', 'list', db)).out).toMatch(/with a recipe/);

    // Without --recipe: the version's own recipe (format included).
    const out1 = path.join(dir, 'out1');
    const e1 = await cli('export', db, out1, '--version', '1');
    expect(e1.code, e1.err).toBe(0);
    expect(e1.out).toMatch(/exported with the recipe saved with version 1/);
    const first = await hashes(out1);
    expect(Object.keys(first).filter((f) => f.includes('_aug'))).toHaveLength(6);
    expect(first['annotations/instances_train.json']).toBeDefined();
    // The same recipe given as a file: the same files.
    const out2 = path.join(dir, 'out2');
    expect((await cli('export', db, out2, '--version', '1', '--recipe', recipe)).code).toBe(0);
    expect(await hashes(out2)).toEqual(first);

    // The dataset edited: a split moved, a box added, an image deleted, another imported, a class renamed.
    await sharp({ create: { width: 30, height: 30, channels: 3, background: '#445566' } }).png().toFile(path.join(root, 'e.png'));
    expect((await cli('import', db, path.join(root, 'e.png'), '--json')).code).toBe(0);
    ds = await Dataset.open(db);
    await setSplits(ds.db, [[ids['b.png']!, 'val']]);
    await insertAnnotations(ds.db, [{ imageId: ids['a.png']!, classId: cell, geometry: { kind: 'box', x: 30, y: 20, w: 10, h: 10 }, source: 'human' }]);
    await ds.db.prepare('DELETE FROM images WHERE id = ?').run(ids['c.png']!);
    await ds.db.prepare("UPDATE classes SET name = 'cyte' WHERE id = ?").run(cell);
    await ds.close();
    const out3 = path.join(dir, 'out3');
    const e3 = await cli('export', db, out3, '--version', '1');
    expect(e3.code, e3.err).toBe(0);
    expect(await hashes(out3)).toEqual(first);

    // The saved recipe gives the format: another one on the command line is refused.
    const other = await cli('export', db, path.join(dir, 'out4'), '--version', '1', '--format', 'yolo');
    expect(other.code).not.toBe(0);
    expect(other.err).toMatch(/--format is given by the recipe saved with version 1/);
  });

  it('a bad recipe for version create is refused, naming the file, and no version is made', async () => {
    const dir = tempDir('tessera-cli-version-recipe-');
    const db = path.join(dir, 'd.tessera');
    expect((await cli('init', db, '--root', dir)).code).toBe(0);
    const bad = path.join(dir, 'bad.json');
    fs.writeFileSync(bad, JSON.stringify({ recipe: 1, format: 'yolo', augment: { outputs: 0, seed: 1, steps: [{ op: 'flip' }] } }));
    const r = await cli('version', 'create', db, '--name', 'x', '--recipe', bad);
    expect(r.code).not.toBe(0);
    expect(r.err).toContain(`${bad}: invalid recipe: augment.outputs:`);
    expect((await cli('version', 'list', db)).out).toMatch(/no versions/);
  });
});
