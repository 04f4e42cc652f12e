import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import type { RecipeInput } from '../../../src-main/common/augment/recipe';
import { recipeSchema } from '../../../src-main/common/augment/recipe';
import type { Geometry, Split } from '../../../src-main/common/model';
import { insertAnnotations } from '../../../src-main/db/annotations';
import { insertClass, setClassKeypoints } from '../../../src-main/db/classes';
import { setSplits } from '../../../src-main/db/export';
import { Dataset } from '../../../src-main/services/dataset';
import { importImages } from '../../../src-main/services/importer';
import { exportDataset, type ExportOptions } from '../../../src-main/services/interchange/exportDataset';
import { readRecipeFile } from '../../../src-main/services/interchange/recipeExport';
import { previewRecipe } from '../../../src-main/services/interchange/recipePreview';
import { importDataset } from '../../../src-main/services/interchange/importDataset';
import { sharedPath, tempDir } from '../../helpers/shared';

const open: Dataset[] = [];
afterEach(async () => {
  for (const ds of open.splice(0)) await ds.close();
});

/** A textured image (so that flips, rotations and noise change its bytes) of the given size. */
async function texture(file: string, width: number, height: number, seed: number): Promise<void> {
  const data = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      data[i] = (x * 3 + seed * 40) % 256;
      data[i + 1] = (y * 5 + seed * 17) % 256;
      data[i + 2] = ((x ^ y) * 7) % 256;
    }
  }
  const img = sharp(data, { raw: { width, height, channels: 3 } });
  await (file.endsWith('.jpg') ? img.jpeg() : img.png()).toFile(file);
}

interface Spec {
  name: string;
  width: number;
  height: number;
  split: Split | null;
  shapes: Geometry[];
}

async function dataset(specs: Spec[]): Promise<Dataset> {
  const dir = tempDir('tessera-export-recipe-');
  const imgs = path.join(dir, 'imgs');
  fs.mkdirSync(imgs);
  for (const [i, s] of specs.entries()) await texture(path.join(imgs, s.name), s.width, s.height, i);
  const ds = await Dataset.create(path.join(dir, 'd.tessera'), dir);
  open.push(ds);
  await importImages(ds, { paths: [imgs] });
  const cls = (await insertClass(ds.db, { name: 'thing', color: '#ff0000' })).id;
  const byName = new Map((await imageRows(ds)).map((im) => [path.basename(im.path), im.id]));
  const pairs: [number, Split | null][] = [];
  for (const s of specs) {
    const id = byName.get(s.name)!;
    pairs.push([id, s.split]);
    await insertAnnotations(
      ds.db,
      s.shapes.map((g) => ({ imageId: id, classId: cls, geometry: g, source: 'human' as const })),
    );
  }
  await setSplits(ds.db, pairs);
  return ds;
}

async function imageRows(ds: Dataset): Promise<{ id: number; path: string }[]> {
  return await ds.db.prepare('SELECT id, path FROM images ORDER BY id').all() as { id: number; path: string }[];
}

function opts(outDir: string, recipe: RecipeInput | null, extra: Partial<ExportOptions> = {}): ExportOptions {
  const base: ExportOptions = { outDir, format: 'yolo', only: 'all', withPredictions: false, images: 'copy', strict: false, cocoSegmentation: 'polygon', ...extra };
  if (recipe) {
    const r = recipeSchema.parse(recipe);
    base.recipe = { preprocess: r.preprocess, augment: r.augment };
  }
  return base;
}

function walk(dir: string, rel = ''): string[] {
  return fs.readdirSync(path.join(dir, rel), { withFileTypes: true }).flatMap((e) => {
    const r = rel ? `${rel}/${e.name}` : e.name;
    return e.isDirectory() ? walk(dir, r) : [r];
  });
}

function hashes(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of walk(dir).sort()) out[f] = createHash('sha256').update(fs.readFileSync(path.join(dir, f))).digest('hex');
  return out;
}

/** YOLO label lines as numbers: [class, cx, cy, w, h]. */
function labels(file: string): number[][] {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => l.trim().split(/\s+/).map(Number));
}

const box = (x: number, y: number, w: number, h: number): Geometry => ({ kind: 'box', x, y, w, h });

