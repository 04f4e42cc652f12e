import { AppError } from '../errors';
import { makeCandidates, pushCandidate, type Candidates } from './nms';
import type { Dims, ModelManifest, OutputTensor } from './types';

/**
 * Decoders turn raw model outputs into candidate boxes in network-input pixels, one per family.
 * Every shape is checked against the manifest first: a model whose output does not fit the
 * chosen family, or whose class count differs from the manifest's, is an error naming the file,
 * the expected and the actual shapes, never a silent run with zero detections.
 */

export const fmtDims = (d: Dims): string => `[${d.join(', ')}]`;

// One reused result object: argmax runs once per candidate (thousands per image), so it allocates nothing.
const argmaxResult = { value: 0, index: 0 };

/** The largest of `count` values starting at `start`, `step` apart, and its position among them. */
function argmax(d: ArrayLike<number>, start: number, count: number, step: number): { value: number; index: number } {
  let best = -Infinity;
  let index = 0;
  for (let k = 0, p = start; k < count; k++, p += step) {
    const v = d[p]!;
    if (v > best) {
      best = v;
      index = k;
    }
  }
  argmaxResult.value = best;
  argmaxResult.index = index;
  return argmaxResult;
}

/**
 * For rows laid out x, y, w, h, objectness, class scores (yolov5, yolox): the best class of the
 * row at `base` and its score, objectness times that class's score; null when either is below
 * `threshold`. The result is argmax's reused object, so read it before the next call.
 */
function objectnessClass(d: ArrayLike<number>, base: number, nc: number, threshold: number): { value: number; index: number } | null {
  const obj = d[base + 4]!;
  if (obj < threshold) return null;
  const best = argmax(d, base + 5, nc, 1);
  best.value *= obj;
  return best.value < threshold ? null : best;
}

/** Adds a candidate given by its centre and size. */
function pushCentred(c: Candidates, cx: number, cy: number, w: number, h: number, score: number, cls: number, row: number): void {
  pushCandidate(c, cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, score, cls, row);
}

/** The error every mismatch between a model and its manifest raises. */
export function modelMismatch(file: string, what: string, expected: string, actual: string, hint?: string): AppError {
  return new AppError(
    'INVALID_ARGUMENT',
    `${file}: ${what}: expected ${expected}, got ${actual}${hint ? ` (${hint})` : ''}`,
    { file, expected, actual },
  );
}

/** Reads mask coefficient `k` of output row `row`. */
export type CoefficientReader = (row: number, k: number) => number;

export interface Decoded {
  candidates: Candidates;
  /** Whether the family's output is final (already suppressed), so NMS must not run again. */
  final: boolean;
  /** Present for segmentation: prototypes [1, nm, h, w] and the coefficients of each row. */
  masks?: { protos: OutputTensor; nm: number; coefficient: CoefficientReader };
}

export interface DecodeOptions {
  file: string;
  /** Network input [height, width] actually used for this run. */
  inputSize: [number, number];
  scoreThreshold: number;
}

function rank3(o: OutputTensor, file: string, family: string): [number, number] {
  if (o.dims.length !== 3 || o.dims[0] !== 1) {
    throw modelMismatch(file, `output "${o.name}" does not fit the ${family} family`, '[1, a, b]', fmtDims(o.dims));
  }
  return [o.dims[1]!, o.dims[2]!];
}

/**
 * Segmentation prototypes: the one rank-4 output. A segmentation model run with a detect
 * manifest still has mask coefficients in its rows, so `nm` counts them either way; only a
 * segment manifest builds masks.
 */
function findProtos(outputs: readonly OutputTensor[], m: ModelManifest, file: string): { protos: OutputTensor | undefined; nm: number } {
  const protos = outputs.find((o) => o.dims.length === 4);
  if (m.task === 'segment' && !protos) {
    throw modelMismatch(file, 'a segmentation manifest needs a prototype output', '[1, nm, h, w]', outputs.map((o) => `${o.name} ${fmtDims(o.dims)}`).join(', '));
  }
  return { protos: m.task === 'segment' ? protos : undefined, nm: protos ? protos.dims[1]! : 0 };
}

