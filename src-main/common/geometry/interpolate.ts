import type { Geometry } from '../model';

type Box = Extract<Geometry, { kind: 'box' }>;
type Polygon = Extract<Geometry, { kind: 'polygon' }>;

/**
 * The attribute that marks a shape made by interpolation between two key slices. It goes with the
 * shape through undo, redo, copy and paste, and export (a copy made by propagation is a key shape); moving or reshaping the shape removes it, making it
 * a key shape like any drawn one.
 */
export const INTERPOLATED_ATTRIBUTE = 'interpolated';

/**
 * The mark's value: the ids of the two key shapes the shape was interpolated between, lower id
 * first ("12-40"). Shapes marked `true` (written before the keys were recorded) are interpolated
 * shapes whose keys are unknown.
 */
export function interpolationMark(keyA: number, keyB: number): string {
  return `${Math.min(keyA, keyB)}-${Math.max(keyA, keyB)}`;
}

const MARK = /^\d+-\d+$/;

export function isInterpolated(a: { attributes: Readonly<Record<string, unknown>> }): boolean {
  const v = a.attributes[INTERPOLATED_ATTRIBUTE];
  return v === true || (typeof v === 'string' && MARK.test(v));
}

const lerp = (a: number, b: number, t: number): number => a + (b - a) * t;

/** The box a fraction `t` of the way from `a` (t = 0) to `b` (t = 1): each side moves linearly. */
export function lerpBox(a: Box, b: Box, t: number): Box {
  return { kind: 'box', x: lerp(a.x, b.x, t), y: lerp(a.y, b.y, t), w: lerp(a.w, b.w, t), h: lerp(a.h, b.h, t) };
}

function signedArea(ring: readonly number[]): number {
  let s = 0;
  const n = ring.length / 2;
  for (let i = 0; i < n; i++) {
    const j = (i + 1) % n;
    s += ring[2 * i]! * ring[2 * j + 1]! - ring[2 * j]! * ring[2 * i + 1]!;
  }
  return s / 2;
}

/**
 * `n` points spread evenly by arc length along a closed ring (flat x,y list), starting at its
 * first vertex. Every original vertex is kept when `n` is at least the vertex count and the
 * spacing allows; corners between samples are cut.
 */
export function resampleRing(ring: readonly number[], n: number): number[] {
  const m = ring.length / 2;
  const seg: number[] = [];
  let total = 0;
  for (let i = 0; i < m; i++) {
    const j = (i + 1) % m;
    const d = Math.hypot(ring[2 * j]! - ring[2 * i]!, ring[2 * j + 1]! - ring[2 * i + 1]!);
    seg.push(d);
    total += d;
  }
  const out: number[] = [];
  if (total === 0) {
    for (let k = 0; k < n; k++) out.push(ring[0]!, ring[1]!);
    return out;
  }
  let i = 0;
  let before = 0; // arc length at vertex i
  for (let k = 0; k < n; k++) {
    const at = (k * total) / n;
    while (i < m - 1 && before + seg[i]! < at) before += seg[i++]!;
    const j = (i + 1) % m;
    const t = seg[i]! > 0 ? (at - before) / seg[i]! : 0;
    out.push(lerp(ring[2 * i]!, ring[2 * j]!, t), lerp(ring[2 * i + 1]!, ring[2 * j + 1]!, t));
  }
  return out;
}

/**
 * `b` as a ring of `a`'s vertex count, turning the same way as `a` and starting at its vertex
 * nearest `a`'s first vertex, so vertex k of one is matched with vertex k of the other.
 */
export function alignRings(a: readonly number[], b: readonly number[]): { a: number[]; b: number[] } {
  const n = Math.max(a.length, b.length) / 2;
  const ra = a.length / 2 === n ? [...a] : resampleRing(a, n);
  let rb = b.length / 2 === n ? [...b] : resampleRing(b, n);
  if (Math.sign(signedArea(ra)) !== Math.sign(signedArea(rb))) {
    const rev: number[] = [];
    for (let k = n - 1; k >= 0; k--) rev.push(rb[2 * k]!, rb[2 * k + 1]!);
    rb = rev;
  }
  let best = 0;
  let bestD = Infinity;
  for (let k = 0; k < n; k++) {
    const d = (rb[2 * k]! - ra[0]!) ** 2 + (rb[2 * k + 1]! - ra[1]!) ** 2;
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  }
  const rotated = [...rb.slice(2 * best), ...rb.slice(0, 2 * best)];
  return { a: ra, b: rotated };
}

/**
 * A polygon a fraction `t` of the way from `a` to `b`: each part of `a` is matched with the part
 * of `b` at the same index, both resampled to the larger vertex count (by arc length) and aligned
 * (alignRings), then each vertex pair is interpolated linearly. Null when the part counts differ.
 */
export function lerpPolygon(a: Polygon, b: Polygon, t: number): Polygon | null {
  if (a.parts.length !== b.parts.length) return null;
  const parts = a.parts.map((pa, i) => {
    const r = alignRings(pa, b.parts[i]!);
    return r.a.map((v, k) => lerp(v, r.b[k]!, t));
  });
  return { kind: 'polygon', parts };
}

/**
 * The shape a fraction `t` of the way between two key shapes of the same kind (box or polygon);
 * null with the reason when they cannot be interpolated.
 */
export function interpolateGeometry(a: Geometry, b: Geometry, t: number): { geometry: Geometry } | { reason: string } {
  if (a.kind !== b.kind) return { reason: `a ${a.kind} and a ${b.kind} cannot be interpolated` };
  if (a.kind === 'box' && b.kind === 'box') return { geometry: lerpBox(a, b, t) };
  if (a.kind === 'polygon' && b.kind === 'polygon') {
    const g = lerpPolygon(a, b, t);
    return g ? { geometry: g } : { reason: `the polygons have ${a.parts.length} and ${b.parts.length} parts` };
  }
  return { reason: `only boxes and polygons are interpolated, not a ${a.kind}` };
}