describe('export with a recipe: preprocessing', () => {
  it('letterbox resize writes images of exactly the size asked, with boxes on the transformed geometry', async () => {
    const ds = await dataset([{ name: 'wide.png', width: 200, height: 100, split: 'train', shapes: [box(20, 10, 40, 30)] }]);
    const out = path.join(tempDir('tessera-recipe-out-'), 'o');
    const r = await exportDataset(ds, opts(out, { recipe: 1, format: 'yolo', preprocess: { resize: { mode: 'letterbox', width: 64, height: 64 } } }));
    expect(r.images).toBe(1);
    const meta = await sharp(path.join(out, 'images/train/wide.png')).metadata();
    expect([meta.width, meta.height]).toEqual([64, 64]);
    // By hand: scale min(64/200, 64/100) = 0.32, so 64 x 32 padded by 16 above and below; the box
    // (20, 10, 40, 30) becomes (6.4, 19.2, 12.8, 9.6): centre (12.8, 24) of 64 x 64.
    const [line] = labels(path.join(out, 'labels/train/wide.txt'));
    expect(line![0]).toBe(0);
    expect(line![1]).toBeCloseTo(12.8 / 64, 3);
    expect(line![2]).toBeCloseTo(24 / 64, 3);
    expect(line![3]).toBeCloseTo(12.8 / 64, 3);
    expect(line![4]).toBeCloseTo(9.6 / 64, 3);
    // The padding is the recipe's grey (114 by default), the picture in between is the image's.
    const { data } = await sharp(path.join(out, 'images/train/wide.png')).raw().toBuffer({ resolveWithObject: true });
    expect([data[0], data[1], data[2]]).toEqual([114, 114, 114]);
  });

  it('tiling an image larger than the tile gives the expected tiles; an object cut by a tile edge is clipped and counted, none with zero area', async () => {
    // 300 x 200 in tiles of 128 overlapping by 28 (step 100): 3 across and 2 down.
    const ds = await dataset([{ name: 'big.png', width: 300, height: 200, split: 'train', shapes: [box(90, 20, 60, 40), box(10, 10, 20, 20), box(295, 190, 5, 10)] }]);
    const out = path.join(tempDir('tessera-recipe-out-'), 'o');
    const r = await exportDataset(ds, opts(out, { recipe: 1, format: 'yolo', preprocess: { tile: { size: 128, overlap: 28, minVisible: 0.25 } } }));
    const tiles = fs.readdirSync(path.join(out, 'images/train')).sort();
    expect(tiles).toHaveLength(6);
    for (const t of tiles) expect(t).toMatch(/^big_t\d{4}\.png$/);
    for (const t of tiles) {
      const meta = await sharp(path.join(out, 'images/train', t)).metadata();
      expect(meta.width).toBeLessThanOrEqual(128);
      expect(meta.height).toBeLessThanOrEqual(128);
    }
    expect(r.images).toBe(6);
    const clipped = r.warnings.find((w) => w.kind === 'tile-clipped');
    expect(clipped?.count ?? 0).toBeGreaterThanOrEqual(1);
    let objects = 0;
    for (const t of tiles) {
      for (const l of labels(path.join(out, 'labels/train', t.replace(/\.png$/, '.txt')))) {
        objects++;
        expect(l[3]).toBeGreaterThan(0);
        expect(l[4]).toBeGreaterThan(0);
      }
    }
    expect(objects).toBeGreaterThanOrEqual(3);
  });

  it('a 16-bit image is written at 8 bits through the display window the viewer uses', async () => {
    const dir = tempDir('tessera-export-recipe16-');
    const imgs = path.join(dir, 'imgs');
    fs.mkdirSync(imgs);
    // Values 0..235 of 65535, as fluorescence microscopy often has: a plain shift to 8 bits would be black.
    const g16 = new Uint16Array(50 * 20);
    for (let i = 0; i < g16.length; i++) g16[i] = i % 236;
    await sharp(g16, { raw: { width: 50, height: 20, channels: 1 } }).toColourspace('grey16').png().toFile(path.join(imgs, 'deep.png'));
    const ds = await Dataset.create(path.join(dir, 'd.tessera'), dir);
    open.push(ds);
    await importImages(ds, { paths: [imgs] });
    const out = path.join(dir, 'o');
    await exportDataset(ds, opts(out, { recipe: 1, format: 'yolo', preprocess: { resize: { mode: 'stretch', width: 100, height: 40 } } }));
    const file = path.join(out, 'images/train/deep.png');
    const meta = await sharp(file).metadata();
    expect([meta.width, meta.height, meta.depth, meta.channels]).toEqual([100, 40, 'uchar', 1]);
    const stats = await sharp(file).stats();
    expect(stats.channels[0]!.max).toBeGreaterThan(200);
    expect(stats.channels[0]!.min).toBeLessThan(30);
  });

  it('an export without a recipe (or with an empty one) is the plain export, byte for byte', async () => {
    const ds = await dataset([{ name: 'a.png', width: 40, height: 30, split: 'train', shapes: [box(1, 2, 10, 10)] }]);
    const a = path.join(tempDir('tessera-recipe-out-'), 'o');
    const b = path.join(tempDir('tessera-recipe-out-'), 'o');
    await exportDataset(ds, opts(a, null));
    await exportDataset(ds, opts(b, { recipe: 1, format: 'yolo' }));
    expect(hashes(b)).toEqual(hashes(a));
  });
});

