import type { OpenCv } from './opencv';

/**
 * The classical smart tools as OpenCV calls on displayed 8-bit pixels (grey or RGB, row-major).
 * Every Mat made here is deleted before returning, whatever happens: the WebAssembly heap does
 * not collect them, and the worker keeps one OpenCV instance for its whole life. A Mat's `data`
 * views are read after the last OpenCV call that could grow the heap.
 */
export interface Pixels {
  data: Uint8Array;
  width: number;
  height: number;
  channels: 1 | 3;
}

/** A row-major 0/1 mask the size of the pixels given. */
export interface MaskOut {
  mask: Uint8Array;
  width: number;
  height: number;
}

/** A row-major label image (0 background, 1..count instances) the size of the pixels given. */
export interface LabelsOut {
  labels: Int32Array;
  width: number;
  height: number;
  count: number;
  /** The grey level that separated foreground from background. */
  threshold: number;
}

type Mat = InstanceType<OpenCv['Mat']>;

/** Runs `f` with a list that collects Mats, and deletes them all afterwards. */
function withMats<T>(f: (keep: <M extends { delete(): void }>(m: M) => M) => T): T {
  const made: { delete(): void }[] = [];
  try {
    return f((m) => {
      made.push(m);
      return m;
    });
  } finally {
    for (const m of made) m.delete();
  }
}

function matOf(cv: OpenCv, px: Pixels): Mat {
  const m = new cv.Mat(px.height, px.width, px.channels === 3 ? cv.CV_8UC3 : cv.CV_8UC1);
  m.data.set(px.data.subarray(0, px.width * px.height * px.channels));
  return m;
}

/**
 * Magic wand: the 4-connected region around (x, y) whose every channel lies within `tolerance`
 * of the seed pixel's (cv.floodFill with FLOODFILL_FIXED_RANGE, filling a mask only).
 */
export function wand(cv: OpenCv, px: Pixels, x: number, y: number, tolerance: number): MaskOut {
  const { width: w, height: h } = px;
  return withMats((keep) => {
    const src = keep(matOf(cv, px));
    // floodFill's mask is two pixels larger than the image and marks its own border.
    const mask = keep(cv.Mat.zeros(h + 2, w + 2, cv.CV_8UC1));
    const t = new cv.Scalar(tolerance, tolerance, tolerance, 0);
    const flags = 4 | cv.FLOODFILL_FIXED_RANGE | cv.FLOODFILL_MASK_ONLY | (1 << 8);
    cv.floodFill(src, mask, new cv.Point(Math.floor(x), Math.floor(y)), new cv.Scalar(0), new cv.Rect(), t, t, flags);
    const m = mask.data as Uint8Array;
    const out = new Uint8Array(w * h);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out[y * w + x] = m[(y + 1) * (w + 2) + x + 1]! !== 0 ? 1 : 0;
    return { mask: out, width: w, height: h };
  });
}

/**
 * GrabCut initialised with a rectangle (cv.grabCut, GC_INIT_WITH_RECT): the pixels it calls
 * foreground or probably foreground, reduced to their largest 8-connected component (inside the
 * rectangle by construction, since GrabCut marks everything outside it as background).
 */
export function grabcut(cv: OpenCv, px: Pixels, box: { x: number; y: number; w: number; h: number }, iterations: number): MaskOut {
  const { width: w, height: h } = px;
  return withMats((keep) => {
    let src = keep(matOf(cv, px));
    if (px.channels === 1) {
      const rgb = keep(new cv.Mat());
      cv.cvtColor(src, rgb, cv.COLOR_GRAY2RGB);
      src = rgb;
    }
    const mask = keep(new cv.Mat());
    const bgd = keep(new cv.Mat());
    const fgd = keep(new cv.Mat());
    cv.grabCut(src, mask, new cv.Rect(box.x, box.y, box.w, box.h), bgd, fgd, iterations, cv.GC_INIT_WITH_RECT);
    const fg = keep(new cv.Mat(h, w, cv.CV_8UC1));
    const m = mask.data as Uint8Array;
    const f = fg.data as Uint8Array;
    // GC_FGD = 1, GC_PR_FGD = 3: the foreground labels are the odd ones.
    for (let i = 0; i < w * h; i++) f[i] = m[i]! & 1 ? 255 : 0;
    return { mask: largestComponent(cv, keep, fg), width: w, height: h };
  });
}

