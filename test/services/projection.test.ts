import { describe, expect, it } from 'vitest';
import { pickInPolygon, insidePolygon } from '../../src-main/common/embeddingMap';
import { mulberry32 } from '../../src-main/common/random';
import { pca, umap2d } from '../../src-main/services/projection';

/** A standard normal sample (Box-Muller) from a seeded generator. */
function gauss(rand: () => number): number {
  return Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());
}

/** Two orthonormal random axes in d dimensions. */
function axes(d: number, rand: () => number): [Float64Array, Float64Array] {
  const a = Float64Array.from({ length: d }, () => gauss(rand));
  const b = Float64Array.from({ length: d }, () => gauss(rand));
  const na = Math.hypot(...a);
  for (let t = 0; t < d; t++) a[t]! /= na;
  const dot = a.reduce((s, v, t) => s + v * b[t]!, 0);
  for (let t = 0; t < d; t++) b[t]! -= dot * a[t]!;
  const nb = Math.hypot(...b);
  for (let t = 0; t < d; t++) b[t]! /= nb;
  return [a, b];
}

/** `k` well separated clusters of `per` points each in d dimensions; the cluster of each row. */
function clusters(k: number, per: number, d: number, seed: number): { x: Float32Array; label: number[] } {
  const rand = mulberry32(seed);
  const centres = Array.from({ length: k }, () => Float64Array.from({ length: d }, () => gauss(rand) * 10));
  const x = new Float32Array(k * per * d);
  const label: number[] = [];
  for (let c = 0; c < k; c++)
    for (let p = 0; p < per; p++) {
      const row = label.length;
      label.push(c);
      for (let t = 0; t < d; t++) x[row * d + t] = centres[c]![t]! + gauss(rand) * 0.5;
    }
  return { x, label };
}

describe('PCA (randomized subspace iteration)', () => {
  it('recovers known principal axes: coordinates match the projections up to sign, variances in order', () => {
    const n = 2000;
    const d = 96;
    const rand = mulberry32(7);
    const [a, b] = axes(d, rand);
    const x = new Float32Array(n * d);
    const s1: number[] = [];
    const s2: number[] = [];
    for (let i = 0; i < n; i++) {
      const g1 = gauss(rand) * 5;
      const g2 = gauss(rand) * 2;
      s1.push(g1);
      s2.push(g2);
      for (let t = 0; t < d; t++) x[i * d + t] = 3 + g1 * a[t]! + g2 * b[t]! + gauss(rand) * 0.05;
    }
    const r = pca(x, n, d);
    expect(r.variance[0]!).toBeGreaterThan(r.variance[1]!);
    // The sample variances along the planted axes: 25 and 4.
    expect(r.variance[0]! / 25).toBeGreaterThan(0.85);
    expect(r.variance[0]! / 25).toBeLessThan(1.15);
    expect(r.variance[1]! / 4).toBeGreaterThan(0.85);
    expect(r.variance[1]! / 4).toBeLessThan(1.15);
    // The axes are the planted ones up to sign.
    const cos = (u: Float64Array, off: number): number => Math.abs(u.reduce((s, v, t) => s + v * r.axes[off + t]!, 0));
    expect(cos(a, 0)).toBeGreaterThan(0.999);
    expect(cos(b, d)).toBeGreaterThan(0.999);
    // Each point's coordinates are its centred projections on the axes, up to one sign per axis.
    const m1 = s1.reduce((p, v) => p + v, 0) / n;
    const m2 = s2.reduce((p, v) => p + v, 0) / n;
    const sign1 = Math.sign(r.coords[0]! * (s1[0]! - m1));
    const sign2 = Math.sign(r.coords[1]! * (s2[0]! - m2));
    let worst = 0;
    for (let i = 0; i < n; i++) {
      worst = Math.max(worst, Math.abs(r.coords[2 * i]! - sign1 * (s1[i]! - m1)), Math.abs(r.coords[2 * i + 1]! - sign2 * (s2[i]! - m2)));
    }
    expect(worst).toBeLessThan(0.5);
  });

  it('finds the axes from a random sample of the rows of a large matrix and projects every row on them', () => {
    const n = 6000;
    const d = 40;
    const rand = mulberry32(17);
    const [a, b] = axes(d, rand);
    const x = new Float32Array(n * d);
    for (let i = 0; i < n; i++) {
      const g1 = gauss(rand) * 4;
      const g2 = gauss(rand) * 2;
      for (let t = 0; t < d; t++) x[i * d + t] = g1 * a[t]! + g2 * b[t]! + gauss(rand) * 0.05;
    }
    const full = pca(x, n, d, { sampleRows: n });
    const sampled = pca(x, n, d, { sampleRows: 800 });
    expect(sampled.coords).toHaveLength(2 * n);
    let worst = 0;
    let spread = 0;
    for (let i = 0; i < 2 * n; i++) {
      worst = Math.max(worst, Math.abs(sampled.coords[i]! - full.coords[i]!));
      spread = Math.max(spread, Math.abs(full.coords[i]!));
    }
    // The same picture (signs fixed the same way), to within 2% of its extent.
    expect(worst).toBeLessThan(0.02 * spread);
    expect(sampled.variance[0]! / full.variance[0]!).toBeCloseTo(1, 2);
  });

  it('gives the same coordinates for the same data, and refuses a matrix of the wrong size', () => {
    const { x } = clusters(3, 50, 32, 3);
    expect([...pca(x, 150, 32).coords]).toEqual([...pca(x, 150, 32).coords]);
    expect(() => pca(x, 151, 32)).toThrow(/151 x 32 matrix needs 4832 values, got 4800/);
  });
});