describe('export with a recipe: augmentation', () => {
  const specs = (): Spec[] => [
    { name: 't1.png', width: 96, height: 64, split: 'train', shapes: [box(10, 10, 30, 20), { kind: 'polygon', parts: [[50, 10, 80, 12, 70, 50]] }] },
    { name: 't2.jpg', width: 80, height: 80, split: 'train', shapes: [box(20, 20, 40, 40)] },
    { name: 'v1.png', width: 64, height: 64, split: 'val', shapes: [box(5, 5, 10, 10)] },
    { name: 's1.png', width: 64, height: 64, split: 'test', shapes: [box(5, 5, 10, 10)] },
  ];
  const recipe = (seed: number): RecipeInput => ({
    recipe: 1,
    format: 'yolo',
    augment: {
      outputs: 3,
      seed,
      steps: [
        { op: 'flip', horizontal: 0.5 },
        { op: 'rotate', p: 0.8, degrees: [-25, 25] },
        { op: 'brightness', p: 0.8, factor: [0.6, 1.4] },
        { op: 'noise', p: 0.5, sigma: [2, 10] },
      ],
    },
  });

  it('writes outputs augmented copies of every train image and none of val or test', async () => {
    const ds = await dataset(specs());
    const out = path.join(tempDir('tessera-recipe-out-'), 'o');
    const r = await exportDataset(ds, opts(out, recipe(7)));
    expect(fs.readdirSync(path.join(out, 'images/train')).sort()).toEqual(['t1.png', 't1_aug1.png', 't1_aug2.png', 't1_aug3.png', 't2.jpg', 't2_aug1.jpg', 't2_aug2.jpg', 't2_aug3.jpg']);
    expect(fs.readdirSync(path.join(out, 'images/val'))).toEqual(['v1.png']);
    expect(fs.readdirSync(path.join(out, 'images/test'))).toEqual(['s1.png']);
    expect(r.bySplit).toEqual({ train: 8, val: 1, test: 1, none: 0 });
    expect(fs.readdirSync(path.join(out, 'labels/train'))).toHaveLength(8);
    // Without preprocessing the images themselves and their labels are a plain export's, byte for byte.
    const plain = path.join(tempDir('tessera-recipe-out-'), 'o');
    await exportDataset(ds, opts(plain, null));
    const ours = hashes(out);
    const theirs = hashes(plain);
    const originals = Object.keys(theirs).filter((f) => f.startsWith('images/') || f.startsWith('labels/'));
    expect(originals).toHaveLength(8);
    for (const f of originals) expect(ours[f], f).toBe(theirs[f]);
  });

  it('mosaic draws its other images from the train split; objects cut at the edges are clipped and counted, none with zero area', async () => {
    const ds = await dataset(specs());
    const out = path.join(tempDir('tessera-recipe-out-'), 'o');
    const r = await exportDataset(ds, opts(out, { recipe: 1, format: 'yolo', augment: { outputs: 3, seed: 3, steps: [{ op: 'mosaic', p: 1 }] } }));
    expect(r.bySplit).toEqual({ train: 8, val: 1, test: 1, none: 0 });
    const clipped = r.warnings.find((w) => w.kind === 'augment-clipped')?.count ?? 0;
    const dropped = r.warnings.find((w) => w.kind === 'augment-dropped')?.count ?? 0;
    expect(clipped + dropped).toBeGreaterThan(0);
    let objects = 0;
    for (const f of fs.readdirSync(path.join(out, 'labels/train')).filter((n) => n.includes('_aug'))) {
      for (const l of labels(path.join(out, 'labels/train', f))) {
        objects++;
        expect(l[3]).toBeGreaterThan(0);
        expect(l[4]).toBeGreaterThan(0);
      }
    }
    expect(objects).toBeGreaterThan(0);
    // A mosaic holds objects of other train images: t2 has one object, its mosaics more.
    const t2 = [1, 2, 3].map((k) => labels(path.join(out, `labels/train/t2_aug${k}.txt`)).length);
    expect(Math.max(...t2)).toBeGreaterThan(1);
    // Drawn through the seeded generator: the same again.
    const again = path.join(tempDir('tessera-recipe-out-'), 'o');
    await exportDataset(ds, opts(again, { recipe: 1, format: 'yolo', augment: { outputs: 3, seed: 3, steps: [{ op: 'mosaic', p: 1 }] } }));
    expect(hashes(again)).toEqual(hashes(out));
  });

  it('the same recipe twice gives identical bytes; another seed gives other augmented files', async () => {
    const ds = await dataset(specs());
    const runs: Record<string, string>[] = [];
    for (const seed of [7, 7, 8]) {
      const out = path.join(tempDir('tessera-recipe-out-'), 'o');
      await exportDataset(ds, opts(out, recipe(seed)));
      runs.push(hashes(out));
    }
    const files = Object.keys(runs[0]!);
    expect(files.length).toBeGreaterThan(10);
    expect(runs[1]).toEqual(runs[0]);
    const augmented = files.filter((f) => f.startsWith('images/') && f.includes('_aug'));
    expect(augmented).toHaveLength(6);
    const differ = augmented.filter((f) => runs[2]![f] !== runs[0]![f]);
    expect(differ.length).toBeGreaterThan(0);
    // The originals do not depend on the seed.
    expect(runs[2]!['images/val/v1.png']).toBe(runs[0]!['images/val/v1.png']);
    expect(runs[2]!['images/train/t1.png']).toBe(runs[0]!['images/train/t1.png']);
  });

  it('a flip swaps left and right keypoints by the class\'s flip pairs', async () => {
    const ds = await dataset([{ name: 'k.png', width: 100, height: 50, split: 'train', shapes: [{ kind: 'keypoints', points: [10, 20, 2, 30, 22, 2, 50, 40, 2] }] }]);
    const cls = await ds.db.prepare('SELECT id FROM classes').pluck().get() as number;
    await setClassKeypoints(ds.db, cls, { names: ['left_eye', 'right_eye', 'nose'], skeleton: [], flipPairs: [[0, 1]] });
    const out = path.join(tempDir('tessera-recipe-out-'), 'o');
    await exportDataset(ds, opts(out, { recipe: 1, format: 'coco', augment: { outputs: 1, seed: 1, steps: [{ op: 'flip', horizontal: 1 }] } }, { format: 'coco' }));
    const coco = JSON.parse(fs.readFileSync(path.join(out, 'annotations/instances_train.json'), 'utf8')) as {
      images: { id: number; file_name: string }[];
      annotations: { image_id: number; keypoints: number[] }[];
    };
    const aug = coco.images.find((i) => i.file_name.includes('k_aug1'))!;
    const kp = coco.annotations.find((a) => a.image_id === aug.id)!.keypoints;
    // Mirrored (x -> 100 - x), then the eyes swap: the left eye is where the mirrored right eye is.
    expect(kp).toHaveLength(9);
    expect(kp[0]).toBeCloseTo(70, 3);
    expect(kp[1]).toBeCloseTo(22, 3);
    expect(kp[3]).toBeCloseTo(90, 3);
    expect(kp[4]).toBeCloseTo(20, 3);
    expect(kp[6]).toBeCloseTo(50, 3);
    expect(kp[7]).toBeCloseTo(40, 3);
  });

  it('a merge into an earlier augmented export removes the copies no longer made and keeps those of images left out', async () => {
    const ds = await dataset(specs());
    const out = path.join(tempDir('tessera-recipe-out-'), 'o');
    await exportDataset(ds, opts(out, recipe(7)));
    const withOutputs = (n: number): RecipeInput => {
      const r = recipe(7);
      return { ...r, augment: { ...r.augment!, outputs: n } };
    };
    await exportDataset(ds, opts(out, withOutputs(2), { ifExists: 'merge' }));
    expect(fs.readdirSync(path.join(out, 'images/train')).sort()).toEqual(['t1.png', 't1_aug1.png', 't1_aug2.png', 't2.jpg', 't2_aug1.jpg', 't2_aug2.jpg']);
    expect(fs.readdirSync(path.join(out, 'labels/train')).sort()).toEqual(['t1.txt', 't1_aug1.txt', 't1_aug2.txt', 't2.txt', 't2_aug1.txt', 't2_aug2.txt']);
    // Only t1 this time: t2 and its copies stay as the earlier export wrote them.
    await ds.db.prepare("UPDATE images SET status = 'done' WHERE path LIKE '%t1.png'").run();
    await exportDataset(ds, opts(out, withOutputs(1), { ifExists: 'merge', only: 'done' }));
    expect(fs.readdirSync(path.join(out, 'images/train')).sort()).toEqual(['t1.png', 't1_aug1.png', 't2.jpg', 't2_aug1.jpg', 't2_aug2.jpg']);
  });

  it('an image augments the same whatever other images the export holds', async () => {
    const ds = await dataset(specs());
    const a = path.join(tempDir('tessera-recipe-out-'), 'o');
    const b = path.join(tempDir('tessera-recipe-out-'), 'o');
    await exportDataset(ds, opts(a, recipe(7)));
    // Only t1 in the second export's scope.
    await ds.db.prepare("UPDATE images SET status = 'done' WHERE path LIKE '%t1.png'").run();
    const r = await exportDataset(ds, opts(b, recipe(7), { only: 'done' }));
    expect(r.bySplit.train).toBe(4);
    const ha = hashes(a);
    const hb = hashes(b);
    for (const k of [1, 2, 3]) expect(hb[`images/train/t1_aug${k}.png`]).toBe(ha[`images/train/t1_aug${k}.png`]);
  });
});