/** A path of pixel centres as flat x, y pairs. */
export interface PathOut {
  points: Int32Array;
}

/**
 * Intelligent scissors (cv.segmentation_IntelligentScissorsMB, the OpenCV port of livewire): the
 * cheapest path from `from` to `to` where the cost is low on edges (Canny 32/100, gradient
 * magnitude up to 200, OpenCV's defaults in its sample), `from` first.
 */
export function scissors(cv: OpenCv, px: Pixels, from: { x: number; y: number }, to: { x: number; y: number }): PathOut {
  return withMats((keep) => {
    const src = keep(matOf(cv, px));
    const tool = keep(new (cv as unknown as { segmentation_IntelligentScissorsMB: new () => IntelligentScissors }).segmentation_IntelligentScissorsMB());
    // The setters return the tool by reference, which the binding hands back as another handle on
    // the same native object: each must be deleted, or the features applyImage computes leak.
    keep(tool.setEdgeFeatureCannyParameters(32, 100));
    keep(tool.setGradientMagnitudeMaxLimit(200));
    keep(tool.applyImage(src));
    tool.buildMap(new cv.Point(Math.floor(from.x), Math.floor(from.y)));
    const contour = keep(new cv.Mat());
    tool.getContour(new cv.Point(Math.floor(to.x), Math.floor(to.y)), contour);
    // From the map's source (`from`) to the target, as CV_32SC2 points.
    return { points: (contour.data32S as Int32Array).slice() };
  });
}

/** The part of the binding's IntelligentScissorsMB the scissors use (the typings leave it out). */
interface IntelligentScissors {
  setEdgeFeatureCannyParameters(threshold1: number, threshold2: number): IntelligentScissors;
  setGradientMagnitudeMaxLimit(limit: number): IntelligentScissors;
  applyImage(image: Mat): IntelligentScissors;
  buildMap(source: InstanceType<OpenCv['Point']>): void;
  getContour(target: InstanceType<OpenCv['Point']>, contour: Mat, backward?: boolean): void;
  delete(): void;
}

function largestComponent(cv: OpenCv, keep: <M extends { delete(): void }>(m: M) => M, binary: Mat): Uint8Array {
  const labels = keep(new cv.Mat());
  const stats = keep(new cv.Mat());
  const centroids = keep(new cv.Mat());
  const n = cv.connectedComponentsWithStats(binary, labels, stats, centroids, 8, cv.CV_32S);
  let best = 0;
  let bestArea = 0;
  for (let l = 1; l < n; l++) {
    const area = stats.intAt(l, cv.CC_STAT_AREA);
    if (area > bestArea) {
      best = l;
      bestArea = area;
    }
  }
  const out = new Uint8Array(binary.rows * binary.cols);
  if (best === 0) return out;
  const lab = labels.data32S as Int32Array;
  for (let i = 0; i < out.length; i++) out[i] = lab[i] === best ? 1 : 0;
  return out;
}

export interface WatershedOptions {
  /** Grey level 0-255; Otsu's when omitted. */
  threshold?: number;
  split: boolean;
  minArea: number;
  fillHoles: boolean;
  /** Side of the neighbourhood a distance maximum must dominate to seed an instance (pixels). */
  peakWindow?: number;
  /** Distance (pixels) below which a maximum seeds nothing: specks and thin bridges. */
  minPeak?: number;
  /** Gaussian blur of the distance before its maxima are found (kernel side, odd; 1 for none). */
  blur?: number;
  /** How far below its neighbourhood's maximum distance a pixel may lie and still belong to a marker. */
  depth?: number;
  /** Gaussian blur of the grey image before the threshold (kernel side, odd; 1 for none). */
  smooth?: number;
  /**
   * Which side of the threshold is foreground: 'auto' (default) the side covering less of the
   * image; 'bright' the pixels above it, however much of the image they cover (a mask or a
   * probability map).
   */
  foreground?: 'auto' | 'bright';
}

