import { encodeMask } from '../geometry';
import { AppError } from '../errors';
import { alreadyProbabilities } from './classify';
import { fmtDims, modelMismatch } from './decode';
import type { LetterboxGeometry } from './letterbox';
import { placeMask, type Tile } from './tiling';
import type { Detection, Dims, ModelManifest, OutputTensor } from './types';

/**
 * Semantic segmentation (task `semantic`): a class score per pixel. The scores are upsampled to
 * the image bilinearly (the logits, before the activation; pixel centres, align_corners=false),
 * then each pixel takes its best class (softmax: argmax; sigmoid: the class whose probability is
 * above 0.5). What travels between the inference worker and the services is the per-pixel class
 * and its probability at the size of the image (or of a tile), so tiles can be stitched before
 * masks and instances are made.
 */

/** No class at this pixel (sigmoid below 0.5). */
export const NO_CLASS = 0xffff;

/** Per-pixel best class and its probability, row-major, at image (or tile) resolution. */
export interface SemanticMaps {
  width: number;
  height: number;
  /** Class index per pixel, NO_CLASS where none. */
  labels: Uint16Array;
  /** Probability of that class, 0..255 (probability x 255, rounded). */
  prob: Uint8Array;
}

/** Per-channel statistics of an image's 8-bit samples for `normalize: 'zscore'` (see modelInputTensor). */
export interface ZscoreStats {
  /** Mean and standard deviation of channels R, G, B (a grey image: the same three). */
  channels: { mean: number; std: number }[];
  /** Of the channels' average, which a one-channel model sees. */
  grey: { mean: number; std: number };
}

/** The input of a semantic model: layout, channels and size from its declared dims. */
export interface SemanticInput {
  layout: 'nchw' | 'nhwc';
  channels: 1 | 3;
  size: [number, number];
}

/**
 * The input a semantic model declares, checked against its manifest: [1, C, H, W] (nchw) or
 * [1, H, W, C] (nhwc) with C 1 or 3, and H, W the manifest's size where they are fixed.
 */
export function resolveSemanticInput(m: ModelManifest, dims: Dims, file: string, inputName: string): SemanticInput {
  const layout = m.layout ?? 'nchw';
  const c = dims.length === 4 ? (layout === 'nhwc' ? dims[3] : dims[1]) : undefined;
  const expected = layout === 'nhwc' ? '[1, H, W, 1 or 3] (layout "nhwc")' : '[1, 1 or 3, H, W] (layout "nchw")';
  if (dims.length !== 4 || (typeof c === 'number' && c !== 1 && c !== 3)) {
    const other = dims.length === 4 && (layout === 'nhwc' ? dims[1] === 3 || dims[1] === 1 : dims[3] === 3 || dims[3] === 1);
    throw modelMismatch(file, `input "${inputName}" is not an image batch`, expected, fmtDims(dims), other ? `set "layout": "${layout === 'nhwc' ? 'nchw' : 'nhwc'}"` : undefined);
  }
  const want: [number, number] = m.size === 'dynamic' ? (m.defaultSize ?? [512, 512]) : m.size;
  const [h, w] = layout === 'nhwc' ? [dims[1], dims[2]] : [dims[2], dims[3]];
  if ((typeof h === 'number' && h !== want[0]) || (typeof w === 'number' && w !== want[1])) {
    throw modelMismatch(file, `input "${inputName}" size differs from the manifest's ${want[1]}x${want[0]} (size is [height, width])`, layout === 'nhwc' ? `[1, ${want[0]}, ${want[1]}, C]` : `[1, C, ${want[0]}, ${want[1]}]`, fmtDims(dims));
  }
  return { layout, channels: c === 1 ? 1 : 3, size: want };
}

/**
 * The model input from the preprocessed NCHW RGB planes (already scaled and mean/std-normalised
 * as the manifest says): one channel is the planes' average; `normalize: 'zscore'` makes each
 * channel zero-mean, unit-variance over the image (the letterboxed area, not the padding), with
 * the whole image's statistics when given (tiles of one image then share them, so no seam
 * comes from normalising each tile on its own); nhwc interleaves the channels.
 */