describe('export with a recipe: ids', () => {
  const tiny = sharedPath('datasets/coco_tinycoco');
  it.skipIf(!tiny)('COCO: tiles and augmented copies get image and object ids of their own, above the ids a COCO import remembered', async () => {
    const dir = tempDir('tessera-export-recipe-coco-');
    const ds = await Dataset.create(path.join(dir, 'd.tessera'), dir);
    open.push(ds);
    await importDataset(ds, { path: tiny!, format: 'coco', allowOutsideRoot: true });
    await ds.db.prepare("UPDATE images SET split = 'train'").run();
    const out = path.join(dir, 'o');
    const r = await exportDataset(
      ds,
      opts(out, { recipe: 1, format: 'coco', preprocess: { tile: { size: 400, overlap: 40 } }, augment: { outputs: 1, seed: 2, steps: [{ op: 'flip', horizontal: 1 }] } }, { format: 'coco' }),
    );
    const coco = JSON.parse(fs.readFileSync(path.join(out, 'annotations/instances_train.json'), 'utf8')) as {
      images: { id: number; file_name: string }[];
      annotations: { id: number; image_id: number }[];
    };
    expect(coco.images.length).toBe(r.images);
    expect(coco.images.length).toBeGreaterThan(64);
    expect(new Set(coco.images.map((i) => i.id)).size).toBe(coco.images.length);
    expect(new Set(coco.images.map((i) => i.file_name)).size).toBe(coco.images.length);
    expect(new Set(coco.annotations.map((a) => a.id)).size).toBe(coco.annotations.length);
    const imageIds = new Set(coco.images.map((i) => i.id));
    for (const a of coco.annotations) expect(imageIds.has(a.image_id)).toBe(true);
    const remembered = await ds.db.prepare('SELECT coco_id FROM coco_image_ids').pluck().all() as number[];
    expect(remembered.length).toBe(32);
    // Every output is a tile: none takes an id the COCO file gave its image.
    for (const id of remembered) expect(imageIds.has(id)).toBe(false);
  });
});

