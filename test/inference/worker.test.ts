import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAppError } from '../../src-main/common/errors';
import { COCO80 } from '../../src-main/common/inference/coco';
import type { ModelManifest } from '../../src-main/common/inference/types';
import { InferencePool } from '../../src-main/inference/pool';
import { image, KITCHEN, shared, xywhIou } from './models';
import { yolov8nInt8Manifest } from '../helpers/models';

const present = Boolean(shared.yolov8n && shared.yolov8nSeg && shared.coco);

const v8: ModelManifest = { ...yolov8nInt8Manifest('yolov8n_int8.onnx'), input: 'images' };

describe.skipIf(!present)('InferencePool runs detection in a worker thread', () => {
  let pool: InferencePool;
  beforeAll(() => {
    pool = new InferencePool({ size: 1 });
  });
  afterAll(() => pool.close());

  it('detects in the worker, with masks carried across as transferred buffers', async () => {
    const r = await pool.detect({ file: shared.yolov8n! }, image(KITCHEN), v8);
    expect(r.provider).toBe('cpu');
    expect(r.warnings).toEqual([]);
    const person = r.detections.find((d) => d.classIndex === COCO80.indexOf('person'))!;
    expect(xywhIou(person.box, [389, 70, 109, 278])).toBeGreaterThanOrEqual(0.7);
    expect(Object.keys(r.timings).sort()).toEqual(['postMs', 'preMs', 'runMs']);

    const seg = await pool.detect({ file: shared.yolov8nSeg! }, image(KITCHEN), { ...v8, task: 'segment' });
    expect(seg.detections.length).toBeGreaterThan(0);
    for (const d of seg.detections) {
      expect(d.mask!.size).toEqual([427, 640]);
      expect(d.mask!.counts.reduce((a, b) => a + b, 0)).toBe(427 * 640);
    }
  });

  it('runs requests concurrently and keeps each answer with its request', async () => {
    const [a, b] = await Promise.all([
      pool.detect({ file: shared.yolov8n! }, image(KITCHEN), v8, { maxDetections: 1 }),
      pool.detect({ file: shared.yolov8n! }, image(KITCHEN), v8, { maxDetections: 3 }),
    ]);
    expect(a.detections).toHaveLength(1);
    expect(b.detections).toHaveLength(3);
  });

  it('brings errors back as AppError with their code and precise message', async () => {
    let err: unknown;
    try {
      await pool.detect({ file: shared.yolov8n! }, image(KITCHEN), { ...v8, classes: ['a'] });
    } catch (e) {
      err = e;
    }
    expect(isAppError(err) && err.code).toBe('INVALID_ARGUMENT');
    expect((err as Error).message).toContain('expected [1, 5, N], got [1, 84, 2100]');
  });

  it('reports providers that failed to load while running on the CPU', async () => {
    const r = await pool.detect({ file: shared.yolov8n!, providers: ['cuda', 'cpu'] }, image(KITCHEN), v8);
    expect(r.provider).toBe('cpu');
    expect(r.warnings[0]).toMatch(/^cuda failed to load: /);
  });
});

describe.skipIf(!present)('sharedPool', () => {
  it('starts a fresh pool after the shared one was closed', async () => {
    const { sharedPool, detect } = await import('../../src-main/inference/pool');
    const first = sharedPool();
    await first.close();
    const r = await detect({ file: shared.yolov8n! }, image(KITCHEN), v8, { maxDetections: 1 });
    expect(r.detections).toHaveLength(1);
    expect(sharedPool()).not.toBe(first);
    await sharedPool().close();
  });
});

describe.skipIf(!present)('InferencePool keeps the sessions its workers loaded', () => {
  it('inspects in the worker and runs on the session that inspection loaded: the file is loaded once', async () => {
    // Two slots: a request for a model one worker holds goes to it rather than to a new worker.
    const pool = new InferencePool({ size: 2 });
    try {
      expect(await pool.stats()).toEqual({ workers: 0, loads: 0, sessions: [] });
      const inspection = await pool.inspect(shared.yolov8n!);
      expect(inspection.proposed).toMatchObject({ family: 'ultralytics', size: [320, 320] });
      const first = await pool.detect({ file: shared.yolov8n! }, image(KITCHEN), v8);
      const second = await pool.detect({ file: shared.yolov8n!, providers: ['cpu'] }, image(KITCHEN), v8);
      expect(second.detections).toEqual(first.detections);
      expect(await pool.stats()).toEqual({ workers: 1, loads: 1, sessions: [{ file: shared.yolov8n!, providers: ['cpu'], intraOpThreads: null, spinning: null }] });
      // Other options are another session: other threads, or the same threads with other spinning.
      await pool.detect({ file: shared.yolov8n!, intraOpThreads: 1 }, image(KITCHEN), v8);
      expect((await pool.stats()).loads).toBe(2);
      await pool.detect({ file: shared.yolov8n!, intraOpThreads: 1, spinning: false }, image(KITCHEN), v8);
      expect((await pool.stats()).loads).toBe(3);
    } finally {
      await pool.close();
    }
  });

  it('inspects with the thread settings of the runs to come: a run with them reuses that session', async () => {
    const pool = new InferencePool({ size: 2 });
    try {
      await pool.inspect(shared.yolov8n!, { intraOpThreads: 1, spinning: false });
      await pool.detect({ file: shared.yolov8n!, providers: ['cpu'], intraOpThreads: 1, spinning: false }, image(KITCHEN), v8);
      expect(await pool.stats()).toEqual({ workers: 1, loads: 1, sessions: [{ file: shared.yolov8n!, providers: ['cpu'], intraOpThreads: 1, spinning: false }] });
      // Spinning on is another session, loaded again.
      await pool.detect({ file: shared.yolov8n!, intraOpThreads: 1, spinning: true }, image(KITCHEN), v8);
      expect((await pool.stats()).loads).toBe(2);
    } finally {
      await pool.close();
    }
  });

  it('runs an image sent while its model is still loading on the worker loading it', async () => {
    const pool = new InferencePool({ size: 2 });
    try {
      const loading = pool.prepare({ file: shared.yolov8n!, providers: ['cpu'] });
      const r = await pool.detect({ file: shared.yolov8n!, providers: ['cpu'] }, image(KITCHEN), v8);
      await loading;
      expect(r.detections.length).toBeGreaterThan(0);
      expect(await pool.stats()).toMatchObject({ workers: 1, loads: 1 });
    } finally {
      await pool.close();
    }
  });

  it('stops its workers on close: none left running, and later requests fail as cancelled', async () => {
    const pool = new InferencePool({ size: 1 });
    await pool.detect({ file: shared.yolov8n! }, image(KITCHEN), v8, { maxDetections: 1 });
    expect(pool.workers).toBe(1);
    await pool.close();
    expect(pool.workers).toBe(0);
    expect(await pool.stats()).toEqual({ workers: 0, loads: 0, sessions: [] });
    const err = await pool.detect({ file: shared.yolov8n! }, image(KITCHEN), v8).catch((e: unknown) => e);
    expect(isAppError(err) && err.code).toBe('CANCELLED');
  });
});
