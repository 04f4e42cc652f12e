import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../src-main/cli/main';
import { EXPORT_MANIFEST, filesUnder } from '../../src-main/services/interchange/exportPlace';
import { makeImages } from '../helpers/images';
import { tempDir } from '../helpers/shared';
import { withStore } from '../helpers/storeRead';

async function cli(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, { out: (s) => out.push(s), err: (s) => err.push(s), tty: false });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

const splits = async (db: string): Promise<number> =>
  await withStore(db, async (raw) => (await raw.prepare('SELECT count(*) FROM images WHERE split IS NOT NULL').pluck().get()) as number);

describe('tessera export into a folder that is not empty', () => {
  it('refuses without --overwrite or --merge, naming them, before assigning splits; overwrites and merges with them', async () => {
    const dir = tempDir();
    await makeImages(path.join(dir, 'imgs'));
    const db = path.join(dir, 'd.tessera');
    expect((await cli('init', db, '--root', dir)).code).toBe(0);
    expect((await cli('import', db, path.join(dir, 'imgs'))).code).toBe(0);
    const out = path.join(dir, 'out');
    const first = await cli('export', db, out, '--format', 'yolo', '--images', 'none');
    expect(first.code, first.err).toBe(0);
    const firstFiles = filesUnder(out);
    expect(firstFiles).toContain(EXPORT_MANIFEST);

    const refused = await cli('export', db, out, '--format', 'yolo', '--split', '0.5,0.5,0');
    expect(refused.code).not.toBe(0);
    expect(refused.err).toContain('--overwrite');
    expect(refused.err).toContain('--merge');
    expect(await splits(db)).toBe(0);
    expect(filesUnder(out)).toEqual(firstFiles);

    const both = await cli('export', db, out, '--format', 'yolo', '--overwrite', '--merge');
    expect(both.code).not.toBe(0);
    expect(both.err).toContain('exclude each other');

    // Overwrite: the images this export copies appear; nothing of the first export is left over.
    const over = await cli('export', db, out, '--format', 'yolo', '--overwrite');
    expect(over.code, over.err).toBe(0);
    const overFiles = filesUnder(out);
    expect(overFiles.some((f) => f.startsWith('images/'))).toBe(true);
    const manifest = JSON.parse(fs.readFileSync(path.join(out, EXPORT_MANIFEST), 'utf8')) as { files: string[] };
    expect(manifest.files).toEqual(overFiles.filter((f) => f !== EXPORT_MANIFEST));

    // A file of the user's: overwrite refuses and deletes nothing; merge keeps it.
    fs.writeFileSync(path.join(out, 'notes.txt'), 'mine');
    const overAgain = await cli('export', db, out, '--format', 'yolo', '--overwrite');
    expect(overAgain.code).not.toBe(0);
    expect(overAgain.err).toContain('notes.txt');
    expect(filesUnder(out)).toEqual([...overFiles, 'notes.txt'].sort());
    fs.rmSync(path.join(out, 'data.yaml'));
    const merged = await cli('export', db, out, '--format', 'yolo', '--images', 'none', '--merge');
    expect(merged.code, merged.err).toBe(0);
    expect(fs.readFileSync(path.join(out, 'notes.txt'), 'utf8')).toBe('mine');
    expect(filesUnder(out)).toEqual([...overFiles, 'notes.txt'].sort());
  });

  it('--merge refuses another format and the dataset\'s own folders before assigning splits, suggesting --overwrite', async () => {
    const dir = tempDir();
    await makeImages(path.join(dir, 'imgs'));
    const db = path.join(dir, 'd.tessera');
    expect((await cli('init', db, '--root', dir)).code).toBe(0);
    expect((await cli('import', db, path.join(dir, 'imgs'))).code).toBe(0);
    const out = path.join(dir, 'out');
    expect((await cli('export', db, out, '--format', 'yolo', '--images', 'none')).code).toBe(0);
    const firstFiles = filesUnder(out);

    const other = await cli('export', db, out, '--format', 'voc', '--images', 'none', '--merge', '--split', '0.5,0.5,0');
    expect(other.code).not.toBe(0);
    expect(other.err).toMatch(/cannot merge: the earlier export there is yolo, this one is voc/);
    expect(other.err).toContain('--overwrite');
    expect(await splits(db)).toBe(0);
    expect(filesUnder(out)).toEqual(firstFiles);

    for (const target of [dir, path.join(dir, 'imgs')]) {
      const into = await cli('export', db, target, '--format', 'yolo', '--merge', '--split', '0.5,0.5,0');
      expect(into.code).not.toBe(0);
      expect(into.err).toMatch(/dataset folder|holds the dataset's image/);
      expect(await splits(db)).toBe(0);
    }
  });
});
