import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { resolveMedia } from '../../src-main/services/mediaRoute';
import type { Workspace } from '../../src-main/services/workspace';
import { tempDir } from '../helpers/shared';
import { fails, newWorkspace, ok } from '../helpers/workspace';

/** Grey levels of the pages of the multi-page TIFF, one per frame. */
const PAGE_GREYS = [30, 220, 120];

/** A 3-page TIFF (64 × 48, one grey level per page) written by libvips through sharp's join. */
export async function writeMultiPageTiff(file: string, greys: readonly number[] = PAGE_GREYS): Promise<void> {
  const pages = await Promise.all(
    greys.map((v) => sharp({ create: { width: 64, height: 48, channels: 3, background: { r: v, g: v, b: v } } }).png().toBuffer()),
  );
  fs.mkdirSync(path.dirname(file), { recursive: true });
  await sharp(pages, { join: { animated: true } }).tiff().toFile(file);
}

async function meanOf(ws: Workspace, pathname: string): Promise<number> {
  const r = await resolveMedia(ws, pathname);
  if (!r.ok) throw new Error(`${pathname}: ${r.error.message}`);
  return (await sharp(r.file).stats()).channels[0]!.mean;
}

let dir: string;
let file: string;
let ws: Workspace;
let imageId: number;
let cls: number;

beforeEach(async () => {
  dir = tempDir('tessera-frames-');
  await writeMultiPageTiff(path.join(dir, 'imgs', 'stack.tif'));
  ws = newWorkspace(path.join(dir, 'config'));
  file = path.join(dir, 'd.tessera');
  await ok(ws, 'dataset:create', { path: file, root: dir });
  await ok(ws, 'images:import', { jobId: 'imp', paths: [path.join(dir, 'imgs')] });
  const { items } = await ok(ws, 'images:list', {});
  imageId = items[0]!.id;
  cls = (await ok(ws, 'classes:create', { name: 'cell' })).id;
  return async () => await ws.close();
});

afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('multi-page TIFF frames', () => {
  it('imports every page as a frame and serves each frame\'s own pixels', async () => {
    const { items } = await ok(ws, 'images:list', {});
    expect(items[0]!.frames).toBe(3);
    for (const [f, grey] of PAGE_GREYS.entries()) expect(await meanOf(ws, `view/${await ws.mediaKey(imageId)}/${f}`)).toBeCloseTo(grey, 0);
    const r = await resolveMedia(ws, `view/${await ws.mediaKey(imageId)}/3`);
    expect(r.ok).toBe(false);
  });

  it('remembers the frame viewed per image in the dataset, across closing and reopening it', async () => {
    expect(await ok(ws, 'images:viewedFrame', { id: imageId })).toBe(0);
    expect(await ok(ws, 'images:setViewedFrame', { id: imageId, frame: 2 })).toBe(2);
    await ok(ws, 'dataset:close', {});
    await ok(ws, 'dataset:open', { path: file });
    expect(await ok(ws, 'images:viewedFrame', { id: imageId })).toBe(2);
    // Back to the first frame forgets it (no row), and a frame the image lacks is refused by name.
    await ok(ws, 'images:setViewedFrame', { id: imageId, frame: 0 });
    expect(await ok(ws, 'images:viewedFrame', { id: imageId })).toBe(0);
    const e = await fails(ws, 'images:setViewedFrame', { id: imageId, frame: 3 });
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.message).toMatch(/stack\.tif: frame 3 does not exist \(the image has 3\)/);
    expect((await fails(ws, 'images:viewedFrame', { id: imageId + 100 })).code).toBe('NOT_FOUND');
  });

  it('stores shapes per frame; exports keep the first frame\'s shapes and count the others as dropped, strict refuses them', async () => {
    await ok(ws, 'annotations:edit', {
      imageId,
      label: 'draw',
      ops: [
        { op: 'create', draft: { classId: cls, geometry: { kind: 'box', x: 2, y: 2, w: 10, h: 10 } } },
        { op: 'create', draft: { classId: cls, geometry: { kind: 'box', x: 20, y: 20, w: 10, h: 10 }, frame: 1 } },
      ],
    });
    const rows = await ok(ws, 'annotations:list', { imageId });
    expect(rows.map((a) => a.frame).sort()).toEqual([0, 1]);
    // Counts per image cover every frame.
    expect((await ok(ws, 'images:get', { id: imageId })).annotationCount).toBe(2);

    const out = path.join(dir, 'coco');
    const rep = await ok(ws, 'interchange:export', { jobId: 'exp', outDir: out, format: 'coco', images: 'none' });
    expect(rep.annotations).toBe(1);
    expect(rep.warnings).toContainEqual(expect.objectContaining({ kind: 'later-frame', count: 1 }));
    const coco = JSON.parse(fs.readFileSync(path.join(out, 'annotations', 'instances_default.json'), 'utf8')) as { annotations: { bbox: number[] }[] };
    expect(coco.annotations.map((a) => a.bbox)).toEqual([[2, 2, 10, 10]]);

    const strict = await fails(ws, 'interchange:export', { jobId: 'exp2', outDir: path.join(dir, 'strict'), format: 'coco', images: 'none', strict: true });
    expect(strict.code).toBe('INVALID_ARGUMENT');
    expect(strict.message).toMatch(/stack\.tif: annotation \d+ is on frame 2/);
    expect(fs.existsSync(path.join(dir, 'strict'))).toBe(false);
  });
});
