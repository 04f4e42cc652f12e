import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { LeaseState } from '../../src-main/common/team';
import { LEASE_RETRY_MS, LeaseKeeper, type LeasePort } from '../../src-renderer/state/lease';

/**
 * Leases as the team server keeps them, one holder per image with an expiry, each page a
 * session of its own: enough to drive the keeper's timing from both sides.
 */
class Leases {
  readonly held = new Map<number, { holder: string; session: string; expiresAt: number }>();
  readonly calls: string[] = [];
  constructor(private readonly ttlMs: number) {}

  port(user: string, session: string): LeasePort {
    return {
      take: async (imageId) => {
        this.calls.push(`${session} take ${imageId}`);
        const now = Date.now();
        const h = this.held.get(imageId);
        if (!h || h.expiresAt <= now || h.session === session) {
          this.held.set(imageId, { holder: user, session, expiresAt: now + this.ttlMs });
          return { imageId, mine: true, holder: user, expiresAt: now + this.ttlMs };
        }
        return { imageId, mine: false, holder: h.holder, expiresAt: h.expiresAt };
      },
      release: async (imageId) => {
        this.calls.push(`${session} release ${imageId}`);
        if (this.held.get(imageId)?.session === session) this.held.delete(imageId);
        return null;
      },
    };
  }
}

const flush = () => vi.advanceTimersByTimeAsync(0);

