import fs from 'node:fs';
import path from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import type { AppError } from '../../src-main/common/errors';
import { Dataset } from '../../src-main/services/dataset';
import { DEFAULT_MAX_PIXELS, importImages, maxPixelsSetting } from '../../src-main/services/importer';
import { injectFault } from '../helpers/faults';
import { makeImages } from '../helpers/images';
import { sharedPath, tempDir } from '../helpers/shared';

let root: string;
let ds: Dataset;

beforeEach(async () => {
  root = tempDir();
  ds = await Dataset.create(path.join(root, 'set.tessera'));
  return async () => await ds.close();
});

async function rows(): Promise<{ path: string; width: number; height: number; bit_depth: number; frames: number; format: string; orientation: number }[]> {
  return await ds.db.prepare('SELECT * FROM images ORDER BY id').all() as never;
}

describe('importImages', () => {
  it('imports every supported format from a folder tree and reports bad files per file', async () => {
    const files = await makeImages(path.join(root, 'imgs', 'sub'));
    fs.writeFileSync(path.join(root, 'imgs', 'zero.png'), '');
    const jpg = fs.readFileSync(files['a.jpg']!);
    fs.writeFileSync(path.join(root, 'imgs', 'cut.jpg'), jpg.subarray(0, jpg.length - 200));
    fs.writeFileSync(path.join(root, 'imgs', 'noise.tif'), Buffer.from('II*\0 definitely not a tiff'));
    // A PNG with a header and an empty IDAT chunk: listed as corrupt now, not when its thumbnail fails.
    const png = fs.readFileSync(files['b.png']!);
    const emptyIdat = Buffer.from([0, 0, 0, 0, 0x49, 0x44, 0x41, 0x54, 0x35, 0xaf, 0x06, 0x1e]);
    fs.writeFileSync(path.join(root, 'imgs', 'header-only.png'), Buffer.concat([png.subarray(0, 33), emptyIdat, png.subarray(png.length - 12)]));
    fs.writeFileSync(path.join(root, 'imgs', 'readme.txt'), 'not an image, ignored in a folder walk');

    const events: string[] = [];
    const report = await importImages(ds, { paths: [path.join(root, 'imgs')], onProgress: (p) => events.push(p.phase) });

    expect(report.imported).toBe(Object.keys(files).length);
    expect(report.ignored).toBe(1);
    expect(report.problems.map((p) => [path.basename(p.file), p.kind])).toEqual([
      ['cut.jpg', 'truncated'],
      ['header-only.png', 'corrupt'],
      ['noise.tif', 'unsupported'],
      ['zero.png', 'empty'],
    ]);
    expect(events[0]).toBe('scanning');
    expect(events.at(-1)).toBe('done');
    const byName = new Map((await rows()).map((r) => [path.basename(r.path), r]));
    expect(byName.get('g-rot.jpg')).toMatchObject({ width: 20, height: 60, orientation: 6 });
    expect(byName.get('d16.png')).toMatchObject({ bit_depth: 16 });
    expect(byName.get('f-pages.tif')).toMatchObject({ frames: 3 });
    expect(byName.get('h.bmp')).toMatchObject({ format: 'bmp' });
    // Paths are stored relative to the root, with forward slashes.
    expect(byName.get('a.jpg')!.path).toBe('imgs/sub/a.jpg');
  });

  it('reports duplicates by content and never stores them twice', async () => {
    const files = await makeImages(path.join(root, 'one'));
    fs.mkdirSync(path.join(root, 'two'));
    fs.copyFileSync(files['a.jpg']!, path.join(root, 'two', 'same-as-a.jpg'));
    const first = await importImages(ds, { paths: [path.join(root, 'one'), path.join(root, 'two')] });
    expect(first.duplicates).toEqual([{ file: path.join(root, 'two', 'same-as-a.jpg'), duplicateOf: 'one/a.jpg' }]);
    const again = await importImages(ds, { paths: [path.join(root, 'one')] });
    expect(again.imported).toBe(0);
    expect(again.duplicates).toHaveLength(Object.keys(files).length);
    expect(await rows()).toHaveLength(Object.keys(files).length);
  });

  it('refuses paths outside the root unless allowed, then stores them as absolute paths', async () => {
    const elsewhere = tempDir();
    await makeImages(elsewhere);
    await expect(importImages(ds, { paths: [elsewhere] })).rejects.toMatchObject({ code: 'PATH_OUTSIDE_ROOT' } satisfies Partial<AppError>);
    expect(await rows()).toHaveLength(0);
    const r = await importImages(ds, { paths: [elsewhere], allowOutsideRoot: true });
    expect(r.external).toBe(r.imported);
    expect((await rows()).every((x) => path.isAbsolute(x.path))).toBe(true);
  });

  it('writes nothing when cancelled', async () => {
    await makeImages(path.join(root, 'imgs'));
    let seen = 0;
    const r = await importImages(ds, {
      paths: [path.join(root, 'imgs')],
      concurrency: 1,
      progressIntervalMs: 0,
      isCancelled: () => seen >= 3,
      onProgress: (p) => {
        if (p.phase === 'probing') seen = p.done;
      },
    });
    expect(r.cancelled).toBe(true);
    expect(await rows()).toHaveLength(0);
  });

  it('writes nothing when the database write fails part way', async () => {
    await makeImages(path.join(root, 'imgs'));
    await injectFault(ds.db, { name: 'fail_third', table: 'images', on: 'INSERT', when: '(SELECT count(*) FROM images) >= 2', message: 'disk full (simulated)' });
    await expect(importImages(ds, { paths: [path.join(root, 'imgs')] })).rejects.toThrow(/disk full/);
    expect(await rows()).toHaveLength(0);
  });

  it('follows symbolic links to files and folders inside the root, and reports loops, dangling links and links leading out', async () => {
    const files = await makeImages(path.join(root, 'imgs'));
    fs.mkdirSync(path.join(root, 'elsewhere', 'more'), { recursive: true });
    fs.copyFileSync(files['b.png']!, path.join(root, 'elsewhere', 'more', 'z.png'));
    const sharp = (await import('sharp')).default;
    await sharp({ create: { width: 9, height: 7, channels: 3, background: '#123456' } }).png().toFile(path.join(root, 'elsewhere', 'x.png'));
    const outside = tempDir();
    await sharp({ create: { width: 5, height: 5, channels: 3, background: '#654321' } }).png().toFile(path.join(outside, 'y.png'));
    const link = (target: string, name: string) => fs.symlinkSync(target, path.join(root, 'imgs', name));
    link('../elsewhere/x.png', 'x-link.png'); // a good image elsewhere in the root
    link('../elsewhere/more', 'linked-dir'); // a folder elsewhere in the root
    link('loop.png', 'loop.png'); // a link to itself
    link('nope.jpg', 'dangling.jpg');
    link(path.join(outside, 'y.png'), 'escape.png');
    link('..', 'up'); // a folder link back to an ancestor

    const report = await importImages(ds, { paths: [path.join(root, 'imgs')] });
    expect(report.imported).toBe(Object.keys(files).length + 1);
    const stored = (await rows()).map((r) => r.path);
    expect(stored).toContain('imgs/x-link.png');
    expect((await rows()).find((r) => r.path === 'imgs/x-link.png')).toMatchObject({ width: 9, height: 7 });
    // z.png has b.png's content: found through the folder link, and reported as its duplicate.
    expect(report.duplicates).toEqual([{ file: path.join(root, 'imgs', 'linked-dir', 'z.png'), duplicateOf: 'imgs/b.png' }]);
    expect(report.problems.map((p) => [path.basename(p.file), p.kind])).toEqual([
      ['dangling.jpg', 'unreadable'],
      ['escape.png', 'outside_root'],
      ['loop.png', 'unreadable'],
      ['up', 'unreadable'],
    ]);
    const reason = (name: string) => report.problems.find((p) => path.basename(p.file) === name)!.reason;
    expect(reason('dangling.jpg')).toMatch(/dangling symbolic link: its target nope\.jpg does not exist/);
    expect(reason('escape.png')).toMatch(/leading outside/);
    expect(reason('loop.png')).toMatch(/symbolic link loop/);
    expect(reason('up')).toMatch(/already being imported \(a loop\)/);
    expect(stored.some((p) => p.includes('escape') || p.startsWith('imgs/up/'))).toBe(false);

    // With paths outside the root allowed, a link may also lead anywhere inside the folder named.
    const ext = tempDir();
    fs.copyFileSync(path.join(outside, 'y.png'), path.join(ext, 'y.png'));
    fs.mkdirSync(path.join(ext, 'pick'));
    fs.symlinkSync('../y.png', path.join(ext, 'pick', 'y-link.png'));
    fs.symlinkSync('/etc/hostname', path.join(ext, 'pick', 'host.png'));
    const allowed = await importImages(ds, { paths: [path.join(ext, 'pick')], allowOutsideRoot: true });
    expect(allowed.imported).toBe(0);
    expect(allowed.problems.map((p) => [path.basename(p.file), p.kind])).toEqual([
      ['host.png', 'outside_root'],
      ['y-link.png', 'outside_root'],
    ]);
    const parent = await importImages(ds, { paths: [ext], allowOutsideRoot: true });
    expect(parent.problems.map((p) => [path.basename(p.file), p.kind])).toEqual([['host.png', 'outside_root']]);
    expect(parent.imported).toBe(1);
    expect(parent.duplicates.map((d) => path.basename(d.file))).toEqual(['y-link.png']);
  });

  it('ignores links named like no image, dangling or leading anywhere, and names a second route to a folder as such', async () => {
    const files = await makeImages(path.join(root, 'imgs'));
    fs.writeFileSync(path.join(root, 'readme.md'), 'x');
    const link = (target: string, name: string) => fs.symlinkSync(target, path.join(root, 'imgs', name));
    link('nope.txt', 'notes.txt'); // dangling
    link('/etc/hostname', 'hostname.txt'); // a file outside the root
    link('self.log', 'self.log'); // a loop
    link('../readme.md', 'readme.md');
    const r = await importImages(ds, { paths: [path.join(root, 'imgs')] });
    expect(r.problems).toEqual([]);
    expect(r.imported).toBe(Object.keys(files).length);

    // A folder holding nothing but such links imports nothing and reports nothing.
    fs.mkdirSync(path.join(root, 'only-links'));
    fs.symlinkSync('gone.txt', path.join(root, 'only-links', 'notes.txt'));
    const none = await importImages(ds, { paths: [path.join(root, 'only-links')] });
    expect(none.problems).toEqual([]);
    expect(none.imported).toBe(0);

    // A link in one subfolder to a sibling walked before it is a second route, not a loop.
    const sharp = (await import('sharp')).default;
    fs.mkdirSync(path.join(root, 'set', 'a'), { recursive: true });
    fs.mkdirSync(path.join(root, 'set', 'b'));
    await sharp({ create: { width: 9, height: 7, channels: 3, background: '#123456' } }).png().toFile(path.join(root, 'set', 'a', 'p.png'));
    fs.symlinkSync('../a', path.join(root, 'set', 'b', 'to-a'));
    const twice = await importImages(ds, { paths: [path.join(root, 'set')] });
    expect(twice.imported).toBe(1);
    expect(twice.problems.map((p) => [path.basename(p.file), p.kind])).toEqual([['to-a', 'unreadable']]);
    expect(twice.problems[0]!.reason).toMatch(/already imported through another path; not followed/);
    expect(twice.problems[0]!.reason).not.toMatch(/loop/);
  });

  it('reads a list file of paths relative to the list, and reports unsupported files named in it', async () => {
    const files = await makeImages(path.join(root, 'imgs'));
    fs.writeFileSync(path.join(root, 'imgs', 'notes.gif'), 'x');
    fs.writeFileSync(path.join(root, 'list.txt'), `# selected\nimgs/a.jpg\nimgs/b.png\n\nimgs/notes.gif\nimgs/gone.png\n`);
    const r = await importImages(ds, { paths: [path.join(root, 'list.txt')] });
    expect(r.imported).toBe(2);
    expect(r.problems.map((p) => [path.basename(p.file), p.kind])).toEqual([
      ['gone.png', 'unreadable'],
      ['notes.gif', 'unsupported'],
    ]);
    expect(files['a.jpg']).toBeDefined();
  });

  it('takes the pixel guard from TESSERA_MAX_PIXELS and refuses larger images per file', async () => {
    expect(maxPixelsSetting({})).toBe(DEFAULT_MAX_PIXELS);
    expect(maxPixelsSetting({ TESSERA_MAX_PIXELS: 'lots' })).toBe(DEFAULT_MAX_PIXELS);
    expect(maxPixelsSetting({ TESSERA_MAX_PIXELS: '1000' })).toBe(1000);
    await makeImages(path.join(root, 'imgs'));
    const r = await importImages(ds, { paths: [path.join(root, 'imgs')], maxPixels: 1000 });
    // 64x48, 40x30, 32x32 and 20x60 exceed 1,000 pixels; 50x20 is exactly at the limit; 20x10x3 and 8x4 are below.
    expect(r.problems.filter((p) => p.kind === 'too_large').map((p) => path.basename(p.file)).sort()).toEqual(
      ['a.jpg', 'b.png', 'c.webp', 'g-rot.jpg'],
    );
    expect(r.imported).toBe(4);
  });

  it('progress reports counts and an ETA', async () => {
    await makeImages(path.join(root, 'imgs'));
    const probing: { done: number; total: number; etaMs: number | null }[] = [];
    await importImages(ds, {
      paths: [path.join(root, 'imgs')],
      progressIntervalMs: 0,
      concurrency: 1,
      onProgress: (p) => p.phase === 'probing' && probing.push(p),
    });
    expect(probing.length).toBeGreaterThan(2);
    expect(probing.at(-1)!.done).toBe(probing.at(-1)!.total);
    expect(probing.slice(1).every((p) => p.etaMs !== null && p.etaMs >= 0)).toBe(true);
  });

  it('imports a cloud-optimised GeoTIFF as one frame, its overview pages not counted against the pixel limit', async () => {
    const cog = sharedPath('datasets/geotiff_rasterio/cogeo.tif');
    if (!cog) return;
    // 1024 x 1024 with 13 overview and mask pages: as 14 frames it would be over this limit.
    const r = await importImages(ds, { paths: [cog], allowOutsideRoot: true, maxPixels: 2 * 1024 * 1024 });
    expect(r.problems).toEqual([]);
    expect(r.imported).toBe(1);
    expect(await rows()).toMatchObject([{ width: 1024, height: 1024, frames: 1, format: 'tiff' }]);
  });

  it('imports the 28 BCCD microscopy images from the shared data', async () => {
    const bccd = sharedPath('datasets/bccd_voc/JPEGImages');
    if (!bccd) return;
    const r = await importImages(ds, { paths: [bccd], allowOutsideRoot: true });
    expect(r.imported).toBe(28);
    expect(r.problems).toEqual([]);
    expect(new Set((await rows()).map((x) => `${x.width}x${x.height}`))).toEqual(new Set(['640x480']));
  });
});
