import { z } from 'zod';
import { AppError } from '../errors';
import { COCO80 } from './coco';
import { fmtDims, yoloxAnchorCount } from './decode';
import { parseImgsz, parseUltralyticsNames } from './onnxMetadata';
import { DECODER_FAMILIES, HIGH_BIT_DEPTH_MODES, MODEL_TASKS, RESIZE_METHODS, type DecoderFamily, type ModelIo, type ModelManifest, type ModelTask } from './types';

/**
 * Tasks whose outputs are decoded by a detector family (`family` required). Classify, semantic
 * and embed models have one output tensor read as the task says; `family` is optional there and
 * not used.
 */
export const FAMILY_TASKS: ReadonlySet<ModelTask> = new Set<ModelTask>(['detect', 'segment', 'obb', 'pose']);

const size = z.tuple([z.number().int().positive(), z.number().int().positive()]);
const triple = z.tuple([z.number(), z.number(), z.number()]);

export const manifestSchema = z
  .object({
    id: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/, 'lowercase letters, digits, ".", "_" or "-"'),
    name: z.string().min(1),
    task: z.enum(MODEL_TASKS),
    family: z.enum(DECODER_FAMILIES).optional(),
    input: z.string().min(1).optional(),
    size: z.union([size, z.literal('dynamic')]),
    defaultSize: size.optional(),
    colour: z.enum(['rgb', 'bgr']),
    scale: z.number().positive(),
    mean: triple.optional(),
    std: z.tuple([z.number().positive(), z.number().positive(), z.number().positive()]).optional(),
    letterbox: z.union([z.number().min(0).max(255), z.literal('stretch')]),
    letterboxAlign: z.enum(['center', 'topleft']).optional(),
    resize: z.enum(RESIZE_METHODS).optional(),
    strides: z.array(z.number().int().positive()).min(1).optional(),
    classes: z.array(z.string().min(1)).min(1).optional(),
    thresholds: z.object({
      score: z.number().min(0).max(1),
      iou: z.number().min(0).max(1),
      maxDetections: z.number().int().positive(),
    }),
    licence: z.string().optional(),
    file: z.string().min(1).optional(),
    url: z.url({ protocol: /^https?$/ }).optional(),
    sha256: z.string().regex(/^[0-9a-f]{64}$/, '64 lowercase hex digits').optional(),
    notes: z.string().optional(),
    highBitDepth: z.enum(HIGH_BIT_DEPTH_MODES).optional(),
    window: z.object({ center: z.number(), width: z.number().positive() }).strict().optional(),
    layout: z.enum(['nchw', 'nhwc']).optional(),
    output: z.string().min(1).optional(),
    labels: z.string().min(1).optional(),
    cropFrom: z.number().int().positive().optional(),
    activation: z.enum(['softmax', 'sigmoid', 'none']).optional(),
    topK: z.number().int().positive().max(1000).optional(),
    normalize: z.literal('zscore').optional(),
    background: z.number().int().min(0).optional(),
    instances: z
      .object({ split: z.enum(['none', 'watershed']), minArea: z.number().min(0), fillHoles: z.boolean() })
      .strict()
      .optional(),
    keypoints: z
      .object({
        names: z.array(z.string().min(1)).min(1).max(200),
        skeleton: z.array(z.tuple([z.number().int().min(0), z.number().int().min(0)])),
        flipPairs: z.array(z.tuple([z.number().int().min(0), z.number().int().min(0)])).optional(),
      })
      .strict()
      .optional(),
  })
  .strict()
  .superRefine((m, ctx) => {
    if (!m.family && FAMILY_TASKS.has(m.task)) ctx.addIssue({ code: 'custom', path: ['family'], message: `required for task "${m.task}" (one of ${DECODER_FAMILIES.join(', ')})` });
    if (!m.classes && !m.labels) ctx.addIssue({ code: 'custom', path: ['classes'], message: 'a manifest needs classes or a labels file' });
    if (m.size === 'dynamic' && !m.defaultSize) ctx.addIssue({ code: 'custom', path: ['defaultSize'], message: 'required when size is "dynamic"' });
    if (m.task === 'segment' && (m.family === 'yolox' || m.family === 'rtdetr')) {
      ctx.addIssue({ code: 'custom', path: ['family'], message: `${m.family} has no segmentation head` });
    }
    if (m.strides && m.family !== 'yolox') ctx.addIssue({ code: 'custom', path: ['strides'], message: 'only yolox models use strides' });
    if (m.window && m.highBitDepth !== 'fixed') ctx.addIssue({ code: 'custom', path: ['window'], message: 'only used with highBitDepth "fixed"' });
    if (!m.file && !m.url) ctx.addIssue({ code: 'custom', path: ['file'], message: 'a manifest needs a file or a url' });
  });

