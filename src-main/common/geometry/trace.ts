/** Distance from (px, py) to the segment a-b (to the point a when the segment is degenerate). */
export function distanceToSegment(px: number, py: number, ax: number, ay: number, bx: number, by: number): number {
  const dx = bx - ax;
  const dy = by - ay;
  const len2 = dx * dx + dy * dy;
  let t = len2 > 0 ? ((px - ax) * dx + (py - ay) * dy) / len2 : 0;
  t = t < 0 ? 0 : t > 1 ? 1 : t;
  return Math.hypot(px - (ax + t * dx), py - (ay + t * dy));
}

/**
 * Douglas–Peucker on a closed ring of flat [x0, y0, ...]: vertices closer than `tolerance`
 * (image pixels) to the simplified outline are dropped. The ring is split at its first vertex
 * and the vertex farthest from it, which both stay; the result keeps at least 3 vertices when
 * the input has them, so a simplified part is still a polygon. Like any Douglas–Peucker, a
 * large tolerance on a narrow shape can make the ring cross itself (see polygonSelfIntersects).
 */
export function simplifyRing(ring: readonly number[], tolerance: number): number[] {
  const n = ring.length >> 1;
  if (n <= 3) return ring.slice(0, 2 * n);
  const px = (i: number) => ring[2 * (i % n)]!;
  const py = (i: number) => ring[2 * (i % n) + 1]!;
  let far = 0;
  let farD = -1;
  for (let i = 1; i < n; i++) {
    const d = Math.hypot(px(i) - px(0), py(i) - py(0));
    if (d > farD) {
      farD = d;
      far = i;
    }
  }
  const keep = new Uint8Array(n);
  keep[0] = 1;
  keep[far] = 1;
  // Indices run past n for the chain that closes the ring; px/py wrap them.
  const stack: [number, number][] = [
    [0, far],
    [far, n],
  ];
  while (stack.length > 0) {
    const [a, b] = stack.pop()!;
    let best = -1;
    let bestD = -1;
    for (let i = a + 1; i < b; i++) {
      const d = distanceToSegment(px(i), py(i), px(a), py(a), px(b), py(b));
      if (d > bestD) {
        bestD = d;
        best = i;
      }
    }
    if (best >= 0 && bestD > tolerance) {
      keep[best % n] = 1;
      stack.push([a, best], [best, b]);
    }
  }
  if (keep.reduce((s, k) => s + k, 0) < 3) {
    // Everything lay within tolerance of the chord 0-far: keep the vertex farthest from it.
    let best = -1;
    let bestD = -1;
    for (let i = 1; i < n; i++) {
      if (keep[i]) continue;
      const d = distanceToSegment(px(i), py(i), px(0), py(0), px(far), py(far));
      if (d > bestD) {
        bestD = d;
        best = i;
      }
    }
    if (best >= 0) keep[best] = 1;
  }
  const out: number[] = [];
  for (let i = 0; i < n; i++) if (keep[i]) out.push(px(i), py(i));
  return out;
}

// Directions in image axes (y down): east, south, west, north.
const DX = [1, 0, -1, 0] as const;
const DY = [0, 1, 0, -1] as const;

/**
 * Outer boundaries of the 8-connected components of a row-major mask (nonzero = set), one ring
 * per component in the order their top-left pixels appear, in pixel-corner coordinates: a lone
 * pixel at (3, 4) is the square 3,4 4,4 4,5 3,5. Rings run clockwise on screen (positive
 * ringSignedArea); two pixels touching only at a corner share that vertex, which the ring then
 * visits twice. With tolerance 0 the rings are exact, corners only, and rasterising them
 * (rasterizePolygon) gives the mask back with its holes filled; otherwise each ring is
 * simplified with simplifyRing.
 *
 * Holes are not represented: COCO polygon parts are unioned, so a ring with a hole inside would
 * fill it anyway. A component inside another's hole gets its own ring. fillHoles shows what a
 * mask becomes through this conversion.
 */
export function traceMask(mask: Uint8Array, width: number, height: number, tolerance = 0.5): number[][] {
  const n = width * height;
  if (mask.length !== n) throw new RangeError(`mask has ${mask.length} pixels, not ${width}x${height}`);
  const set = (x: number, y: number) => x >= 0 && y >= 0 && x < width && y < height && mask[y * width + x] !== 0;
  // For a crack from corner (x, y) heading d, the pixel on its right (on screen) is at
  // (x + RX[d], y + RY[d]) and the one on its left at (x + LX[d], y + LY[d]).
  const RX = [0, -1, -1, 0] as const;
  const RY = [0, 0, -1, -1] as const;
  const LX = [0, 0, -1, -1] as const;
  const LY = [-1, 0, 0, -1] as const;
  // Label components over horizontal runs with union-find: a run joins the runs of the row above
  // that it touches, diagonally included. Far cheaper than flooding pixels on large masks.
  const runStart: number[] = [];
  const runEnd: number[] = [];
  const runRow: number[] = [];
  const parent: number[] = [];
  const find = (r: number): number => {
    while (parent[r]! !== r) {
      parent[r] = parent[parent[r]!]!;
      r = parent[r]!;
    }
    return r;
  };
  let prevFirst = 0;
  for (let y = 0; y < height; y++) {
    const rowFirst = runStart.length;
    const base = y * width;
    let above = prevFirst;
    for (let x = 0; x < width; ) {
      if (mask[base + x] === 0) {
        x++;
        continue;
      }
      const start = x;
      while (x < width && mask[base + x] !== 0) x++;
      const r = runStart.length;
      runStart.push(start);
      runEnd.push(x);
      runRow.push(y);
      parent.push(r);
      // Runs of the row above that end before this one begins (diagonal gap excluded) cannot
      // touch later runs either.
      while (above < rowFirst && runEnd[above]! < start) above++;
      for (let q = above; q < rowFirst && runStart[q]! <= x; q++) {
        const ra = find(q);
        const rb = find(r);
        if (ra !== rb) parent[Math.max(ra, rb)] = Math.min(ra, rb);
      }
    }
    prevFirst = rowFirst;
  }
  const rings: number[][] = [];
  for (let r = 0; r < runStart.length; r++) {
    // Roots are always the lowest run of their component, i.e. its first in raster order.
    if (find(r) !== r) continue;
    // The first pixel in raster order has background above, left and above-left, so its
    // top-left corner is a vertex visited once: start there heading east, set pixels on the right.
    const sx = runStart[r]!;
    const sy = runRow[r]!;
    const ring: number[] = [sx, sy];
    let x = sx;
    let y = sy;
    let d = 0;
    for (;;) {
      x += DX[d]!;
      y += DY[d]!;
      if (x === sx && y === sy) break;
      const leftSet = set(x + LX[d]!, y + LY[d]!);
      const rightSet = set(x + RX[d]!, y + RY[d]!);
      // A set pixel ahead-left is 8-connected to the one behind on the right: turn to keep it
      // inside. Otherwise go on along set pixels or turn right around the corner.
      const nd = leftSet ? (d + 3) % 4 : rightSet ? d : (d + 1) % 4;
      if (nd !== d) ring.push(x, y);
      d = nd;
    }
    rings.push(tolerance > 0 ? simplifyRing(ring, tolerance) : ring);
  }
  return rings;
}