/**
 * Blobs of a thresholded grey image as instances. The grey image is the RGB pixels' luma,
 * smoothed by a 5x5 Gaussian against pixel noise; the threshold (Otsu's unless given) splits it in two, and the side that covers less of the image is
 * the foreground (bright nuclei on a dark field, dark cells on a bright one). Holes may be filled
 * (outer contours drawn filled). Without `split`, each 8-connected component is an instance.
 * With it, touching blobs are separated by a marker-based watershed (cv.watershed) seeded at the
 * distance transform's regional maxima (after a small blur, within 2 px of the highest distance
 * in a neighbourhood the size of the typical blob), so a dumbbell of two nuclei gets two seeds.
 * Instances under `minArea` pixels are dropped; labels are renumbered 1..count.
 */
export function watershed(cv: OpenCv, px: Pixels, o: WatershedOptions): LabelsOut {
  const { width: w, height: h } = px;
  return withMats((keep) => {
    let grey = keep(matOf(cv, px));
    if (px.channels === 3) {
      const g = keep(new cv.Mat());
      cv.cvtColor(grey, g, cv.COLOR_RGB2GRAY);
      grey = g;
    }
    const smoothing = o.smooth ?? SMOOTH;
    if (smoothing > 1) {
      const g = keep(new cv.Mat());
      cv.GaussianBlur(grey, g, new cv.Size(smoothing, smoothing), 0);
      grey = g;
    }
    const bin = keep(new cv.Mat());
    const threshold = o.threshold ?? cv.threshold(grey, bin, 0, 255, cv.THRESH_BINARY | cv.THRESH_OTSU);
    if (o.threshold !== undefined) cv.threshold(grey, bin, o.threshold, 255, cv.THRESH_BINARY);
    if ((o.foreground ?? 'auto') === 'auto' && cv.countNonZero(bin) * 2 > w * h) cv.bitwise_not(bin, bin);
    if (o.fillHoles) {
      const contours = keep(new cv.MatVector());
      const hierarchy = keep(new cv.Mat());
      cv.findContours(bin, contours, hierarchy, cv.RETR_EXTERNAL, cv.CHAIN_APPROX_SIMPLE);
      cv.drawContours(bin, contours, -1, new cv.Scalar(255), cv.FILLED);
    }
    const labels = keep(new cv.Mat());
    let count: number;
    if (!o.split) {
      count = cv.connectedComponents(bin, labels, 8, cv.CV_32S) - 1;
    } else {
      count = splitTouching(cv, keep, bin, grey, labels, o);
    }
    const out = relabel(labels.data32S as Int32Array, count, o.minArea);
    return { labels: out.labels, count: out.count, width: w, height: h, threshold };
  });
}

/**
 * Marker-based watershed of the foreground, seeded at the distance transform's regional maxima;
 * writes CV_32S labels (0 background, 1..n) and returns n.
 */
function splitTouching(cv: OpenCv, keep: <M extends { delete(): void }>(m: M) => M, bin: Mat, grey: Mat, labels: Mat, o: WatershedOptions): number {
  const dist = keep(new cv.Mat());
  cv.distanceTransform(bin, dist, cv.DIST_L2, 5);
  const w = bin.cols;
  const h = bin.rows;
  const peakWindow = o.peakWindow ?? blobWindow(cv, keep, bin, dist, o.minArea);
  const minPeak = o.minPeak ?? MIN_PEAK;
  const blur = o.blur ?? BLUR;
  const depth = o.depth ?? DEPTH;
  // A small blur keeps one maximum per blob where a ridge of the distance is flat or jagged.
  const smooth = keep(new cv.Mat());
  if (blur > 1) cv.GaussianBlur(dist, smooth, new cv.Size(blur, blur), 0);
  else dist.copyTo(smooth);
  const dilated = keep(new cv.Mat());
  const kernel = keep(cv.getStructuringElement(cv.MORPH_ELLIPSE, new cv.Size(peakWindow, peakWindow)));
  cv.dilate(smooth, dilated, kernel);
  const peaks = keep(cv.Mat.zeros(h, w, cv.CV_8UC1));
  const s = smooth.data32F as Float32Array;
  const d = dilated.data32F as Float32Array;
  const p = peaks.data as Uint8Array;
  const fg = bin.data as Uint8Array;
  for (let i = 0; i < w * h; i++) if (fg[i] && s[i]! >= d[i]! - depth && s[i]! >= minPeak) p[i] = 255;
  const markers = keep(new cv.Mat());
  const n = cv.connectedComponents(peaks, markers, 8, cv.CV_32S) - 1;
  // Markers: 1 for the background, 2.. for the peaks, 0 (unknown) for the rest of the foreground.
  // Views into the heap are taken again after every OpenCV call: a call may grow the heap,
  // which leaves earlier views on the old memory.
  let mk = markers.data32S as Int32Array;
  let inFg = bin.data as Uint8Array;
  for (let i = 0; i < w * h; i++) mk[i] = inFg[i] ? (mk[i]! > 0 ? mk[i]! + 1 : 0) : 1;
  // cv.watershed grows the markers in the order of the colour differences it meets (Meyer's
  // flooding), so it is given the smoothed grey image itself, as RGB: the fronts of touching
  // nuclei meet along the darker seam between them. (A distance map has the same small step
  // everywhere and would let one front run along the ridge into its neighbour.)
  const relief3 = keep(new cv.Mat());
  cv.cvtColor(grey, relief3, cv.COLOR_GRAY2RGB);
  cv.watershed(relief3, markers);
  mk = markers.data32S as Int32Array;
  inFg = bin.data as Uint8Array;
  // Ridge pixels (-1) between instances join the neighbour they touch first in scan order, so
  // instances keep their full extent; background (1) becomes 0.
  const out = new Int32Array(w * h);
  for (let i = 0; i < w * h; i++) {
    const v = mk[i]!;
    if (v >= 2) out[i] = v - 1;
    else if (v === -1 && inFg[i]) out[i] = ridgeNeighbour(mk, i, w, h);
  }
  labels.create(h, w, cv.CV_32S);
  (labels.data32S as Int32Array).set(out);
  return n;
}