describe('LeaseKeeper', () => {
  beforeEach(() => void vi.useFakeTimers({ now: 1_000_000 }));
  afterEach(() => void vi.useRealTimers());

  it('takes the lease of the image opened and renews it every third of its duration while it is open', async () => {
    const leases = new Leases(30_000);
    const states: (LeaseState | null)[] = [];
    const k = new LeaseKeeper(leases.port('ann1', 's1'), { leaseSeconds: 30, onState: (s) => states.push(s) });
    k.open(7);
    await flush();
    expect(k.state).toMatchObject({ imageId: 7, mine: true, holder: 'ann1' });
    expect(states).toHaveLength(1);
    // 95 s open: renewals at 10, 20, ... 90 s, so the 30 s lease never lapses.
    await vi.advanceTimersByTimeAsync(95_000);
    expect(leases.calls.filter((c) => c === 's1 take 7')).toHaveLength(10);
    expect(leases.held.get(7)!.expiresAt).toBeGreaterThan(Date.now());
    // Renewals that change nothing are not reported again.
    expect(states).toHaveLength(1);
  });

  it('gives the lease back when the image is closed or another is opened, and stops renewing it', async () => {
    const leases = new Leases(30_000);
    const k = new LeaseKeeper(leases.port('ann1', 's1'), { leaseSeconds: 30, onState: () => {} });
    k.open(7);
    await flush();
    k.open(8);
    await flush();
    expect(leases.held.has(7)).toBe(false);
    expect(leases.held.get(8)?.holder).toBe('ann1');
    k.close();
    await flush();
    expect(leases.held.size).toBe(0);
    const before = leases.calls.length;
    await vi.advanceTimersByTimeAsync(60_000);
    expect(leases.calls.length).toBe(before);
  });

  it('while someone else edits the image it is view only; asked again every few seconds and on its lease events, it turns editable once free', async () => {
    const leases = new Leases(30_000);
    const first = new LeaseKeeper(leases.port('ann1', 's1'), { leaseSeconds: 30, onState: () => {} });
    first.open(7);
    await flush();
    const states: (LeaseState | null)[] = [];
    const second = new LeaseKeeper(leases.port('ann2', 's2'), { leaseSeconds: 30, onState: (s) => states.push(s) });
    second.open(7);
    await flush();
    expect(second.state).toMatchObject({ mine: false, holder: 'ann1' });
    const asked = () => leases.calls.filter((c) => c === 's2 take 7').length;
    await vi.advanceTimersByTimeAsync(LEASE_RETRY_MS * 3 + 10);
    expect(asked()).toBe(4);
    expect(second.state?.mine).toBe(false);
    // The first closes the image: the lease:changed event brings the second in at once.
    first.close();
    await flush();
    second.changed({ imageId: 7, mine: false, holder: null, expiresAt: null });
    await flush();
    expect(second.state).toMatchObject({ mine: true, holder: 'ann2' });
    expect(states.map((s) => s?.mine)).toEqual([false, true]);
    // An event about another image asks nothing.
    const n = asked();
    second.changed({ imageId: 9, mine: false, holder: null, expiresAt: null });
    await flush();
    expect(asked()).toBe(n);
  });

  it('a lease left to lapse (the holder\'s page gone without releasing) is taken by the next retry, without any event', async () => {
    const leases = new Leases(6_000);
    // The first page dies after taking the lease: its renewals never reach the server, nothing is released.
    let dead = false;
    const port = leases.port('ann1', 's1');
    const first = new LeaseKeeper(
      { take: (id) => (dead ? new Promise<LeaseState>(() => {}) : port.take(id)), release: port.release },
      { leaseSeconds: 6, onState: () => {} },
    );
    first.open(7);
    await flush();
    dead = true;
    const second = new LeaseKeeper(leases.port('ann2', 's2'), { leaseSeconds: 6, retryMs: 1_000, onState: () => {} });
    second.open(7);
    await flush();
    expect(second.state).toMatchObject({ mine: false, holder: 'ann1' });
    await vi.advanceTimersByTimeAsync(4_000);
    expect(second.state?.mine).toBe(false);
    await vi.advanceTimersByTimeAsync(2_500);
    expect(second.state).toMatchObject({ mine: true, holder: 'ann2' });
  });

  it('a lease granted for an image left while the answer was on its way is given back', async () => {
    const leases = new Leases(30_000);
    let answer: (() => void) | null = null;
    const port = leases.port('ann1', 's1');
    const slow: LeasePort = {
      take: (id) => new Promise<LeaseState>((resolve) => (answer = () => void port.take(id).then(resolve))),
      release: port.release,
    };
    const k = new LeaseKeeper(slow, { leaseSeconds: 30, onState: () => {} });
    k.open(7);
    k.close();
    answer!();
    await flush();
    expect(leases.held.has(7)).toBe(false);
    expect(k.state).toBeNull();
  });

  it('a lease event that comes while a request is on its way is not lost: the image is asked for again at once', async () => {
    const leases = new Leases(30_000);
    const first = new LeaseKeeper(leases.port('ann1', 's1'), { leaseSeconds: 30, onState: () => {} });
    first.open(7);
    await flush();
    // The server answers the second's request while the first still holds the image; the answer
    // arrives only after the first has let go and its lease:changed event has come.
    const port = leases.port('ann2', 's2');
    let arrive = () => {};
    const late = new Promise<void>((r) => (arrive = r));
    const second = new LeaseKeeper(
      {
        take: async (id) => {
          const answer = await port.take(id);
          await late;
          return answer;
        },
        release: port.release,
      },
      { leaseSeconds: 30, onState: () => {} },
    );
    second.open(7);
    await flush();
    first.close();
    second.changed({ imageId: 7, mine: false, holder: null, expiresAt: null });
    arrive();
    await flush();
    await flush();
    // Well before the 3 s retry.
    expect(second.state).toMatchObject({ mine: true, holder: 'ann2' });
    expect(leases.calls.filter((c) => c === 's2 take 7')).toHaveLength(2);
  });

  it('a holder told that someone else now holds its image turns view only at once, not at its next renewal', async () => {
    const leases = new Leases(30_000);
    const states: (LeaseState | null)[] = [];
    const k = new LeaseKeeper(leases.port('ann1', 's1'), { leaseSeconds: 30, onState: (s) => states.push(s) });
    k.open(7);
    await flush();
    expect(k.state?.mine).toBe(true);
    // Its lease lapsed unnoticed (a suspended laptop) and another annotator took the image.
    leases.held.set(7, { holder: 'ann2', session: 's2', expiresAt: Date.now() + 30_000 });
    k.changed({ imageId: 7, mine: false, holder: 'ann2', expiresAt: Date.now() + 30_000 });
    await flush();
    expect(k.state).toMatchObject({ mine: false, holder: 'ann2' });
    expect(states.map((s) => s?.mine)).toEqual([true, false]);
    // Events saying the lease is ours ask nothing.
    const asked = leases.calls.length;
    k.changed({ imageId: 7, mine: true, holder: 'ann1', expiresAt: null });
    await flush();
    expect(leases.calls.length).toBe(asked);
  });
});
