import type { LeaseState } from '../../src-main/common/team';

/** The team server's lease calls (team:lease, team:release). */
export interface LeasePort {
  take(imageId: number): Promise<LeaseState>;
  release(imageId: number): Promise<unknown>;
}

export interface LeaseKeeperOptions {
  /** Seconds a lease lasts without renewal; it is renewed every third of it. */
  leaseSeconds: number;
  /** How often (ms) an image someone else holds is asked for again. */
  retryMs?: number;
  /** The lease of the open image as last answered; null when no image is open. */
  onState(state: LeaseState | null): void;
  onError?(e: unknown): void;
}

/** How often an image held by someone else is asked for again, besides on its lease:changed events. */
export const LEASE_RETRY_MS = 3_000;

/**
 * Keeps the edit lease of the image open in the editor (team mode). Opening an image asks for its
 * lease; while it is ours it is renewed every `leaseSeconds / 3` seconds; while someone else holds
 * it, it is asked for again every few seconds and whenever its lease changes, so the editor turns
 * editable as soon as it is free. Closing the image or opening another gives the lease back.
 */
export class LeaseKeeper {
  private imageId: number | null = null;
  private current: LeaseState | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  /** Bumped by every open and close, so an answer for an image left since is dropped. */
  private generation = 0;
  private asking = false;
  /** A lease:changed event came while a request was on its way: ask again once it is answered. */
  private askAgain = false;

  constructor(
    private readonly port: LeasePort,
    private readonly opts: LeaseKeeperOptions,
  ) {}

  get state(): LeaseState | null {
    return this.current;
  }

  /** The image now open in the editor (the previous one's lease, if ours, is given back). */
  open(imageId: number): void {
    if (this.imageId === imageId) return;
    this.close();
    this.imageId = imageId;
    void this.ask();
  }

  /** No image open any more: its lease, if ours, is given back. */
  close(): void {
    const id = this.imageId;
    const wasMine = this.current?.mine === true;
    this.generation++;
    this.clearTimer();
    this.imageId = null;
    this.current = null;
    this.asking = false;
    this.askAgain = false;
    if (id === null) return;
    this.opts.onState(null);
    if (wasMine) this.port.release(id).catch((e: unknown) => this.opts.onError?.(e));
  }

  /**
   * A lease:changed event about the open image that does not say it is ours: ask again now. While
   * someone else holds it, this is how it turns editable at once; while we think we hold it (our
   * renewals lapsed, another tab of this session gave it back), this is how we learn otherwise
   * before the next renewal.
   */
  changed(ev: LeaseState): void {
    if (ev.imageId !== this.imageId || ev.mine) return;
    void this.ask();
  }

  private get renewMs(): number {
    return Math.max(1_000, (this.opts.leaseSeconds * 1000) / 3);
  }

  private clearTimer(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(ms: number): void {
    this.clearTimer();
    const gen = this.generation;
    this.timer = setTimeout(() => {
      this.timer = null;
      if (gen === this.generation) void this.ask();
    }, ms);
  }

  private async ask(): Promise<void> {
    const id = this.imageId;
    if (id === null) return;
    if (this.asking) {
      this.askAgain = true;
      return;
    }
    this.asking = true;
    const gen = this.generation;
    let next: LeaseState | null = null;
    try {
      next = await this.port.take(id);
    } catch (e) {
      if (gen === this.generation) this.opts.onError?.(e);
    }
    if (gen !== this.generation) {
      // The image was left while the answer was on its way: a lease granted meanwhile goes back.
      if (next?.mine) this.port.release(id).catch((e: unknown) => this.opts.onError?.(e));
      return;
    }
    this.asking = false;
    if (next) {
      const changed = !this.current || this.current.mine !== next.mine || this.current.holder !== next.holder;
      this.current = next;
      if (changed) this.opts.onState(next);
    }
    // Ours: renew before it lapses. Someone else's (or no answer): ask again soon, or at once
    // when its lease changed meanwhile.
    const again = this.askAgain && !this.current?.mine;
    this.askAgain = false;
    this.schedule(this.current?.mine ? this.renewMs : again ? 0 : (this.opts.retryMs ?? LEASE_RETRY_MS));
  }
}