/**
 * The neighbourhood a distance maximum must dominate to seed an instance: the typical blob's
 * diameter, i.e. twice the median over the foreground's components of their largest distance
 * (their inscribed radius), so one round blob gets one seed and two touching ones get two.
 */
function blobWindow(cv: OpenCv, keep: <M extends { delete(): void }>(m: M) => M, bin: Mat, dist: Mat, minArea: number): number {
  const labels = keep(new cv.Mat());
  const n = cv.connectedComponents(bin, labels, 8, cv.CV_32S);
  const radius = new Float32Array(n);
  const area = new Int32Array(n);
  const lab = labels.data32S as Int32Array;
  const d = dist.data32F as Float32Array;
  for (let i = 0; i < lab.length; i++) {
    const l = lab[i]!;
    area[l] = area[l]! + 1;
    if (d[i]! > radius[l]!) radius[l] = d[i]!;
  }
  // Specks under the smallest instance kept do not count.
  const radii: number[] = [];
  for (let l = 1; l < n; l++) if (area[l]! >= Math.max(1, minArea)) radii.push(radius[l]!);
  if (radii.length === 0) return 3;
  radii.sort((a, b) => a - b);
  return 2 * Math.max(1, Math.round(radii[Math.floor((radii.length - 1) / 2)]!)) + 1;
}
/** Distance (pixels) below which a maximum seeds nothing: specks and thin bridges. */
const MIN_PEAK = 2;
const BLUR = 5;
const DEPTH = 2;
const SMOOTH = 5;

function ridgeNeighbour(mk: Int32Array, i: number, w: number, h: number): number {
  const x = i % w;
  const y = (i - x) / w;
  for (const [dx, dy] of [[1, 0], [-1, 0], [0, 1], [0, -1]] as const) {
    const nx = x + dx;
    const ny = y + dy;
    if (nx < 0 || ny < 0 || nx >= w || ny >= h) continue;
    const v = mk[ny * w + nx]!;
    if (v >= 2) return v - 1;
  }
  return 0;
}

/** Drops labels under `minArea` pixels and renumbers the rest 1..count in order of first pixel. */
function relabel(labels: Int32Array, count: number, minArea: number): { labels: Int32Array; count: number } {
  const area = new Int32Array(count + 1);
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i]!;
    if (l > 0) area[l] = area[l]! + 1;
  }
  const map = new Int32Array(count + 1);
  let next = 0;
  const out = new Int32Array(labels.length);
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i]!;
    if (l <= 0) continue;
    if (map[l] === 0) map[l] = area[l]! >= Math.max(1, minArea) ? ++next : -1;
    const m = map[l]!;
    if (m > 0) out[i] = m;
  }
  return { labels: out, count: next };
}
