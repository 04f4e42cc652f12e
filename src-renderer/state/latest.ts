/**
 * Runs one job at a time for a key (an image), the latest asked for winning: a job asked for
 * while another for the same key runs waits, replacing any job already waiting, and starts when
 * the running one ends. A job for another key starts at once; the earlier key's jobs are
 * forgotten. Stepping through 300 frames quickly thus asks the backend for a handful of frames,
 * the last one always among them, instead of all 300.
 */
export class LatestWins<K> {
  private running: { key: K; token: number } | null = null;
  private waiting: (() => Promise<unknown>) | null = null;
  private seq = 0;

  run(key: K, job: () => Promise<unknown>): void {
    if (this.running && Object.is(this.running.key, key)) {
      this.waiting = job;
      return;
    }
    this.waiting = null;
    this.start(key, job);
  }

  /** Forgets the running and waiting jobs: the next one starts at once. */
  reset(): void {
    this.running = null;
    this.waiting = null;
    this.seq++;
  }

  private start(key: K, job: () => Promise<unknown>): void {
    const token = ++this.seq;
    this.running = { key, token };
    const done = () => {
      if (this.running?.token !== token) return;
      this.running = null;
      const next = this.waiting;
      this.waiting = null;
      if (next) this.start(key, next);
    };
    let p: Promise<unknown>;
    try {
      p = job();
    } catch {
      p = Promise.resolve();
    }
    p.then(done, done);
  }
}
