/**
 * Affine maps of image coordinates (pixel edges at integers, origin top-left, y down, the
 * convention of common/geometry): `[a, b, c, d, e, f]` sends (x, y) to
 * (a x + b y + e, c x + d y + f). Every geometric augmentation and preprocessing step is one of
 * these plus an output size, so images, masks and vector geometry move by the same map.
 */
export type Affine = readonly [number, number, number, number, number, number];

export const IDENTITY: Affine = [1, 0, 0, 1, 0, 0];

/** `second` after `first`. */
export function compose(second: Affine, first: Affine): Affine {
  const [a, b, c, d, e, f] = second;
  const [p, q, r, s, t, u] = first;
  return [a * p + b * r, a * q + b * s, c * p + d * r, c * q + d * s, a * t + b * u + e, c * t + d * u + f];
}

export function applyAffine(m: Affine, x: number, y: number): [number, number] {
  return [m[0] * x + m[1] * y + m[4], m[2] * x + m[3] * y + m[5]];
}

/** Maps flat [x0, y0, x1, y1, ...] points. */
export function mapPoints(m: Affine, flat: readonly number[]): number[] {
  const out = new Array<number>(flat.length);
  for (let i = 0; i + 1 < flat.length; i += 2) {
    out[i] = m[0] * flat[i]! + m[1] * flat[i + 1]! + m[4];
    out[i + 1] = m[2] * flat[i]! + m[3] * flat[i + 1]! + m[5];
  }
  return out;
}

export function determinant(m: Affine): number {
  return m[0] * m[3] - m[1] * m[2];
}

/** Whether the map mirrors (reverses orientation), which swaps left and right keypoints. */
export function mirrors(m: Affine): boolean {
  return determinant(m) < 0;
}

/** Whether the linear part keeps right angles (a rotation, mirror and uniform scale). */
export function isSimilarity(m: Affine, eps = 1e-9): boolean {
  const [a, b, c, d] = m;
  const dot = a * b + c * d;
  const n1 = a * a + c * c;
  const n2 = b * b + d * d;
  return Math.abs(dot) <= eps * Math.max(n1, n2) && Math.abs(n1 - n2) <= eps * Math.max(n1, n2);
}

export function translate(dx: number, dy: number): Affine {
  return [1, 0, 0, 1, dx, dy];
}

export function scale(sx: number, sy = sx): Affine {
  return [sx, 0, 0, sy, 0, 0];
}

/** Mirror left-right in an image `width` wide. */
export function flipX(width: number): Affine {
  return [-1, 0, 0, 1, width, 0];
}

/** Mirror top-bottom in an image `height` tall. */
export function flipY(height: number): Affine {
  return [1, 0, 0, -1, 0, height];
}

/**
 * A clockwise turn by `quarters` x 90 degrees of a width x height image (as it looks on screen,
 * y down), with the result's origin at its top-left; the output is height x width for odd turns.
 */
export function rot90(quarters: number, width: number, height: number): Affine {
  switch (((quarters % 4) + 4) % 4) {
    case 1:
      return [0, -1, 1, 0, height, 0];
    case 2:
      return [-1, 0, 0, -1, width, height];
    case 3:
      return [0, 1, -1, 0, 0, width];
    default:
      return IDENTITY;
  }
}

/** A turn by `degrees` about (cx, cy); positive turns clockwise on screen (y down). */
export function rotateAbout(degrees: number, cx: number, cy: number): Affine {
  const t = (degrees * Math.PI) / 180;
  const c = Math.cos(t);
  const s = Math.sin(t);
  return compose(translate(cx, cy), compose([c, -s, s, c, 0, 0], translate(-cx, -cy)));
}

/** Shear by angles `xDeg` (x moves with y) and `yDeg` (y moves with x) about (cx, cy). */
export function shearAbout(xDeg: number, yDeg: number, cx: number, cy: number): Affine {
  const kx = Math.tan((xDeg * Math.PI) / 180);
  const ky = Math.tan((yDeg * Math.PI) / 180);
  return compose(translate(cx, cy), compose([1, kx, ky, 1, 0, 0], translate(-cx, -cy)));
}