export function modelInputTensor(planes: Float32Array, g: LetterboxGeometry, m: ModelManifest, input: SemanticInput, stats?: ZscoreStats): Float32Array {
  const plane = g.dstW * g.dstH;
  const C = input.channels;
  let chw: Float32Array;
  if (C === 1) {
    chw = new Float32Array(plane);
    for (let i = 0; i < plane; i++) chw[i] = (planes[i]! + planes[plane + i]! + planes[2 * plane + i]!) / 3;
  } else {
    chw = planes;
  }
  if (m.normalize === 'zscore') {
    const std = m.std ?? [1, 1, 1];
    const mean = m.mean ?? [0, 0, 0];
    for (let c = 0; c < C; c++) {
      let mu: number, sd: number;
      if (stats) {
        // Byte statistics in tensor units: the tensor is byte * a + b for each channel.
        const a = C === 1 ? m.scale / ((std[0]! + std[1]! + std[2]!) / 3) : m.scale / std[c]!;
        const b = C === 1 ? -(mean[0]! / std[0]! + mean[1]! / std[1]! + mean[2]! / std[2]!) / 3 : -mean[c]! / std[c]!;
        const s = C === 1 ? stats.grey : stats.channels[c]!;
        mu = s.mean * a + b;
        sd = s.std * Math.abs(a);
      } else {
        let sum = 0, sq = 0, n = 0;
        for (let y = g.padTop; y < g.padTop + g.newH; y++) {
          for (let x = g.padLeft, i = c * plane + y * g.dstW + x; x < g.padLeft + g.newW; x++, i++) {
            const v = chw[i]!;
            sum += v;
            sq += v * v;
            n++;
          }
        }
        mu = sum / n;
        sd = Math.sqrt(Math.max(0, sq / n - mu * mu));
      }
      const k = sd > 1e-6 ? 1 / sd : 1;
      for (let i = c * plane; i < (c + 1) * plane; i++) chw[i] = (chw[i]! - mu) * k;
    }
  }
  if (input.layout === 'nchw') return chw;
  const hwc = new Float32Array(plane * C);
  for (let c = 0; c < C; c++) for (let i = 0; i < plane; i++) hwc[i * C + c] = chw[c * plane + i]!;
  return hwc;
}

/** Per-channel and grey statistics of interleaved 8-bit samples (alpha, if any, left out). */
export function zscoreStats(data: Uint8Array, channels: number): ZscoreStats {
  const colour = channels === 4 ? 3 : channels === 2 ? 1 : channels;
  const n = data.length / channels;
  const sum = [0, 0, 0], sq = [0, 0, 0];
  let gs = 0, gq = 0;
  for (let p = 0, i = 0; p < n; p++, i += channels) {
    let g = 0;
    for (let c = 0; c < 3; c++) {
      const v = data[i + (colour === 1 ? 0 : c)]!;
      sum[c]! += v;
      sq[c]! += v * v;
      g += v;
    }
    g /= 3;
    gs += g;
    gq += g * g;
  }
  const ms = (s: number, q: number) => {
    const mean = s / Math.max(1, n);
    return { mean, std: Math.sqrt(Math.max(0, q / Math.max(1, n) - mean * mean)) };
  };
  return { channels: [0, 1, 2].map((c) => ms(sum[c]!, sq[c]!)), grey: ms(gs, gq) };
}

/** Where the class scores sit in an output: [1, C, h, w] or [1, h, w, C]. */
function scoreLayout(o: OutputTensor, m: ModelManifest, file: string): { nhwc: boolean; h: number; w: number; c: number } {
  const nc = m.classes.length;
  const d = o.dims;
  const nhwc = (m.layout ?? 'nchw') === 'nhwc';
  if (d.length === 4 && d[0] === 1) {
    if (!nhwc && d[1] === nc) return { nhwc: false, h: d[2]!, w: d[3]!, c: nc };
    if (nhwc && d[3] === nc) return { nhwc: true, h: d[1]!, w: d[2]!, c: nc };
  }
  const hint =
    d.length === 4 && (nhwc ? d[1] === nc : d[3] === nc)
      ? `the scores are ${nhwc ? 'channels-first' : 'channels-last'}: set "layout": "${nhwc ? 'nchw' : 'nhwc'}"`
      : d.length === 4
        ? `the output holds ${nhwc ? d[3] : d[1]} classes, the manifest lists ${nc}`
        : undefined;
  throw modelMismatch(file, `output "${o.name}" does not fit a semantic segmentation model with ${nc} classes`, nhwc ? `[1, h, w, ${nc}]` : `[1, ${nc}, h, w]`, fmtDims(d), hint);
}

/** The output a semantic manifest reads: `output` by name, else the first. */
export function semanticOutput(outputs: readonly OutputTensor[], m: ModelManifest, file: string): OutputTensor {
  const o = m.output ? outputs.find((t) => t.name === m.output) : outputs[0];
  if (!o) throw modelMismatch(file, 'the manifest names an output the model does not have', `output "${m.output}"`, outputs.map((t) => t.name).join(', '));
  return o;
}

/**
 * Class scores to per-pixel classes at the size of the region the input was made from
 * (`g.srcW` x `g.srcH`): each region pixel's centre is mapped through the letterbox into the
 * output grid, its scores interpolated bilinearly (edges clamped), then the activation applied.
 * Activation: the manifest's, else softmax for several classes and sigmoid for one.
 */
