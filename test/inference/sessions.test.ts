import fs from 'node:fs';
import os from 'node:os';
import { afterAll, describe, expect, it } from 'vitest';
import { isAppError } from '../../src-main/common/errors';
import { float32Tensor, getSession, releaseSessions } from '../../src-main/inference/sessions';
import { physicalCores, SPIN_MIN_CORES, threadSettings } from '../../src-main/inference/threads';
import { shared } from './models';

/** Threads of this process (Linux): onnxruntime starts threads - 1 of its own per session. */
const threadCount = (): number => fs.readdirSync('/proc/self/task').length;
const linux = process.platform === 'linux';

describe('thread settings for onnxruntime sessions', () => {
  it('keeps spinning off in the app and on for batch runs, one intra-op thread per physical core, unless told otherwise', () => {
    const cores = physicalCores();
    expect(Number.isInteger(cores)).toBe(true);
    expect(cores).toBeGreaterThanOrEqual(1);
    expect(cores).toBeLessThanOrEqual(os.availableParallelism());
    expect(threadSettings('app')).toEqual({ threads: cores, spinning: false });
    expect(threadSettings('batch')).toEqual({ threads: cores, spinning: cores >= SPIN_MIN_CORES });
    expect(threadSettings('app', { threads: 3, spinning: true })).toEqual({ threads: 3, spinning: true });
    expect(threadSettings('batch', { spinning: false })).toEqual({ threads: cores, spinning: false });
  });
});

describe.runIf(shared.yolov8n)('sessions with thread settings (yolov8n_int8)', () => {
  afterAll(releaseSessions);

  it('creates one session per thread count and spinning, and reuses it for the same settings', async () => {
    const file = shared.yolov8n!;
    const a = await getSession(file, { intraOpThreads: 1, spinning: false });
    const b = await getSession(file, { intraOpThreads: 1, spinning: true });
    const c = await getSession(file, { intraOpThreads: 2, spinning: false });
    const d = await getSession(file, {});
    expect(new Set([a.session, b.session, c.session, d.session]).size).toBe(4);
    expect((await getSession(file, { intraOpThreads: 1, spinning: false })).session).toBe(a.session);
    expect((await getSession(file, { spinning: true, intraOpThreads: 1 })).session).toBe(b.session);
    // Each runs the model.
    for (const s of [a, b, c]) {
      const out = await s.session.run({ images: float32Tensor(new Float32Array(3 * 320 * 320), [1, 3, 320, 320]) });
      expect(Object.values(out)[0]!.dims).toEqual([1, 84, 2100]);
    }
  });

  it.runIf(linux)('gives onnxruntime the intra-op thread count asked for', async () => {
    const file = shared.yolov8n!;
    // onnxruntime starts some threads of its own with the first session it makes.
    await getSession(file, { intraOpThreads: 1, spinning: false });
    const before = threadCount();
    await getSession(file, { intraOpThreads: 1, spinning: true });
    const one = threadCount();
    await getSession(file, { intraOpThreads: 4, spinning: false });
    const four = threadCount();
    expect(one - before).toBe(0);
    expect(four - one).toBe(3);
  });

  it('refuses a thread count that is not a whole number from 1 to 256', async () => {
    for (const bad of [0, -1, 1.5, 257, Number.NaN]) {
      let err: unknown;
      try {
        await getSession(shared.yolov8n!, { intraOpThreads: bad });
      } catch (e) {
        err = e;
      }
      expect(isAppError(err) && err.code).toBe('INVALID_ARGUMENT');
      expect((err as Error).message).toMatch(/intra-op threads must be a whole number from 1 to 256, got /);
    }
  });
});
