import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { XMLParser } from 'fast-xml-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeMask, rleArea, rleBBox } from '../../src-main/common/geometry/rle';
import { VisionWorker } from '../../src-main/vision/client';
import type { Workspace } from '../../src-main/services/workspace';
import { fails, newWorkspace, ok } from '../helpers/workspace';
import { instanceF1, labelImage } from '../helpers/instances';
import { repoRoot, sharedPath, tempDir } from '../helpers/shared';

async function withImages(files: string[], root: string): Promise<{ ws: Workspace; ids: number[] }> {
  const dir = tempDir();
  const ws = newWorkspace(dir);
  await ok(ws, 'dataset:create', { path: path.join(dir, 'd.tessera'), root });
  await ok(ws, 'images:import', { jobId: 'imp', paths: files });
  const { items } = await ok(ws, 'images:list', {});
  return { ws, ids: files.map((f) => items.find((i) => i.path === path.relative(root, f).split(path.sep).join('/'))!.id) };
}

describe('magic wand on a synthetic image with known regions', () => {
  let ws: Workspace;
  let rgb: number;
  let deep: number;
  let pair: number;
  // 120x80 RGB: background (200, 200, 200); a red rectangle x 10..49, y 20..49 (40x30 = 1200 px);
  // inside it a slightly darker red square x 20..29, y 30..39 (100 px); a blue disc elsewhere.
  const W = 120;
  const H = 80;
  beforeAll(async () => {
    const dir = tempDir();
    const data = Buffer.alloc(W * H * 3, 200);
    const set = (x: number, y: number, c: [number, number, number]) => data.set(c, (y * W + x) * 3);
    for (let y = 20; y < 50; y++) for (let x = 10; x < 50; x++) set(x, y, [220, 30, 30]);
    for (let y = 30; y < 40; y++) for (let x = 20; x < 30; x++) set(x, y, [200, 40, 40]);
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) if ((x - 90) ** 2 + (y - 40) ** 2 <= 15 ** 2) set(x, y, [20, 20, 230]);
    await sharp(data, { raw: { width: W, height: H, channels: 3 } }).png().toFile(path.join(dir, 'shapes.png'));
    // 16-bit grey 64x48: samples 1000 with a 20x10 block of 1100 at x 30..49, y 5..14: only a
    // display window over 1000..1100 tells the block apart (as 8-bit both would be 3 or 4).
    const deepData = new Uint16Array(64 * 48).fill(1000);
    for (let y = 5; y < 15; y++) for (let x = 30; x < 50; x++) deepData[y * 64 + x] = 1100;
    deepData[0] = 900;
    deepData[1] = 1200;
    await sharp(deepData, { raw: { width: 64, height: 48, channels: 1 } })
      .toColourspace('grey16')
      .png()
      .toFile(path.join(dir, 'deep.png'));
    // Two touching bright discs (radius 30, centres 50 apart) and a lone one (radius 25), on black.
    const blobs = new Uint8Array(200 * 120).map((_, i) => {
      const x = i % 200;
      const y = Math.floor(i / 200);
      return [[50, 60, 30], [100, 60, 30], [165, 60, 25]].some(([cx, cy, r]) => (x - cx!) ** 2 + (y - cy!) ** 2 <= r! ** 2) ? 220 : 15;
    });
    await sharp(blobs, { raw: { width: 200, height: 120, channels: 1 } }).png().toFile(path.join(dir, 'pair.png'));
    const made = await withImages([path.join(dir, 'shapes.png'), path.join(dir, 'deep.png'), path.join(dir, 'pair.png')], dir);
    ws = made.ws;
    [rgb, deep, pair] = made.ids as [number, number, number];
  });
  afterAll(() => ws.dispose());

  it('fills the region of the clicked colour within the tolerance: exact areas and boxes', async () => {
    const outer = await ok(ws, 'smart:wand', { imageId: rgb, x: 12, y: 22, tolerance: 10 });
    // The darker square differs from the seed by 20 in red: outside a tolerance of 10, inside one of 25.
    expect(outer.area).toBe(1200 - 100);
    expect(outer.bbox).toEqual([10, 20, 40, 30]);
    expect(rleArea(outer.rle)).toBe(outer.area);
    expect(outer.rle.size).toEqual([H, W]);
    const whole = await ok(ws, 'smart:wand', { imageId: rgb, x: 12.7, y: 22.2, tolerance: 25 });
    expect(whole.area).toBe(1200);
    const inner = await ok(ws, 'smart:wand', { imageId: rgb, x: 25, y: 35, tolerance: 5 });
    expect(inner.area).toBe(100);
    expect(inner.bbox).toEqual([20, 30, 10, 10]);
    const disc = await ok(ws, 'smart:wand', { imageId: rgb, x: 90, y: 40, tolerance: 30 });
    let n = 0;
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) if ((x - 90) ** 2 + (y - 40) ** 2 <= 225) n++;
    expect(disc.area).toBe(n);
    const bg = await ok(ws, 'smart:wand', { imageId: rgb, x: 0, y: 0, tolerance: 10 });
    expect(bg.area).toBe(W * H - 1200 - n);
    // A region limits the fill: the background inside a 30x30 window.
    const part = await ok(ws, 'smart:wand', { imageId: rgb, x: 60, y: 5, tolerance: 10, region: { x: 55, y: 0, w: 30, h: 30 } });
    expect(part.area).toBe(30 * 30 - [...Array(30 * 30).keys()].filter((i) => ((55 + (i % 30)) - 90) ** 2 + (Math.floor(i / 30) - 40) ** 2 <= 225).length);
    expect(rleBBox(part.rle)).toEqual({ x: 55, y: 0, w: 30, h: 30 });
  });

  it('works on the displayed pixels of a 16-bit image, through its display window', async () => {
    // The remembered window spreads 1000..1100 over black..white: the block is white, the rest black.
    await ok(ws, 'imaging:setWindow', { imageId: deep, window: { center: 1050.5, width: 101 } });
    const block = await ok(ws, 'smart:wand', { imageId: deep, x: 35, y: 8, tolerance: 20 });
    expect(block.area).toBe(200);
    expect(block.bbox).toEqual([30, 5, 20, 10]);
    // A window wide enough to show 1000 and 1100 within 20 grey levels joins them.
    await ok(ws, 'imaging:setWindow', { imageId: deep, window: { center: 1000, width: 4000 } });
    const all = await ok(ws, 'smart:wand', { imageId: deep, x: 35, y: 8, tolerance: 20 });
    expect(all.area).toBe(64 * 48);
  });

  it('watershed splits two touching discs at their waist; connected components keep them as one', async () => {
    const split = await ok(ws, 'smart:watershed', { imageId: pair, split: true });
    const plain = await ok(ws, 'smart:watershed', { imageId: pair, split: false });
    expect(plain.instances.map((m) => m.area).sort((a, b) => a - b)).toHaveLength(2);
    const areas = split.instances.map((m) => m.area).sort((a, b) => a - b);
    expect(areas).toHaveLength(3);
    // Each half: its disc less half the lens the two discs share.
    const lens = 2 * 900 * Math.acos(50 / 60) - 25 * Math.sqrt(3600 - 2500);
    const half = Math.PI * 900 - lens / 2;
    expect(Math.abs(areas[0]! - Math.PI * 625) / (Math.PI * 625)).toBeLessThan(0.03);
    for (const a of areas.slice(1)) expect(Math.abs(a - half) / half).toBeLessThan(0.03);
    // The pair's halves meet at x = 75.
    const boxes = split.instances.map((m) => m.bbox).sort((a, b) => a[0] - b[0]);
    expect(Math.abs(boxes[0]![0] + boxes[0]![2] - 75)).toBeLessThanOrEqual(2);
    expect(Math.abs(boxes[1]![0] - 75)).toBeLessThanOrEqual(2);
    expect(split.threshold).toBe(plain.threshold);
  });

  it('intelligent scissors follow the rectangle\'s edge between two points near it', async () => {
    // From near the left edge to near the bottom edge of the red rectangle (x 10..49, y 20..49):
    // the path hugs the edge, never cutting across the inside nor wandering into the background.
    const r = await ok(ws, 'smart:scissors', { imageId: rgb, from: { x: 10, y: 25 }, to: { x: 40, y: 49 } });
    const pts: [number, number][] = [];
    for (let i = 0; i < r.points.length; i += 2) pts.push([r.points[i]!, r.points[i + 1]!]);
    expect(pts[0]).toEqual([10.5, 25.5]);
    expect(pts.at(-1)).toEqual([40.5, 49.5]);
    expect(pts.length).toBeGreaterThan(40);
    for (const [x, y] of pts) {
      // Within a pixel of the left edge (x = 10) or of the bottom edge (y = 49).
      const nearLeft = Math.abs(x - 10) <= 1.5 && y >= 19 && y <= 51;
      const nearBottom = Math.abs(y - 49.5) <= 1.5 && x >= 8 && x <= 41;
      expect(nearLeft || nearBottom, `(${x}, ${y}) is off the edge`).toBe(true);
    }
    // Consecutive points are neighbours: a connected path.
    for (let i = 1; i < pts.length; i++) expect(Math.max(Math.abs(pts[i]![0] - pts[i - 1]![0]), Math.abs(pts[i]![1] - pts[i - 1]![1]))).toBe(1);
  });

  it('refuses a point outside the image, naming the file', async () => {
    const e = await fails(ws, 'smart:wand', { imageId: rgb, x: 500, y: 5 });
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.message).toContain('shapes.png');
  });

  it('frees its OpenCV matrices: a fresh Mat lands where it did before 160 more calls, and the heap does not grow', async () => {
    for (let i = 0; i < 3; i++) await ok(ws, 'smart:wand', { imageId: rgb, x: 0, y: 0, tolerance: 10 });
    await ok(ws, 'smart:grabcut', { imageId: rgb, box: { x0: 5, y0: 15, x1: 55, y1: 55 }, iterations: 2 });
    await ok(ws, 'smart:watershed', { imageId: rgb, split: true });
    const before = await ws.vision().stats();
    for (let i = 0; i < 40; i++) {
      await ok(ws, 'smart:wand', { imageId: rgb, x: 0, y: 0, tolerance: 10 });
      await ok(ws, 'smart:grabcut', { imageId: rgb, box: { x0: 5, y0: 15, x1: 55, y1: 55 }, iterations: 2 });
      await ok(ws, 'smart:watershed', { imageId: rgb, split: true });
      await ok(ws, 'smart:scissors', { imageId: rgb, from: { x: 10, y: 25 }, to: { x: 40, y: 49 } });
    }
    const after = await ws.vision().stats();
    expect(after.calls).toBe(before.calls + 160);
    expect(after.heapBytes).toBe(before.heapBytes);
    expect(after.probeAddress).toBe(before.probeAddress);
  });
});