export function semanticMaps(outputs: readonly OutputTensor[], m: ModelManifest, g: LetterboxGeometry, file: string): SemanticMaps {
  const o = semanticOutput(outputs, m, file);
  const { nhwc, h: oh, w: ow, c: C } = scoreLayout(o, m, file);
  const act = m.activation ?? (C === 1 ? 'sigmoid' : 'softmax');
  const already = alreadyProbabilities(o.data, C, oh * ow, act, nhwc);
  if (already) throw new AppError('INVALID_ARGUMENT', `${file}: output "${o.name}": ${already}`, { file, output: o.name, activation: act });
  const W = g.srcW, H = g.srcH;
  const kx = ow / g.dstW, ky = oh / g.dstH;
  const clampTo = (v: number, max: number): number => (v < 0 ? 0 : v > max ? max : v);
  // Per column and per row: the two neighbours in the output grid and the weight of the second.
  const cx0 = new Int32Array(W), cx1 = new Int32Array(W), cwx = new Float32Array(W);
  for (let x = 0; x < W; x++) {
    const f = clampTo(((x + 0.5) * g.scaleX + g.padLeft) * kx - 0.5, ow - 1);
    const x0 = Math.floor(f);
    cx0[x] = x0;
    cx1[x] = Math.min(x0 + 1, ow - 1);
    cwx[x] = f - x0;
  }
  const labels = new Uint16Array(W * H);
  const prob = new Uint8Array(W * H);
  const d = o.data;
  const cs = nhwc ? 1 : oh * ow; // step between classes
  const ps = nhwc ? C : 1; // step between pixels
  const v = new Float32Array(C);
  for (let y = 0; y < H; y++) {
    const fy = clampTo(((y + 0.5) * g.scaleY + g.padTop) * ky - 0.5, oh - 1);
    const y0 = Math.floor(fy);
    const y1 = Math.min(y0 + 1, oh - 1);
    const wy = fy - y0;
    for (let x = 0, i = y * W; x < W; x++, i++) {
      const wx = cwx[x]!;
      const a = (y0 * ow + cx0[x]!) * ps, b = (y0 * ow + cx1[x]!) * ps;
      const c = (y1 * ow + cx0[x]!) * ps, e = (y1 * ow + cx1[x]!) * ps;
      const w00 = (1 - wx) * (1 - wy), w01 = wx * (1 - wy), w10 = (1 - wx) * wy, w11 = wx * wy;
      let best = -Infinity, bi = 0;
      for (let k = 0, off = 0; k < C; k++, off += cs) {
        const s = d[a + off]! * w00 + d[b + off]! * w01 + d[c + off]! * w10 + d[e + off]! * w11;
        v[k] = s;
        if (s > best) {
          best = s;
          bi = k;
        }
      }
      let p: number;
      if (act === 'softmax') {
        let sum = 0;
        for (let k = 0; k < C; k++) sum += Math.exp(v[k]! - best);
        p = 1 / sum;
      } else if (act === 'sigmoid') {
        p = 1 / (1 + Math.exp(-best));
      } else {
        p = best < 0 ? 0 : best > 1 ? 1 : best;
      }
      // One class, or sigmoid scores: a pixel belongs to a class only above 0.5.
      labels[i] = (C === 1 || act === 'sigmoid') && !(p > 0.5) ? NO_CLASS : bi;
      prob[i] = Math.round(p * 255);
    }
  }
  return { width: W, height: H, labels, prob };
}

/**
 * A semantic model's tile maps stitched into the image's as each arrives: along each axis a tile
 * owns the pixels up to the middle of its overlap with the neighbouring tile, where both saw the
 * most context around them. Only the image's classes and probabilities are held.
 */
export class SemanticStitch {
  private readonly labels: Uint16Array;
  private readonly prob: Uint8Array;
  private readonly cols: Map<number, [number, number]>;
  private readonly rows: Map<number, [number, number]>;

  constructor(
    private readonly width: number,
    private readonly height: number,
    tiles: readonly Tile[],
  ) {
    this.labels = new Uint16Array(width * height).fill(NO_CLASS);
    this.prob = new Uint8Array(width * height);
    this.cols = SemanticStitch.spans(tiles.map((t) => [t.x, t.w] as const), width);
    this.rows = SemanticStitch.spans(tiles.map((t) => [t.y, t.h] as const), height);
  }

  /** Start of each tile along an axis -> the [from, to) it owns. */
  private static spans(extents: readonly (readonly [number, number])[], length: number): Map<number, [number, number]> {
    const ends = new Map<number, number>();
    for (const [s, n] of extents) ends.set(s, Math.max(ends.get(s) ?? 0, s + n));
    const starts = [...ends.keys()].sort((a, b) => a - b);
    const cut = starts.map((s, i) => (i === 0 ? 0 : Math.floor((s + ends.get(starts[i - 1]!)!) / 2)));
    return new Map(starts.map((s, i) => [s, [cut[i]!, i + 1 < starts.length ? cut[i + 1]! : length]]));
  }