function prediction(outputs: readonly OutputTensor[], file: string): OutputTensor {
  const p = outputs.find((o) => o.dims.length === 3);
  if (!p) throw modelMismatch(file, 'no output holds predictions', 'an output [1, a, b]', outputs.map((o) => `${o.name} ${fmtDims(o.dims)}`).join(', '));
  return p;
}

/** Hint for the most common mistake: the other of the two big layouts. */
function layoutHint(a: number, b: number, nc: number): string | undefined {
  if (b === 5 + nc && a > b) return 'rows with objectness: a yolov5 or yolox model?';
  if (a === 4 + nc && b > a) return 'channels-first without objectness: an ultralytics model?';
  if (b === 6) return 'six columns: an end2end model?';
  return undefined;
}

function decodeUltralytics(outputs: readonly OutputTensor[], m: ModelManifest, o: DecodeOptions): Decoded {
  const pred = prediction(outputs, o.file);
  const { protos, nm } = findProtos(outputs, m, o.file);
  const nc = m.classes.length;
  const [ch, n] = rank3(pred, o.file, 'ultralytics');
  if (ch !== 4 + nc + nm) {
    const hint = layoutHint(ch, n, nc) ?? (ch > 4 + nm && ch < n ? `the output holds ${ch - 4 - nm} classes, the manifest lists ${nc}` : undefined);
    throw modelMismatch(o.file, `output "${pred.name}" does not fit an ultralytics ${m.task} head with ${nc} classes${nm ? ` and ${nm} mask coefficients` : ''}`, `[1, ${4 + nc + nm}, N]`, fmtDims(pred.dims), hint);
  }
  const d = pred.data;
  const c = makeCandidates(256);
  for (let j = 0; j < n; j++) {
    const { value: best, index: cls } = argmax(d, 4 * n + j, nc, n);
    if (best < o.scoreThreshold) continue;
    pushCentred(c, d[j]!, d[n + j]!, d[2 * n + j]!, d[3 * n + j]!, best, cls, j);
  }
  return {
    candidates: c,
    final: false,
    ...(protos ? { masks: { protos, nm, coefficient: (row: number, k: number) => d[(4 + nc + k) * n + row]! } } : {}),
  };
}

function decodeYolov5(outputs: readonly OutputTensor[], m: ModelManifest, o: DecodeOptions): Decoded {
  const pred = prediction(outputs, o.file);
  const { protos, nm } = findProtos(outputs, m, o.file);
  const nc = m.classes.length;
  const [n, w5] = rank3(pred, o.file, 'yolov5');
  if (w5 !== 5 + nc + nm) {
    const hint = layoutHint(n, w5, nc) ?? (w5 > 5 + nm && n > w5 ? `the output holds ${w5 - 5 - nm} classes, the manifest lists ${nc}` : undefined);
    throw modelMismatch(o.file, `output "${pred.name}" does not fit a yolov5 ${m.task} head with ${nc} classes${nm ? ` and ${nm} mask coefficients` : ''}`, `[1, N, ${5 + nc + nm}]`, fmtDims(pred.dims), hint);
  }
  const d = pred.data;
  const c = makeCandidates(256);
  for (let j = 0; j < n; j++) {
    const base = j * w5;
    const hit = objectnessClass(d, base, nc, o.scoreThreshold);
    if (!hit) continue;
    pushCentred(c, d[base]!, d[base + 1]!, d[base + 2]!, d[base + 3]!, hit.value, hit.index, j);
  }
  return {
    candidates: c,
    final: false,
    ...(protos ? { masks: { protos, nm, coefficient: (row: number, k: number) => d[row * w5 + 5 + nc + k]! } } : {}),
  };
}

/** Number of grid cells a yolox head has for an input size: one prediction per cell per stride. */
export function yoloxAnchorCount(inputSize: [number, number], strides: readonly number[]): number {
  return strides.reduce((sum, s) => sum + Math.floor(inputSize[0] / s) * Math.floor(inputSize[1] / s), 0);
}