describe('an image file changed since it was imported', () => {
  it('is refused by the smart tools with FILE_CHANGED naming the file, never segmented', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'edited.png');
    await sharp({ create: { width: 60, height: 40, channels: 3, background: { r: 200, g: 0, b: 0 } } }).png().toFile(file);
    const { ws, ids } = await withImages([file], dir);
    try {
      const before = await ok(ws, 'smart:wand', { imageId: ids[0]!, x: 5, y: 5 });
      expect(before.area).toBe(60 * 40);
      // Cropped and saved under the same name.
      await sharp({ create: { width: 30, height: 20, channels: 3, background: { r: 0, g: 0, b: 200 } } }).png().toFile(file);
      for (const [c, args] of [
        ['smart:wand', { imageId: ids[0]!, x: 5, y: 5 }],
        ['smart:grabcut', { imageId: ids[0]!, box: { x0: 2, y0: 2, x1: 20, y1: 15 } }],
        ['smart:watershed', { imageId: ids[0]! }],
      ] as const) {
        const e = await fails(ws, c, args as never);
        expect(e.code, c).toBe('FILE_CHANGED');
        expect(e.message, c).toContain('edited.png');
      }
    } finally {
      await ws.dispose();
    }
  });
});

describe('the vision worker built by electron-vite', () => {
  const built = path.join(repoRoot, 'out/main/visionWorker.js');
  it.runIf(fs.existsSync(built))('loads OpenCV from out/main and gives the same wand mask as the source worker', async () => {
    const fromBuild = new VisionWorker({ entry: pathToFileURL(built) });
    const fromSource = new VisionWorker();
    try {
      const px = () => ({ data: Uint8Array.from({ length: 40 * 30 }, (_, i) => (i % 40 < 15 ? 10 : 200)), width: 40, height: 30, channels: 1 as const });
      const a = await fromBuild.wand(px(), 3, 3, 5);
      const b = await fromSource.wand(px(), 3, 3, 5);
      expect(a.mask.reduce((n, v) => n + v, 0)).toBe(15 * 30);
      expect(a.mask).toEqual(b.mask);
    } finally {
      await Promise.all([fromBuild.close(), fromSource.close()]);
    }
  });
});

