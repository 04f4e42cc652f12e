import type { Rle } from '../../src-main/common/geometry/rle';
import type { Geometry } from '../../src-main/common/model';
import { mulberry32 } from '../../src-main/common/random';

/**
 * Generated annotations for the canvas test and benchmark: many shapes over a large image, the
 * same for the same seed so counts and timings compare between runs.
 */

/** Irregular 30-vertex blobs spread over a `width` x `height` image. */
export function blobPolygons(n: number, seed: number, width: number, height: number): Extract<Geometry, { kind: 'polygon' }>[] {
  const r = mulberry32(seed);
  const out: Extract<Geometry, { kind: 'polygon' }>[] = [];
  for (let i = 0; i < n; i++) {
    const cx = 50 + r() * (width - 100);
    const cy = 50 + r() * (height - 100);
    const radius = 12 + r() * 28;
    const ring: number[] = [];
    for (let k = 0; k < 30; k++) {
      const a = (k / 30) * Math.PI * 2;
      const rr = radius * (0.7 + 0.3 * r());
      ring.push(Math.round((cx + rr * Math.cos(a)) * 10) / 10, Math.round((cy + rr * Math.sin(a)) * 10) / 10);
    }
    out.push({ kind: 'polygon', parts: [ring] });
  }
  return out;
}

/**
 * A full-size mask with at most one run of set pixels per column, rows `[y0, y1)` as `span(x)`
 * gives them (null: none), run-length encoded column by column (COCO order) without a pixel buffer.
 */
export function columnSpanRle(width: number, height: number, span: (x: number) => readonly [number, number] | null): Rle {
  const counts: number[] = [];
  let run = 0;
  let on = false;
  const push = (value: boolean, n: number) => {
    if (n <= 0) return;
    if (value !== on) {
      counts.push(run);
      run = 0;
      on = value;
    }
    run += n;
  };
  for (let x = 0; x < width; x++) {
    const [y0, y1] = span(x) ?? [height, height];
    push(false, y0);
    push(true, y1 - y0);
    push(false, height - y1);
  }
  counts.push(run);
  return { size: [height, width], counts };
}
