import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../src-main/cli/main';
import { tempDir } from '../helpers/shared';

async function cli(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, { out: (s) => out.push(s), err: (s) => err.push(s), tty: false });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

async function datasetWithImages(): Promise<{ dir: string; db: string }> {
  const dir = tempDir('tessera-cli-recipe-');
  const imgs = path.join(dir, 'imgs');
  fs.mkdirSync(imgs);
  for (let i = 0; i < 3; i++) {
    const data = Buffer.alloc(48 * 40 * 3);
    for (let p = 0; p < data.length; p++) data[p] = (p * (i + 3)) % 251;
    await sharp(data, { raw: { width: 48, height: 40, channels: 3 } }).png().toFile(path.join(imgs, `im${i}.png`));
  }
  const db = path.join(dir, 'd.tessera');
  expect((await cli('init', db, '--root', dir)).code).toBe(0);
  expect((await cli('import', db, imgs)).code).toBe(0);
  return { dir, db };
}

describe('tessera export --recipe / --augment', () => {
  it('--recipe takes the whole export from the file: format, preprocessing and augmentation', async () => {
    const { dir, db } = await datasetWithImages();
    const recipe = path.join(dir, 'recipe.json');
    fs.writeFileSync(
      recipe,
      JSON.stringify({ recipe: 1, format: 'coco', preprocess: { resize: { mode: 'stretch', width: 32, height: 24 } }, augment: { outputs: 2, seed: 3, steps: [{ op: 'flip', horizontal: 1 }] } }),
    );
    const out = path.join(dir, 'out');
    const r = await cli('export', db, out, '--split', '1,0,0', '--recipe', recipe, '--json');
    expect(r.code, r.err).toBe(0);
    const report = JSON.parse(r.out) as { format: string; images: number };
    expect(report.format).toBe('coco');
    expect(report.images).toBe(9);
    const coco = JSON.parse(fs.readFileSync(path.join(out, 'annotations/instances_train.json'), 'utf8')) as { images: { file_name: string; width: number; height: number }[] };
    expect(coco.images).toHaveLength(9);
    for (const im of coco.images) expect([im.width, im.height]).toEqual([32, 24]);
    expect(coco.images.filter((im) => im.file_name.includes('_aug'))).toHaveLength(6);

    // The format comes from the recipe: giving it on the command line too is refused.
    const both = await cli('export', db, path.join(dir, 'out2'), '--format', 'yolo', '--recipe', recipe);
    expect(both.code).not.toBe(0);
    expect(both.err).toMatch(/--format is given by the recipe/);
  });

  it('--augment takes only preprocessing and augmentation, the format from the command line', async () => {
    const { dir, db } = await datasetWithImages();
    const recipe = path.join(dir, 'aug.json');
    fs.writeFileSync(recipe, JSON.stringify({ recipe: 1, format: 'coco', preprocess: { grayscale: true }, augment: { outputs: 1, seed: 1, steps: [{ op: 'rot90', p: 1 }] } }));
    const out = path.join(dir, 'out');
    const r = await cli('export', db, out, '--format', 'yolo', '--split', '1,0,0', '--augment', recipe, '--json');
    expect(r.code, r.err).toBe(0);
    expect((JSON.parse(r.out) as { format: string }).format).toBe('yolo');
    const files = fs.readdirSync(path.join(out, 'images/train')).sort();
    expect(files).toEqual(['im0.png', 'im0_aug1.png', 'im1.png', 'im1_aug1.png', 'im2.png', 'im2_aug1.png']);
    // Grayscale, and turned by 90, 180 or 270 degrees: the augmented copy is the grey original turned.
    for (const f of ['im0.png', 'im0_aug1.png']) expect((await sharp(path.join(out, 'images/train', f)).metadata()).channels).toBe(1);
    const grey = await sharp(path.join(out, 'images/train/im0.png')).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
    const aug = await sharp(path.join(out, 'images/train/im0_aug1.png')).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
    const turns = await Promise.all(
      [90, 180, 270].map((a) => sharp(grey.data, { raw: { width: grey.info.width, height: grey.info.height, channels: 1 } }).rotate(a).extractChannel(0).raw().toBuffer()),
    );
    expect(turns.some((t) => t.equals(aug.data))).toBe(true);
  });

  it('a bad recipe file is refused, naming the file and the JSON path', async () => {
    const { dir, db } = await datasetWithImages();
    const recipe = path.join(dir, 'bad.json');
    fs.writeFileSync(recipe, JSON.stringify({ recipe: 1, format: 'yolo', augment: { outputs: 0, seed: 1, steps: [{ op: 'flip' }] } }));
    const r = await cli('export', db, path.join(dir, 'out'), '--format', 'yolo', '--augment', recipe);
    expect(r.code).not.toBe(0);
    expect(r.err).toContain(`${recipe}: invalid recipe: augment.outputs:`);
    expect(fs.existsSync(path.join(dir, 'out'))).toBe(false);
  });
});