const img2d = sharedPath('datasets/tiff16_stardist_dsb2018/img2d.tif');
const mask2d = sharedPath('datasets/tiff16_stardist_dsb2018/mask2d.tif');

describe.runIf(img2d && mask2d)('watershed on fluorescence nuclei (stardist img2d.tif against mask2d.tif)', () => {
  let ws: Workspace;
  let id: number;
  let truth: Uint16Array;
  beforeAll(async () => {
    const made = await withImages([img2d!], path.dirname(img2d!));
    ws = made.ws;
    id = made.ids[0]!;
    const { data, info } = await sharp(mask2d!).toColourspace('grey16').raw({ depth: 'ushort' }).toBuffer({ resolveWithObject: true });
    expect([info.width, info.height, info.channels]).toEqual([512, 512, 1]);
    truth = new Uint16Array(data.buffer, data.byteOffset, data.byteLength / 2);
  });
  afterAll(() => ws.dispose());

  it('splits touching nuclei: instance F1 at IoU 0.5 beats connected components of the same threshold', async () => {
    expect(new Set(truth).size - 1).toBe(125);
    const split = await ok(ws, 'smart:watershed', { imageId: id, split: true });
    const plain = await ok(ws, 'smart:watershed', { imageId: id, split: false, threshold: split.threshold });
    const fs1 = instanceF1(labelImage(split.instances.map((m) => m.rle), 512, 512), truth);
    const fp = instanceF1(labelImage(plain.instances.map((m) => m.rle), 512, 512), truth);
    console.log(
      `watershed split: threshold ${split.threshold} (Otsu, displayed 8-bit), instances ${fs1.pred}, matched ${fs1.tp}/${fs1.truth}, F1@0.5 ${fs1.f1.toFixed(3)}; ` +
        `connected components: instances ${fp.pred}, matched ${fp.tp}/${fp.truth}, F1@0.5 ${fp.f1.toFixed(3)}`,
    );
    expect(fs1.f1).toBeGreaterThan(fp.f1);
    expect(fs1.f1).toBeGreaterThan(0.65);
    // Instances are disjoint full-image masks with their own area and box.
    const any = split.instances[0]!;
    expect(any.rle.size).toEqual([512, 512]);
    expect(rleArea(any.rle)).toBe(any.area);
    const b = rleBBox(any.rle);
    expect(any.bbox).toEqual([b.x, b.y, b.w, b.h]);
    const painted = labelImage(split.instances.map((m) => m.rle), 512, 512);
    expect(painted.reduce((n, v) => n + (v ? 1 : 0), 0)).toBe(split.instances.reduce((n, m) => n + m.area, 0));
  });

  it('limits the instances to a box and drops those under minArea', async () => {
    const box = { x0: 100, y0: 100, x1: 300, y1: 260 };
    const r = await ok(ws, 'smart:watershed', { imageId: id, split: true, box, minArea: 50 });
    expect(r.instances.length).toBeGreaterThan(3);
    for (const m of r.instances) {
      expect(m.area).toBeGreaterThanOrEqual(50);
      expect(m.bbox[0]).toBeGreaterThanOrEqual(100);
      expect(m.bbox[1]).toBeGreaterThanOrEqual(100);
      expect(m.bbox[0] + m.bbox[2]).toBeLessThanOrEqual(300);
      expect(m.bbox[1] + m.bbox[3]).toBeLessThanOrEqual(260);
    }
  });
});