describe('the preview of a recipe', () => {
  it('shows the very samples the export writes, with their transformed outlines', async () => {
    const ds = await dataset([
      { name: 'p1.png', width: 96, height: 64, split: 'train', shapes: [box(10, 10, 30, 20)] },
      { name: 'p2.png', width: 64, height: 64, split: 'val', shapes: [box(5, 5, 10, 10)] },
    ]);
    const r = recipeSchema.parse({
      recipe: 1,
      format: 'yolo',
      augment: { outputs: 2, seed: 11, steps: [{ op: 'flip', horizontal: 1 }, { op: 'rotate', p: 1, degrees: [10, 30] }] },
    });
    const preview = await previewRecipe(ds, { preprocess: r.preprocess, augment: r.augment, images: 3, samples: 2, maxSide: 1024 });
    expect(preview.fromTrain).toBe(true);
    // Only the train image: as it is, then two samples.
    expect(preview.samples.map((s) => [path.basename(s.path), s.index])).toEqual([
      ['p1.png', 0],
      ['p1.png', 1],
      ['p1.png', 2],
    ]);
    const out = path.join(tempDir('tessera-recipe-out-'), 'o');
    await exportDataset(ds, opts(out, r));
    for (const s of preview.samples) {
      const file = path.join(out, 'images/train', s.index === 0 ? 'p1.png' : `p1_aug${s.index}.png`);
      const shown = await sharp(Buffer.from(s.dataUrl.replace(/^data:image\/png;base64,/, ''), 'base64')).raw().toBuffer();
      const written = await sharp(file).raw().toBuffer();
      expect(shown.equals(written)).toBe(true);
      expect(s.shapes).toHaveLength(1);
      expect(s.shapes[0]!.d).toMatch(/^M[\d.-]+ [\d.-]+L/);
    }
    expect(preview.samples[1]!.applied.join(' ')).toMatch(/flip/);
    expect(preview.samples[1]!.applied.join(' ')).toMatch(/rotate/);
  });
});