/**
 * Validates a manifest, reporting every problem with its JSON path and the manifest file's
 * name, e.g. `models/x.json: thresholds.iou: Too big: expected number to be <=1`. A manifest
 * naming a `labels` file instead of `classes` comes back with `classes` empty: the caller that
 * knows where the manifest lives reads the file (services/models.ts `readManifestFile`).
 */
export function parseManifest(json: unknown, file: string): ModelManifest {
  const r = manifestSchema.safeParse(json);
  if (r.success) return { ...r.data, classes: r.data.classes ?? [] } as ModelManifest;
  const lines = r.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`);
  throw new AppError('INVALID_ARGUMENT', `${file}: invalid model manifest: ${lines.join('; ')}`, { file, issues: lines });
}

export interface Proposal {
  /** Null when the outputs fit no family; `problems` says why. */
  manifest: ModelManifest | null;
  problems: string[];
}

const num = (d: number | string | undefined): number | undefined => (typeof d === 'number' && d > 0 ? d : undefined);

/**
 * Guesses family, task, size, classes and input conventions from the input and output shapes and
 * any Ultralytics metadata. Everything it could not decide is listed in `problems`.
 */
export function proposeManifest(io: ModelIo, metadata: Record<string, string>, file = 'model.onnx'): Proposal {
  const problems: string[] = [];
  const shapes = `inputs ${io.inputs.map((t) => `${t.name} ${fmtDims(t.dims)}`).join(', ')}; outputs ${io.outputs.map((t) => `${t.name} ${fmtDims(t.dims)}`).join(', ')}`;
  const input = io.inputs[0];
  if (!input || input.dims.length !== 4 || (typeof input.dims[1] === 'number' && input.dims[1] !== 3)) {
    return { manifest: null, problems: [`${file}: the first input is not an image batch [1, 3, H, W] (${shapes})`] };
  }
  const metaNames = metadata['names'] !== undefined ? parseUltralyticsNames(metadata['names']) : null;
  if (metadata['names'] !== undefined && !metaNames) problems.push(`metadata "names" could not be read: ${metadata['names'].slice(0, 80)}`);
  const metaSize = metadata['imgsz'] !== undefined ? parseImgsz(metadata['imgsz']) : null;
  const ih = num(input.dims[2]), iw = num(input.dims[3]);
  const fixed: [number, number] | undefined = ih && iw ? [ih, iw] : undefined;
  const inputSize: [number, number] = fixed ?? metaSize ?? [640, 640];
  if (!fixed && !metaSize) problems.push(`input size is dynamic ${fmtDims(input.dims)} and the file has no "imgsz" metadata: assuming 640x640`);

  const rank3 = io.outputs.filter((o) => o.dims.length === 3);
  const rank4 = io.outputs.filter((o) => o.dims.length === 4);
  let family: DecoderFamily | undefined;
  let nc: number | undefined;
  let task: ModelTask = rank4.length > 0 ? 'segment' : 'detect';
  const nm = rank4[0] ? num(rank4[0].dims[1]) ?? 32 : 0;
  const wanted = metaNames?.length;

  if (rank3.length === 2 && rank3.some((o) => o.dims[2] === 4)) {
    const boxes = rank3.find((o) => o.dims[2] === 4)!;
    family = 'rtdetr';
    nc = num(rank3.find((o) => o !== boxes)!.dims[2]);
  } else if (rank3.length === 1) {
    const [a, b] = [rank3[0]!.dims[1], rank3[0]!.dims[2]];
    const na = num(a), nb = num(b);
    const yoloxN = yoloxAnchorCount(inputSize, [8, 16, 32]);
    if (nb === 6 + nm && na !== undefined && na > nb && na <= 1000) {
      family = 'end2end';
      nc = wanted ?? 80;
      if (wanted === undefined) problems.push('an end2end output does not say how many classes the model has: assuming 80');
    } else if (na !== undefined && (nb === undefined || na < nb)) {
      family = 'ultralytics';
      nc = na - 4 - nm;
    } else if (nb !== undefined && (na === undefined || na > nb)) {
      if (na === yoloxN && rank4.length === 0) {
        family = 'yolox';
        nc = nb - 5;
      } else if (na === 3 * yoloxN || na === undefined) {
        family = 'yolov5';
        nc = nb - 5 - nm;
      } else if (wanted !== undefined && nb === 4 + wanted && rank4.length === 0) {
        family = 'rtdetr';
        nc = wanted;
      } else if (na !== undefined && na <= 1000 && rank4.length === 0) {
        // A few hundred query rows of 4+nc columns is the shape of Ultralytics' RT-DETR export.
        family = 'rtdetr';
        nc = nb - 4;
      }
    }
  }
  if (!family || nc === undefined || nc < 1) {
    return {
      manifest: null,
      problems: [
        ...problems,
        `${file}: cannot tell the decoder family from the outputs (${shapes}); expected [1, 4+nc(+32), N] (ultralytics), [1, N, 5+nc(+32)] (yolov5), [1, ${yoloxAnchorCount(inputSize, [8, 16, 32])}, 5+nc] (yolox at ${inputSize[1]}x${inputSize[0]}), [1, N, 6] (end2end) or [1, N, 4] + [1, N, nc] (rtdetr)`,
      ],
    };
  }
  const metaTask = metadata['task'];
  if (metaTask === 'segment' || metaTask === 'detect') {
    if (metaTask !== task) problems.push(`metadata says task "${metaTask}" but the outputs look like "${task}"; using "${task}"`);
  } else if (metaTask !== undefined) {
    problems.push(`metadata task "${metaTask}" is not supported for pre-labeling`);
    task = metaTask === 'classify' ? 'classify' : task;
  }
  let classes: string[];
  if (metaNames && metaNames.length === nc) classes = metaNames;
  else {
    if (metaNames) problems.push(`metadata lists ${metaNames.length} names but the output holds ${nc} classes`);
    classes = nc === 80 ? [...COCO80] : Array.from({ length: nc }, (_, i) => `class_${i}`);
    problems.push(`the file has no usable "names" metadata: class names ${nc === 80 ? 'assumed to be the 80 COCO classes' : `unknown, named class_0..class_${nc - 1}`}; check them before saving`);
  }
  if (metadata['stride'] !== undefined && family === 'yolox') problems.push('metadata "stride" ignored for yolox (strides 8/16/32)');
  const base = file.split(/[\\/]/).pop() ?? file;
  const id = base.replace(/\.onnx$/i, '').toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[^a-z0-9]+/, '') || 'model';
  const manifest: ModelManifest = {
    id,
    name: base.replace(/\.onnx$/i, ''),
    task,
    family,
    input: input.name,
    size: fixed ?? 'dynamic',
    ...(fixed ? {} : { defaultSize: inputSize }),
    colour: family === 'yolox' ? 'bgr' : 'rgb',
    scale: family === 'yolox' ? 1 : 1 / 255,
    letterbox: family === 'rtdetr' ? 'stretch' : 114,
    ...(family === 'yolox' ? { letterboxAlign: 'topleft' as const } : {}),
    classes,
    thresholds: { score: 0.25, iou: 0.45, maxDetections: 300 },
    file,
  };
  return { manifest, problems };
}