const bccd = sharedPath('datasets/bccd_voc');

interface VocObject {
  name: string;
  bndbox: { xmin: number; ymin: number; xmax: number; ymax: number };
}

/** The white blood cells of a BCCD image, from its VOC XML. */
function whiteCells(xml: string): VocObject['bndbox'][] {
  const doc = new XMLParser().parse(xml) as { annotation: { object?: VocObject | VocObject[] } };
  const objects = ([] as VocObject[]).concat(doc.annotation.object ?? []);
  return objects.filter((o) => o.name === 'WBC').map((o) => o.bndbox);
}

describe.runIf(bccd)('GrabCut from the box of a BCCD white blood cell', () => {
  it('overlaps the stained nucleus better than the box does, and keeps it', async () => {
    const names = fs
      .readdirSync(path.join(bccd!, 'Annotations'))
      .filter((f) => f.endsWith('.xml'))
      .sort();
    const cases: { file: string; box: VocObject['bndbox'] }[] = [];
    for (const n of names) {
      const boxes = whiteCells(fs.readFileSync(path.join(bccd!, 'Annotations', n), 'utf8'));
      const file = path.join(bccd!, 'JPEGImages', n.replace(/\.xml$/, '.jpg'));
      if (boxes.length > 0 && fs.existsSync(file)) cases.push({ file, box: boxes[0]! });
    }
    expect(cases.length).toBeGreaterThanOrEqual(5);
    const some = cases.slice(0, 8);
    const { ws, ids } = await withImages(
      some.map((c) => c.file),
      bccd!,
    );
    try {
      let boxSum = 0;
      let cutSum = 0;
      let keptSum = 0;
      for (let k = 0; k < some.length; k++) {
        const { file, box } = some[k]!;
        const { data, info } = await sharp(file).removeAlpha().raw().toBuffer({ resolveWithObject: true });
        const ref = stainedNucleus(data, info.width, info.height, box);
        const cut = await ok(ws, 'smart:grabcut', { imageId: ids[k]!, box: { x0: box.xmin, y0: box.ymin, x1: box.xmax + 1, y1: box.ymax + 1 }, iterations: 5 });
        const boxMask = new Uint8Array(info.width * info.height);
        for (let y = box.ymin; y <= box.ymax; y++) for (let x = box.xmin; x <= box.xmax; x++) boxMask[y * info.width + x] = 1;
        const cutMask = decodeMask(cut.rle);
        const cutIou = iou(cutMask, ref);
        const kept = recall(cutMask, ref);
        const boxIou = iou(boxMask, ref);
        console.log(
          `${path.basename(file)} WBC box ${box.xmin},${box.ymin}-${box.xmax},${box.ymax}: IoU with the stained nucleus: box ${boxIou.toFixed(3)}, GrabCut ${cutIou.toFixed(3)}; nucleus kept by GrabCut ${kept.toFixed(3)}`,
        );
        boxSum += boxIou;
        cutSum += cutIou;
        keptSum += kept;
        // No cell is lost: GrabCut keeps most of the nucleus it was boxed around.
        expect(kept).toBeGreaterThan(0.6);
      }
      console.log(
        `mean over ${some.length} white blood cells: IoU with the stained nucleus: box ${(boxSum / some.length).toFixed(3)}, GrabCut ${(cutSum / some.length).toFixed(3)}; nucleus kept by GrabCut ${(keptSum / some.length).toFixed(3)}`,
      );
      expect(cutSum / some.length).toBeGreaterThan(boxSum / some.length + 0.1);
      expect(keptSum / some.length).toBeGreaterThan(0.85);
    } finally {
      await ws.dispose();
    }
  });
});

