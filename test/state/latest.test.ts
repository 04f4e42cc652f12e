import { describe, expect, it } from 'vitest';
import { LatestWins } from '../../src-renderer/state/latest';

/** A job that records that it ran and ends when `finish` is called. */
function gate(log: string[], name: string): { job: () => Promise<void>; finish: () => void } {
  let finish = () => {};
  const job = () => {
    log.push(name);
    return new Promise<void>((resolve) => (finish = resolve));
  };
  return { job, finish: () => finish() };
}

const tick = () => new Promise((r) => setTimeout(r, 0));

describe('LatestWins', () => {
  it('runs one job per key at a time; of those asked for meanwhile only the latest runs next', async () => {
    const log: string[] = [];
    const runner = new LatestWins<number>();
    const jobs = Array.from({ length: 300 }, (_, i) => gate(log, `frame ${i}`));
    for (const j of jobs) runner.run(7, j.job);
    expect(log).toEqual(['frame 0']);
    jobs[0]!.finish();
    await tick();
    expect(log).toEqual(['frame 0', 'frame 299']);
    jobs[299]!.finish();
    await tick();
    expect(log).toEqual(['frame 0', 'frame 299']);
  });

  it('a job for another key starts at once and the earlier key is forgotten; a failed job lets the next run', async () => {
    const log: string[] = [];
    const runner = new LatestWins<number>();
    const a = gate(log, 'a');
    const a2 = gate(log, 'a2');
    const b = gate(log, 'b');
    runner.run(1, a.job);
    runner.run(1, a2.job);
    runner.run(2, b.job);
    expect(log).toEqual(['a', 'b']);
    a.finish();
    await tick();
    expect(log).toEqual(['a', 'b']); // a2 was for the earlier image
    runner.run(2, () => {
      log.push('b2');
      return Promise.reject(new Error('x'));
    });
    runner.run(2, async () => void log.push('b3'));
    b.finish();
    await tick();
    await tick();
    expect(log).toEqual(['a', 'b', 'b3']);
    // A job that fails ends like one that succeeds.
    runner.run(3, () => {
      log.push('c');
      return Promise.reject(new Error('no'));
    });
    runner.run(3, async () => void log.push('c2'));
    await tick();
    await tick();
    expect(log).toEqual(['a', 'b', 'b3', 'c', 'c2']);
  });
});
