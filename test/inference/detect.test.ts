import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAppError } from '../../src-main/common/errors';
import { polygonToRle, rleIou } from '../../src-main/common/geometry';
import { COCO80 } from '../../src-main/common/inference/coco';
import type { ModelManifest } from '../../src-main/common/inference/types';
import { detectInProcess } from '../../src-main/inference/detect';
import { inspectModel, type ModelInspection } from '../../src-main/inference/inspect';
import { getSession, releaseSessions } from '../../src-main/inference/sessions';
import { tempDir } from '../helpers/shared';
import { groundTruth, image, KITCHEN, shared, xywhIou } from './models';

const present = Boolean(shared.yolov8n && shared.yolov8nSeg && shared.yoloxNano && shared.coco);
const PERSON = COCO80.indexOf('person');
const BOWL = COCO80.indexOf('bowl');

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}

describe.skipIf(!present)('real models on coco_tinycoco', () => {
  const inspected: Record<'v8' | 'seg' | 'x', ModelInspection> = {} as never;
  beforeAll(async () => {
    inspected.v8 = await inspectModel(shared.yolov8n!);
    inspected.seg = await inspectModel(shared.yolov8nSeg!);
    inspected.x = await inspectModel(shared.yoloxNano!);
  });
  afterAll(() => releaseSessions());

  it('inspectModel proposes family, size, classes, task and input conventions for the three files', () => {
    const v8 = inspected.v8;
    expect(v8.inputs).toEqual([{ name: 'images', dims: [1, 3, 320, 320] }]);
    expect(v8.outputs).toEqual([{ name: 'output0', dims: [1, 84, 2100] }]);
    expect(v8.metadata).toMatchObject({ task: 'detect', imgsz: '[320, 320]', stride: '32' });
    expect(v8.proposed).toMatchObject({ family: 'ultralytics', task: 'detect', size: [320, 320], colour: 'rgb', scale: 1 / 255, letterbox: 114, input: 'images' });
    expect(v8.proposed!.classes).toEqual([...COCO80]);
    expect(v8.problems).toEqual([]);

    expect(inspected.seg.outputs).toEqual([{ name: 'output0', dims: [1, 116, 2100] }, { name: 'output1', dims: [1, 32, 80, 80] }]);
    expect(inspected.seg.proposed).toMatchObject({ family: 'ultralytics', task: 'segment', size: [320, 320] });
    expect(inspected.seg.proposed!.classes).toHaveLength(80);

    const x = inspected.x;
    expect(x.metadata).toEqual({});
    expect(x.proposed).toMatchObject({ family: 'yolox', task: 'detect', size: [416, 416], colour: 'bgr', scale: 1, letterbox: 114 });
    expect(x.proposed!.classes).toEqual([...COCO80]);
    // No names in the file: the COCO guess is reported, not hidden.
    expect(x.problems.join()).toMatch(/assumed to be the 80 COCO classes/);
  });

  it.each([
    ['yolov8n_int8', 'v8', () => shared.yolov8n!],
    ['yolox_nano', 'x', () => shared.yoloxNano!],
  ] as const)('%s finds the person and the bowl in 000000397133.jpg at IoU >= 0.7', async (_, which, file) => {
    const m = inspected[which].proposed!;
    const r = await detectInProcess({ file: file() }, image(KITCHEN), m);
    expect(r.provider).toBe('cpu');
    const best = (cls: number, gt: number[]) => Math.max(0, ...r.detections.filter((d) => d.classIndex === cls).map((d) => xywhIou(d.box, gt)));
    expect(best(PERSON, [389, 70, 109, 278])).toBeGreaterThanOrEqual(0.7);
    expect(best(BOWL, [31, 344, 68, 41])).toBeGreaterThanOrEqual(0.7);
    for (const d of r.detections) {
      expect(d.score).toBeGreaterThanOrEqual(m.thresholds.score);
      expect(d.box.x + d.box.w).toBeLessThanOrEqual(640);
      expect(d.box.y + d.box.h).toBeLessThanOrEqual(427);
    }
    expect(r.timings.runMs).toBeGreaterThan(0);
  });

  it('applies overrides: a high score keeps only confident boxes, maxDetections caps the count', async () => {
    const m = inspected.v8.proposed!;
    const strict = await detectInProcess({ file: shared.yolov8n! }, image(KITCHEN), m, { score: 0.7 });
    expect(strict.detections.length).toBeGreaterThan(0);
    expect(strict.detections.every((d) => d.score >= 0.7)).toBe(true);
    const one = await detectInProcess({ file: shared.yolov8n! }, image(KITCHEN), m, { maxDetections: 1, score: 0.05 });
    expect(one.detections).toHaveLength(1);
    expect(one.detections[0]!.classIndex).toBe(PERSON);
  });

  it.each([
    [KITCHEN, ['person', 'dining table']],
    ['000000174482.jpg', ['bicycle']],
    ['000000143931.jpg', ['bus']],
  ])('yolov8n-seg masks of large objects in %s overlap their ground-truth polygons at IoU >= 0.6', async (file, names) => {
    const r = await detectInProcess({ file: shared.yolov8nSeg! }, image(file), inspected.seg.proposed!);
    const gt = groundTruth(file);
    const large = gt.objects.filter((o) => o.area >= 96 * 96 && !o.iscrowd && names.includes(COCO80[o.classIndex]!));
    expect(large.length).toBe(names.length);
    for (const o of large) {
      const truth = polygonToRle(o.segmentation as number[][], gt.height, gt.width);
      const ious = r.detections.filter((d) => d.classIndex === o.classIndex && d.mask).map((d) => rleIou(truth, d.mask!));
      expect(Math.max(0, ...ious), `${COCO80[o.classIndex]} in ${file}`).toBeGreaterThanOrEqual(0.6);
    }
    for (const d of r.detections) expect(d.mask!.size).toEqual([gt.height, gt.width]);
  });

  it('a yolox file with an ultralytics manifest fails naming the file and both shapes', async () => {
    const wrong: ModelManifest = { ...inspected.v8.proposed!, size: [416, 416] };
    const e = await rejection(detectInProcess({ file: shared.yoloxNano! }, image(KITCHEN), wrong));
    expect(isAppError(e) && e.code).toBe('INVALID_ARGUMENT');
    expect(e.message).toBe(
      `${shared.yoloxNano}: output "output" does not fit an ultralytics detect head with 80 classes: expected [1, 84, N], got [1, 3549, 85] (rows with objectness: a yolov5 or yolox model?)`,
    );
  });

  it('a wrong input size fails before running, naming the file and both shapes', async () => {
    const e = await rejection(detectInProcess({ file: shared.yolov8n! }, image(KITCHEN), { ...inspected.v8.proposed!, size: [640, 640] }));
    expect(e.message).toBe(`${shared.yolov8n}: input "images" size differs from the manifest's 640x640 (size is [height, width]): expected [1, 3, 640, 640], got [1, 3, 320, 320]`);
  });

  it('a class count that does not match the output width fails instead of detecting nothing', async () => {
    const e = await rejection(detectInProcess({ file: shared.yolov8n! }, image(KITCHEN), { ...inspected.v8.proposed!, classes: ['crop', 'weed'] }));
    expect(e.message).toBe(`${shared.yolov8n}: output "output0" does not fit an ultralytics detect head with 2 classes: expected [1, 6, N], got [1, 84, 2100] (the output holds 80 classes, the manifest lists 2)`);
  });

  it('a yolox manifest on a yolox model at the wrong size fails on the input, not with zero boxes', async () => {
    const e = await rejection(detectInProcess({ file: shared.yoloxNano! }, image(KITCHEN), { ...inspected.x.proposed!, size: [320, 320] }));
    expect(e.message).toMatch(/yolox_nano\.onnx: input "images" size differs .*expected \[1, 3, 320, 320\], got \[1, 3, 416, 416\]/);
  });

  it('falls back through the provider order to the CPU and says which providers failed', async () => {
    const s = await getSession(shared.yolov8n!, { providers: ['dml', 'cuda', 'cpu'] });
    expect(s.provider).toBe('cpu');
    expect(s.warnings).toHaveLength(2);
    expect(s.warnings[0]).toMatch(/^dml failed to load: .*backend not found/);
    expect(s.warnings[1]).toMatch(/^cuda failed to load: /);
    const again = await getSession(shared.yolov8n!, { providers: ['dml', 'cuda', 'cpu'] });
    expect(again.session).toBe(s.session);
    // CPU is the last resort even when the user's order leaves it out, and that is said too.
    const implicit = await getSession(shared.yolov8n!, { providers: ['dml'] });
    expect(implicit.provider).toBe('cpu');
    expect(implicit.warnings[1]).toBe('falling back to cpu, which is not in the provider list (dml)');
  });
});