/** The share of `ref`'s pixels that `mask` covers. */
function recall(mask: Uint8Array, ref: Uint8Array): number {
  let hit = 0;
  let all = 0;
  for (let k = 0; k < ref.length; k++) {
    if (!ref[k]) continue;
    all++;
    if (mask[k]) hit++;
  }
  return all === 0 ? 0 : hit / all;
}

function iou(a: Uint8Array, b: Uint8Array): number {
  let i = 0;
  let u = 0;
  for (let k = 0; k < a.length; k++) {
    if (a[k] && b[k]) i++;
    if (a[k] || b[k]) u++;
  }
  return u === 0 ? 0 : i / u;
}

/**
 * An independent reference for the white cell, since BCCD has boxes only: its stained nucleus.
 * A per-pixel colour rule with nothing of GrabCut in it: inside the box, the purple pixels where
 * blue exceeds green by more than 35 and is at least red (red cells are pink-grey, the background
 * pale grey, and neither passes), kept in connected pieces of at least 1 % of the box (the lobes
 * of a segmented nucleus, not stray pixels), holes filled.
 */
function stainedNucleus(rgb: Uint8Array | Buffer, width: number, height: number, box: VocObject['bndbox']): Uint8Array {
  const out = new Uint8Array(width * height);
  for (let y = Math.max(0, box.ymin); y <= Math.min(height - 1, box.ymax); y++) {
    for (let x = Math.max(0, box.xmin); x <= Math.min(width - 1, box.xmax); x++) {
      const i = (y * width + x) * 3;
      const r = rgb[i]!, g = rgb[i + 1]!, b = rgb[i + 2]!;
      if (b - g > 35 && b >= r) out[y * width + x] = 1;
    }
  }
  const boxArea = (box.xmax - box.xmin + 1) * (box.ymax - box.ymin + 1);
  return piecesFilled(out, width, height, Math.ceil(0.01 * boxArea));
}