describe('recipe files', () => {
  it('a bad recipe is refused with the file and the JSON path named', () => {
    const file = path.join(tempDir('tessera-recipe-file-'), 'bad-recipe.json');
    fs.writeFileSync(file, JSON.stringify({ recipe: 1, format: 'yolo', augment: { outputs: 3, seed: 1, steps: [{ op: 'rotate', p: 2, degrees: [-10, 10] }] } }));
    expect(() => readRecipeFile(file)).toThrow(/bad-recipe\.json: invalid recipe: augment\.steps\[0\]\.p: /);
    fs.writeFileSync(file, '{ "recipe": 1, ');
    expect(() => readRecipeFile(file)).toThrow(/bad-recipe\.json: not a JSON recipe/);
    fs.writeFileSync(file, JSON.stringify({ recipe: 1, format: 'yolo', preprocess: { resize: { mode: 'squash', width: 10, height: 10 } } }));
    expect(() => readRecipeFile(file)).toThrow(/bad-recipe\.json: invalid recipe: preprocess\.resize\.mode: /);
  });

  it('a good recipe file reads with its defaults', () => {
    const file = path.join(tempDir('tessera-recipe-file-'), 'r.json');
    fs.writeFileSync(file, JSON.stringify({ recipe: 1, format: 'coco', preprocess: { grayscale: true } }));
    const r = readRecipeFile(file);
    expect(r.format).toBe('coco');
    expect(r.only).toBe('all');
    expect(r.preprocess.grayscale).toBe(true);
  });
});


describe('mosaic images that cannot be read', () => {
  const mosaic = recipeSchema.parse({ recipe: 1, format: 'yolo', augment: { outputs: 2, seed: 4, steps: [{ op: 'mosaic', p: 1 }] } });
  const specs = (): Spec[] => [
    { name: 'm1.png', width: 64, height: 48, split: 'train', shapes: [box(10, 10, 20, 20)] },
    { name: 'm2.png', width: 64, height: 48, split: 'train', shapes: [box(5, 5, 10, 10)] },
  ];

  it('a drawn image missing on disk is left out of the mosaic and counted', async () => {
    const ds = await dataset(specs());
    fs.rmSync(path.join(ds.root, 'imgs/m2.png'));
    const out = path.join(tempDir('tessera-recipe-out-'), 'o');
    const r = await exportDataset(ds, opts(out, mosaic));
    expect(fs.readdirSync(path.join(out, 'images/train')).sort()).toEqual(['m1.png', 'm1_aug1.png', 'm1_aug2.png']);
    // Both of m1's mosaics drew m2 (the only other train image) three times each.
    expect(r.warnings.find((w) => w.kind === 'mosaic-missing-image')?.count).toBe(6);
    expect(r.warnings.find((w) => w.kind === 'missing-image')?.count).toBe(1);
  });

  it('a drawn image that cannot be decoded stops the preview and the export, naming the file', async () => {
    const ds = await dataset(specs());
    fs.writeFileSync(path.join(ds.root, 'imgs/m2.png'), 'not a png at all');
    // The preview shows only m1, so m2 is read only as a mosaic's drawn image.
    await expect(previewRecipe(ds, { preprocess: mosaic.preprocess, augment: mosaic.augment, images: 1, samples: 1, maxSide: 256 })).rejects.toThrow(/m2\.png/);
    const out = path.join(tempDir('tessera-recipe-out-'), 'o');
    await expect(exportDataset(ds, opts(out, mosaic))).rejects.toThrow(/m2\.png/);
    expect(fs.existsSync(out)).toBe(false);
  });
});