function decodeYolox(outputs: readonly OutputTensor[], m: ModelManifest, o: DecodeOptions): Decoded {
  const pred = prediction(outputs, o.file);
  const nc = m.classes.length;
  const strides = m.strides ?? [8, 16, 32];
  const [n, w5] = rank3(pred, o.file, 'yolox');
  const anchors = yoloxAnchorCount(o.inputSize, strides);
  if (w5 !== 5 + nc || n !== anchors) {
    throw modelMismatch(
      o.file,
      `output "${pred.name}" does not fit a yolox head with ${nc} classes at input ${o.inputSize[1]}x${o.inputSize[0]} (strides ${strides.join('/')})`,
      `[1, ${anchors}, ${5 + nc}]`,
      fmtDims(pred.dims),
      layoutHint(n, w5, nc),
    );
  }
  const d = pred.data;
  const c = makeCandidates(256);
  let j = 0;
  for (const s of strides) {
    const gh = Math.floor(o.inputSize[0] / s);
    const gw = Math.floor(o.inputSize[1] / s);
    for (let gy = 0; gy < gh; gy++) {
      for (let gx = 0; gx < gw; gx++, j++) {
        const base = j * w5;
        const hit = objectnessClass(d, base, nc, o.scoreThreshold);
        if (!hit) continue;
        const cx = (d[base]! + gx) * s;
        const cy = (d[base + 1]! + gy) * s;
        pushCentred(c, cx, cy, Math.exp(d[base + 2]!) * s, Math.exp(d[base + 3]!) * s, hit.value, hit.index, j);
      }
    }
  }
  return { candidates: c, final: false };
}

function decodeEnd2end(outputs: readonly OutputTensor[], m: ModelManifest, o: DecodeOptions): Decoded {
  const pred = prediction(outputs, o.file);
  const { protos, nm } = findProtos(outputs, m, o.file);
  const [n, w6] = rank3(pred, o.file, 'end2end');
  if (w6 !== 6 + nm) {
    throw modelMismatch(o.file, `output "${pred.name}" does not fit an end2end head (x1, y1, x2, y2, score, class${nm ? `, ${nm} mask coefficients` : ''})`, `[1, N, ${6 + nm}]`, fmtDims(pred.dims), layoutHint(n, w6, m.classes.length));
  }
  const d = pred.data;
  const nc = m.classes.length;
  const c = makeCandidates(64);
  for (let j = 0; j < n; j++) {
    const base = j * w6;
    const score = d[base + 4]!;
    if (score < o.scoreThreshold) continue;
    const cls = Math.round(d[base + 5]!);
    if (cls < 0 || cls >= nc) {
      throw modelMismatch(o.file, `output "${pred.name}" row ${j} has class ${cls}, outside the manifest's ${nc} classes`, `a class in 0..${nc - 1}`, String(cls));
    }
    pushCandidate(c, d[base]!, d[base + 1]!, d[base + 2]!, d[base + 3]!, score, cls, j);
  }
  return {
    candidates: c,
    final: true,
    ...(protos ? { masks: { protos, nm, coefficient: (row: number, k: number) => d[row * w6 + 6 + k]! } } : {}),
  };
}

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

/**
 * RT-DETR comes in two exports: Ultralytics' single output [1, N, 4+nc] whose scores are already
 * sigmoid probabilities, and the reference two-output form (boxes [1, N, 4], logits [1, N, nc]).
 * Boxes are normalised cx, cy, w, h in both.
 */