/** The 8-connected pieces of a 0/1 mask of at least `minSize` pixels, their holes filled (breadth-first search). */
function piecesFilled(mask: Uint8Array, width: number, height: number, minSize: number): Uint8Array {
  const kept = new Uint8Array(width * height);
  const seen = new Uint8Array(width * height);
  const queue = new Int32Array(width * height);
  for (let s = 0; s < mask.length; s++) {
    if (!mask[s] || seen[s]) continue;
    let head = 0;
    let tail = 0;
    queue[tail++] = s;
    seen[s] = 1;
    while (head < tail) {
      const p = queue[head++]!;
      const x = p % width;
      const y = (p - x) / width;
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          const nx = x + dx, ny = y + dy;
          if (nx < 0 || ny < 0 || nx >= width || ny >= height) continue;
          const q = ny * width + nx;
          if (mask[q] && !seen[q]) {
            seen[q] = 1;
            queue[tail++] = q;
          }
        }
      }
    }
    if (tail >= minSize) for (let k = 0; k < tail; k++) kept[queue[k]!] = 1;
  }
  // Holes: pixels not kept that the border cannot reach through pixels not kept (4-connected).
  const outside = new Uint8Array(width * height);
  let head = 0;
  let tail = 0;
  const start = (i: number) => {
    if (!kept[i] && !outside[i]) {
      outside[i] = 1;
      queue[tail++] = i;
    }
  };
  for (let x = 0; x < width; x++) (start(x), start((height - 1) * width + x));
  for (let y = 0; y < height; y++) (start(y * width), start(y * width + width - 1));
  while (head < tail) {
    const p = queue[head++]!;
    const x = p % width;
    const y = (p - x) / width;
    if (x > 0) start(p - 1);
    if (x < width - 1) start(p + 1);
    if (y > 0) start(p - width);
    if (y < height - 1) start(p + width);
  }
  const out = new Uint8Array(width * height);
  for (let i = 0; i < out.length; i++) out[i] = outside[i] ? 0 : 1;
  return out;
}