describe('UMAP (umap-js, seeded)', () => {
  const { x, label } = clusters(3, 60, 64, 11);
  const n = label.length;

  it('gives the same map for the same input and seed, and another for another seed', () => {
    const first = umap2d(x, n, 64, { nEpochs: 100 });
    const again = umap2d(x, n, 64, { nEpochs: 100 });
    expect([...again]).toEqual([...first]);
    const other = umap2d(x, n, 64, { nEpochs: 100, seed: 5 });
    expect([...other]).not.toEqual([...first]);
  });

  it('keeps clearly separated clusters separated', () => {
    const y = umap2d(x, n, 64, { nEpochs: 200 });
    const centroid = [0, 1, 2].map((c) => {
      const rows = label.flatMap((l, i) => (l === c ? [i] : []));
      return [rows.reduce((s, i) => s + y[2 * i]!, 0) / rows.length, rows.reduce((s, i) => s + y[2 * i + 1]!, 0) / rows.length] as const;
    });
    let spread = 0;
    for (let i = 0; i < n; i++) {
      const [cx, cy] = centroid[label[i]!]!;
      spread = Math.max(spread, Math.hypot(y[2 * i]! - cx, y[2 * i + 1]! - cy));
    }
    let gap = Infinity;
    for (let p = 0; p < 3; p++) for (let q = p + 1; q < 3; q++) gap = Math.min(gap, Math.hypot(centroid[p]![0] - centroid[q]![0], centroid[p]![1] - centroid[q]![1]));
    // Every cluster lies inside a disc around its centroid that no other cluster's disc reaches.
    expect(gap).toBeGreaterThan(2 * spread);
  });
});

describe('lasso picking on the map coordinates', () => {
  it('picks exactly the points inside a freehand polygon, concave ones included', () => {
    // An L-shaped polygon: the notch at the top right is outside.
    const l = [0, 0, 10, 0, 10, 4, 4, 4, 4, 10, 0, 10];
    expect(insidePolygon(2, 8, l)).toBe(true);
    expect(insidePolygon(8, 2, l)).toBe(true);
    expect(insidePolygon(8, 8, l)).toBe(false);
    expect(insidePolygon(-1, 5, l)).toBe(false);
    expect(pickInPolygon([1, 2, 3, 4], [2, 8, 8, 2, 8, 8, 11, 1], l)).toEqual([1, 2]);
    expect(pickInPolygon([1], [1, 1], [0, 0, 5, 5])).toEqual([]);
  });

  it('a lasso around one cluster of a PCA map picks exactly that cluster', () => {
    const { x, label } = clusters(3, 40, 24, 21);
    const n = label.length;
    const { coords } = pca(x, n, 24);
    const ids = label.map((_, i) => 100 + i);
    const rows = label.flatMap((l, i) => (l === 1 ? [i] : []));
    const cx = rows.reduce((s, i) => s + coords[2 * i]!, 0) / rows.length;
    const cy = rows.reduce((s, i) => s + coords[2 * i + 1]!, 0) / rows.length;
    const r = Math.max(...rows.map((i) => Math.hypot(coords[2 * i]! - cx, coords[2 * i + 1]! - cy))) * 1.2;
    // A 24-gon around the cluster, as a freehand lasso would be.
    const poly = Array.from({ length: 24 }, (_, k) => [cx + r * Math.cos((k / 24) * 2 * Math.PI), cy + r * Math.sin((k / 24) * 2 * Math.PI)]).flat();
    expect(pickInPolygon(ids, coords, poly)).toEqual(rows.map((i) => 100 + i));
  });
});