function decodeRtdetr(outputs: readonly OutputTensor[], m: ModelManifest, o: DecodeOptions): Decoded {
  const nc = m.classes.length;
  const rank3s = outputs.filter((t) => t.dims.length === 3);
  let boxes: { data: Float32Array; stride: number; offset: number };
  let scores: { data: Float32Array; stride: number; offset: number; logits: boolean };
  let n: number;
  const actual = rank3s.map((t) => `${t.name} ${fmtDims(t.dims)}`).join(', ') || outputs.map((t) => `${t.name} ${fmtDims(t.dims)}`).join(', ');
  if (rank3s.length === 1) {
    const [a, b] = rank3(rank3s[0]!, o.file, 'rtdetr');
    if (b !== 4 + nc) throw modelMismatch(o.file, `output "${rank3s[0]!.name}" does not fit an rtdetr head with ${nc} classes`, `[1, N, ${4 + nc}]`, fmtDims(rank3s[0]!.dims), layoutHint(a, b, nc));
    n = a;
    boxes = { data: rank3s[0]!.data, stride: b, offset: 0 };
    scores = { data: rank3s[0]!.data, stride: b, offset: 4, logits: false };
  } else {
    const bt = rank3s.find((t) => t.dims[2] === 4 && /box/i.test(t.name)) ?? rank3s.find((t) => t.dims[2] === 4);
    const st = rank3s.find((t) => t !== bt && t.dims[2] === nc);
    if (!bt || !st || bt.dims[1] !== st.dims[1]) {
      throw modelMismatch(o.file, `outputs do not fit an rtdetr head with ${nc} classes`, `boxes [1, N, 4] and logits [1, N, ${nc}]`, actual);
    }
    n = bt.dims[1]!;
    boxes = { data: bt.data, stride: 4, offset: 0 };
    scores = { data: st.data, stride: nc, offset: 0, logits: true };
  }
  const [ih, iw] = o.inputSize;
  const c = makeCandidates(64);
  for (let j = 0; j < n; j++) {
    const { value: best, index: cls } = argmax(scores.data, j * scores.stride + scores.offset, nc, 1);
    const score = scores.logits ? sigmoid(best) : best;
    if (score < o.scoreThreshold) continue;
    const bb = j * boxes.stride + boxes.offset;
    pushCentred(c, boxes.data[bb]! * iw, boxes.data[bb + 1]! * ih, boxes.data[bb + 2]! * iw, boxes.data[bb + 3]! * ih, score, cls, j);
  }
  return { candidates: c, final: true };
}

export function decode(outputs: readonly OutputTensor[], m: ModelManifest, o: DecodeOptions): Decoded {
  if (m.task !== 'detect' && m.task !== 'segment') {
    throw new AppError('UNSUPPORTED', `${o.file}: task "${m.task}" has no box decoder; only detect and segment models run here`, { file: o.file });
  }
  if (m.task === 'segment' && (m.family === 'yolox' || m.family === 'rtdetr')) {
    throw new AppError('UNSUPPORTED', `${o.file}: the ${m.family} family has no segmentation head; use ultralytics, yolov5 or end2end`, { file: o.file });
  }
  switch (m.family) {
    case 'ultralytics':
      return decodeUltralytics(outputs, m, o);
    case 'yolov5':
      return decodeYolov5(outputs, m, o);
    case 'yolox':
      return decodeYolox(outputs, m, o);
    case 'end2end':
      return decodeEnd2end(outputs, m, o);
    case 'rtdetr':
      return decodeRtdetr(outputs, m, o);
    case undefined:
      throw new AppError('INVALID_ARGUMENT', `${o.file}: a ${m.task} model needs a decoder family in its manifest`, { file: o.file });
  }
}

/**
 * The network input size a manifest asks for, checked against the model's declared input
 * dims [1, 3, H, W]: a fixed-size model given another size fails here, before any run.
 */
export function resolveInputSize(m: ModelManifest, inputDims: Dims, file: string, inputName: string): [number, number] {
  if (inputDims.length !== 4 || (typeof inputDims[1] === 'number' && inputDims[1] !== 3)) {
    throw modelMismatch(file, `input "${inputName}" is not an image batch`, '[1, 3, H, W]', fmtDims(inputDims));
  }
  const want: [number, number] = m.size === 'dynamic' ? (m.defaultSize ?? [640, 640]) : m.size;
  const [mh, mw] = [inputDims[2], inputDims[3]];
  if ((typeof mh === 'number' && mh !== want[0]) || (typeof mw === 'number' && mw !== want[1])) {
    throw modelMismatch(file, `input "${inputName}" size differs from the manifest's ${want[1]}x${want[0]} (size is [height, width])`, `[1, 3, ${want[0]}, ${want[1]}]`, fmtDims(inputDims));
  }
  return want;
}