describe.skipIf(!present)('files that are not what they claim', () => {
  afterAll(() => releaseSessions());

  it('inspectModel on a file that is not ONNX fails with UNSUPPORTED_FORMAT naming it', async () => {
    const dir = tempDir();
    const bogus = path.join(dir, 'notes.onnx');
    fs.writeFileSync(bogus, 'not a model');
    const e = await rejection(inspectModel(bogus));
    expect(isAppError(e) && e.code).toBe('UNSUPPORTED_FORMAT');
    expect(e.message).toMatch(new RegExp(`^${bogus.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: cannot load the model: cpu failed to load: `));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a missing or corrupt image fails with FILE_NOT_FOUND or CORRUPT_IMAGE, not INTERNAL', async () => {
    const dir = tempDir();
    const broken = path.join(dir, 'broken.jpg');
    fs.writeFileSync(broken, Buffer.from([0xff, 0xd8, 0xff, 0x00, 1, 2, 3]));
    const m = { ...(await inspectModel(shared.yolov8n!)).proposed! };
    const missing = await rejection(detectInProcess({ file: shared.yolov8n! }, path.join(dir, 'gone.jpg'), m));
    expect(isAppError(missing) && missing.code).toBe('FILE_NOT_FOUND');
    const corrupt = await rejection(detectInProcess({ file: shared.yolov8n! }, broken, m));
    expect(isAppError(corrupt) && corrupt.code).toBe('CORRUPT_IMAGE');
    expect(corrupt.message).toContain(`${broken}: cannot decode the image`);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a segmentation model run with a detect manifest still gives boxes, without masks', async () => {
    const m = { ...(await inspectModel(shared.yolov8nSeg!)).proposed!, task: 'detect' as const };
    const r = await detectInProcess({ file: shared.yolov8nSeg! }, image(KITCHEN), m);
    expect(r.detections.some((d) => d.classIndex === PERSON && xywhIou(d.box, [389, 70, 109, 278]) >= 0.7)).toBe(true);
    expect(r.detections.every((d) => d.mask === undefined)).toBe(true);
  });
});