  add(t: Tile, maps: SemanticMaps): void {
    if (maps.width !== t.w || maps.height !== t.h) throw new RangeError(`tile maps ${maps.width}x${maps.height} do not match the ${t.w}x${t.h} tile`);
    const [x0, x1] = this.cols.get(t.x) ?? [t.x, t.x + t.w];
    const [y0, y1] = this.rows.get(t.y) ?? [t.y, t.y + t.h];
    for (let y = y0; y < y1; y++) {
      const from = (y - t.y) * t.w + (x0 - t.x);
      this.labels.set(maps.labels.subarray(from, from + x1 - x0), y * this.width + x0);
      this.prob.set(maps.prob.subarray(from, from + x1 - x0), y * this.width + x0);
    }
  }

  maps(): SemanticMaps {
    return { width: this.width, height: this.height, labels: this.labels, prob: this.prob };
  }
}

/**
 * Regions of a label image (0 none, 1..count) as detections: each region's mask (COCO RLE over
 * the whole image, encoded from its bounding box only), its box, and as score the mean
 * probability of its pixels.
 */
export function regionDetections(regions: Int32Array, count: number, width: number, height: number, prob: Uint8Array, classOf: (region: number) => number): Detection[] {
  const n = count + 1;
  const area = new Float64Array(n), psum = new Float64Array(n);
  const x0 = new Int32Array(n).fill(width), y0 = new Int32Array(n).fill(height), x1 = new Int32Array(n).fill(-1), y1 = new Int32Array(n).fill(-1);
  for (let y = 0, i = 0; y < height; y++) {
    for (let x = 0; x < width; x++, i++) {
      const r = regions[i]!;
      if (r <= 0) continue;
      area[r]!++;
      psum[r]! += prob[i]!;
      if (x < x0[r]!) x0[r] = x;
      if (x > x1[r]!) x1[r] = x;
      if (y < y0[r]!) y0[r] = y;
      if (y > y1[r]!) y1[r] = y;
    }
  }
  const out: Detection[] = [];
  for (let r = 1; r < n; r++) {
    if (area[r] === 0) continue;
    const bw = x1[r]! - x0[r]! + 1, bh = y1[r]! - y0[r]! + 1;
    const crop = new Uint8Array(bw * bh);
    for (let y = 0; y < bh; y++) {
      for (let x = 0, i = (y0[r]! + y) * width + x0[r]!; x < bw; x++, i++) if (regions[i] === r) crop[y * bw + x] = 1;
    }
    const mask = placeMask(encodeMask(crop, bw, bh), x0[r]!, y0[r]!, height, width);
    out.push({ classIndex: classOf(r), score: psum[r]! / area[r]! / 255, box: { x: x0[r]!, y: y0[r]!, w: bw, h: bh }, mask: { size: mask.size, counts: mask.counts } });
  }
  return out;
}

/** The classes that store masks: all but the manifest's `background`. */
function stores(m: ModelManifest, k: number): boolean {
  return k !== NO_CLASS && k < m.classes.length && k !== m.background;
}

/** One mask per class present (the background class left out). */
export function classMasks(maps: SemanticMaps, m: ModelManifest): Detection[] {
  const regions = new Int32Array(maps.labels.length);
  for (let i = 0; i < regions.length; i++) {
    const k = maps.labels[i]!;
    if (stores(m, k)) regions[i] = k + 1;
  }
  return regionDetections(regions, m.classes.length, maps.width, maps.height, maps.prob, (r) => r - 1);
}

/** The classes present in the maps that store something, in index order. */
export function classesPresent(maps: SemanticMaps, m: ModelManifest): number[] {
  const seen = new Uint8Array(m.classes.length);
  for (let i = 0; i < maps.labels.length; i++) {
    const k = maps.labels[i]!;
    if (stores(m, k)) seen[k] = 1;
  }
  return [...seen.keys()].filter((k) => seen[k]);
}

/**
 * The grey image the watershed splits one class into instances from: the class's probability
 * (at least 1) on its pixels, 0 elsewhere, so that thresholding above 0 gives back exactly the
 * class's pixels and the seams between touching objects, where the model is less sure, are
 * where the flooding fronts meet.
 */
export function classRelief(maps: SemanticMaps, k: number): Uint8Array {
  const out = new Uint8Array(maps.labels.length);
  for (let i = 0; i < out.length; i++) if (maps.labels[i] === k) out[i] = Math.max(1, maps.prob[i]!);
  return out;
}
