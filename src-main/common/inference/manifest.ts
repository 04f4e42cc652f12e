import { z } from 'zod';
import { AppError } from '../errors';
import { keypointSchemaProblem } from '../keypoints';
import { COCO80 } from './coco';
import { fmtDims, yoloxAnchorCount } from './decode';
import { parseImgsz, parseKptShape, parseUltralyticsNames } from './onnxMetadata';
import { DECODER_FAMILIES, EMBEDDING_POOLINGS, HIGH_BIT_DEPTH_MODES, MODEL_TASKS, RESIZE_METHODS, type DecoderFamily, type ModelIo, type ModelManifest, type ModelTask } from './types';

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
    classes: z.array(z.string().min(1)).optional(),
    thresholds: z
      .object({
        score: z.number().min(0).max(1),
        iou: z.number().min(0).max(1),
        maxDetections: z.number().int().positive(),
      })
      .optional(),
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
    embedding: z.object({ pooling: z.enum(EMBEDDING_POOLINGS), l2: z.boolean() }).strict().optional(),
  })
  .strict()
  .superRefine((m, ctx) => {
    if (!m.family && FAMILY_TASKS.has(m.task)) ctx.addIssue({ code: 'custom', path: ['family'], message: `required for task "${m.task}" (one of ${DECODER_FAMILIES.join(', ')})` });
    // An embedding model outputs vectors, not class scores: it names no classes and no thresholds.
    if (m.task !== 'embed') {
      if (m.classes && m.classes.length === 0) ctx.addIssue({ code: 'custom', path: ['classes'], message: 'Too small: expected array to have >=1 items' });
      if (!m.classes && !m.labels) ctx.addIssue({ code: 'custom', path: ['classes'], message: 'a manifest needs classes or a labels file' });
      if (!m.thresholds) ctx.addIssue({ code: 'custom', path: ['thresholds'], message: `required for task "${m.task}" (score, iou, maxDetections)` });
    } else if (m.classes?.length || m.labels) {
      ctx.addIssue({ code: 'custom', path: [m.labels ? 'labels' : 'classes'], message: 'an embed model has no classes: remove it' });
    } else if (!m.embedding) {
      ctx.addIssue({ code: 'custom', path: ['embedding'], message: 'required for task "embed": { "pooling": "none" | "mean" | "max" | "cls", "l2": true | false }' });
    }
    if (m.size === 'dynamic' && !m.defaultSize) ctx.addIssue({ code: 'custom', path: ['defaultSize'], message: 'required when size is "dynamic"' });
    if (m.task === 'segment' && (m.family === 'yolox' || m.family === 'rtdetr')) {
      ctx.addIssue({ code: 'custom', path: ['family'], message: `${m.family} has no segmentation head` });
    }
    if ((m.task === 'obb' || m.task === 'pose') && m.family !== 'ultralytics') {
      ctx.addIssue({ code: 'custom', path: ['family'], message: `${m.task} models are read as Ultralytics heads: family must be "ultralytics"` });
    }
    if (m.keypoints) {
      const problem = keypointSchemaProblem(m.keypoints);
      if (problem) ctx.addIssue({ code: 'custom', path: ['keypoints'], message: problem });
    }
    if (m.strides && m.family !== 'yolox') ctx.addIssue({ code: 'custom', path: ['strides'], message: 'only yolox models use strides' });
    if (m.window && m.highBitDepth !== 'fixed') ctx.addIssue({ code: 'custom', path: ['window'], message: 'only used with highBitDepth "fixed"' });
    if (!m.file && !m.url) ctx.addIssue({ code: 'custom', path: ['file'], message: 'a manifest needs a file or a url' });
    if (m.activation === 'softmax' && m.classes?.length === 1) {
      ctx.addIssue({ code: 'custom', path: ['activation'], message: 'softmax over one class is 1 everywhere: use "sigmoid" (logits) or "none" (probabilities)' });
    }
    // Fields read only by some tasks: given to another, they would be ignored without a word.
    const usedBy: Record<string, readonly ModelTask[]> = {
      activation: ['classify', 'semantic'],
      topK: ['classify'],
      cropFrom: ['classify', 'embed'],
      background: ['semantic'],
      instances: ['semantic'],
      normalize: ['classify', 'semantic', 'embed'],
      embedding: ['embed'],
    };
    for (const [k, tasks] of Object.entries(usedBy)) {
      if (m[k as keyof typeof m] !== undefined && !tasks.includes(m.task)) {
        ctx.addIssue({ code: 'custom', path: [k], message: `not used by task "${m.task}" (only by ${tasks.join(', ')}): remove it` });
      }
    }
  });

/** The thresholds an embed manifest stands in with: nothing reads them. */
const EMBED_THRESHOLDS = { score: 0, iou: 0, maxDetections: 1 };

/**
 * Validates a manifest, reporting every problem with its JSON path and the manifest file's
 * name, e.g. `models/x.json: thresholds.iou: Too big: expected number to be <=1`. A manifest
 * naming a `labels` file instead of `classes` comes back with `classes` empty: the caller that
 * knows where the manifest lives reads the file (services/models.ts `readManifestFile`).
 */
export function parseManifest(json: unknown, file: string): ModelManifest {
  const r = manifestSchema.safeParse(json);
  if (r.success) return { ...r.data, classes: r.data.classes ?? [], thresholds: r.data.thresholds ?? EMBED_THRESHOLDS } as ModelManifest;
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
export function proposeManifest(io: ModelIo, metadata: Record<string, string>, file = 'model.onnx', hints: ProposeHints = {}): Proposal {
  const problems: string[] = [];
  const shapes = `inputs ${io.inputs.map((t) => `${t.name} ${fmtDims(t.dims)}`).join(', ')}; outputs ${io.outputs.map((t) => `${t.name} ${fmtDims(t.dims)}`).join(', ')}`;
  const input = io.inputs[0];
  const wholeImage = hints.task === 'classify' || hints.task === 'semantic' || (hints.task === undefined && wholeImageOutput(io) !== null);
  if (wholeImage) return proposeWholeImage(io, metadata, file, hints, shapes);
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
  // Oriented boxes and pose share the ultralytics layout with detect: the extra rows (an angle,
  // K keypoint triples) are told apart by the metadata's task and kpt_shape, or by the rows left
  // over after the metadata's names.
  let keypoints: ModelManifest['keypoints'];
  const kpt = metadata['kpt_shape'] !== undefined ? parseKptShape(metadata['kpt_shape']) : null;
  if (family === 'ultralytics' && rank4.length === 0) {
    const extra = wanted !== undefined ? nc - wanted : undefined;
    if (metadata['kpt_shape'] !== undefined && !kpt) problems.push(`metadata "kpt_shape" could not be read: ${metadata['kpt_shape'].slice(0, 40)}`);
    if (metaTask === 'obb' || (metaTask === undefined && extra === 1)) {
      task = 'obb';
      nc -= 1;
    } else if (metaTask === 'pose' || (metaTask === undefined && (kpt || (extra !== undefined && extra > 0 && extra % 3 === 0)))) {
      const [k, dim] = kpt ?? (extra !== undefined && extra > 0 && extra % 3 === 0 ? [extra / 3, 3] : [17, 3]);
      if (!kpt && extra === undefined) problems.push('a pose model without "kpt_shape" metadata: assuming 17 COCO person keypoints of x, y, score');
      task = 'pose';
      nc -= k * dim;
      if (k !== 17) {
        keypoints = { names: Array.from({ length: k }, (_, i) => `kp_${i}`), skeleton: [] };
        problems.push(`keypoint names unknown for ${k} keypoints: named kp_0..kp_${k - 1} with no skeleton; give the manifest "keypoints" before saving`);
      }
    }
  }
  if (family && nc !== undefined && nc < 1) {
    return { manifest: null, problems: [...problems, `${file}: the output ${shapes} leaves no class scores for an ultralytics ${task} head`] };
  }
  if (metaTask === 'segment' || metaTask === 'detect') {
    if (metaTask !== task) problems.push(`metadata says task "${metaTask}" but the outputs look like "${task}"; using "${task}"`);
  } else if (metaTask !== undefined && !(metaTask === task && (task === 'obb' || task === 'pose'))) {
    problems.push(`metadata task "${metaTask}" is not supported for pre-labeling`);
    task = metaTask === 'classify' ? 'classify' : task;
  }
  if (hints.task === 'obb' || hints.task === 'pose') {
    if (family !== 'ultralytics') {
      return { manifest: null, problems: [...problems, `${file}: an ${hints.task} model must have an Ultralytics head [1, 4+nc+${hints.task === 'obb' ? '1 (angle)' : '3K (keypoints)'}, N] (${shapes})`] };
    }
    // The metadata may already have told the head apart (and its rows are then taken off nc).
    if ((task === 'obb' || task === 'pose') && task !== hints.task) {
      return { manifest: null, problems: [...problems, `${file}: --task ${hints.task} does not fit the model, whose metadata says task "${task}" (${shapes})`] };
    }
    if (task !== hints.task) {
      if (hints.task === 'obb') nc -= 1;
      else {
        const k = hints.keypoints ?? kpt?.[0] ?? 17;
        nc -= k * (kpt?.[1] ?? 3);
        if (k !== 17) {
          keypoints = { names: Array.from({ length: k }, (_, i) => `kp_${i}`), skeleton: [] };
          problems.push(`keypoint names unknown for ${k} keypoints: named kp_0..kp_${k - 1} with no skeleton; give the manifest "keypoints" before saving`);
        }
      }
    }
    if (nc < 1) return { manifest: null, problems: [...problems, `${file}: the output has too few rows for an ${hints.task} head (${shapes})`] };
    task = hints.task;
  } else if (hints.task !== undefined && hints.task !== task) {
    return { manifest: null, problems: [...problems, `${file}: --task ${hints.task} does not fit the outputs, which look like a "${task}" model (${shapes})`] };
  }
  let classes: string[];
  if (hints.labels && hints.labels.names.length === nc) classes = hints.labels.names;
  else if (hints.labels) {
    return { manifest: null, problems: [...problems, `${hints.labels.file}: holds ${hints.labels.names.length} names but ${file} outputs ${nc} classes (${shapes})`] };
  } else if (metaNames && metaNames.length === nc) classes = metaNames;
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
    ...(hints.labels ? { labels: hints.labels.file } : {}),
    thresholds: { score: 0.25, iou: 0.45, maxDetections: 300 },
    ...(keypoints ? { keypoints } : {}),
    file,
  };
  return { manifest, problems };
}

/** What the caller knows beyond the shapes: a labels file read, the task the user says the model does. */
export interface ProposeHints {
  labels?: { file: string; names: string[] };
  task?: ModelTask;
  /** pose: keypoints per detection (the metadata's kpt_shape, else 17, COCO person, when omitted). */
  keypoints?: number;
  /** The op making each output's values, read from the graph (onnxMetadata.ts readOnnxOutputOps). */
  outputOps?: Record<string, string>;
}

/** The class count of a classifier's output [B, C] or [B, C, 1, 1]; null for other shapes. */
function classifierClasses(dims: readonly (number | string)[]): number | null {
  const c = num(dims[1]);
  if (c === undefined || c < 1) return null;
  if (dims.length === 2 || (dims.length === 4 && dims[2] === 1 && dims[3] === 1)) return c;
  return null;
}

/** A model with one output of one score per class ([B, C]): what the shapes alone call a classifier. */
function wholeImageOutput(io: ModelIo): number | null {
  return io.outputs.length === 1 && io.inputs.length === 1 ? classifierClasses(io.outputs[0]!.dims) : null;
}

function baseId(file: string): { id: string; name: string } {
  const base = file.split(/[\\/]/).pop() ?? file;
  const id = base.replace(/\.onnx$/i, '').toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[^a-z0-9]+/, '') || 'model';
  return { id, name: base.replace(/\.onnx$/i, '') };
}

/**
 * A classifier ([B, C] output) or, asked for, a semantic segmenter ([B, C, H, W] or NHWC
 * [B, H, W, C] at the input size): ImageNet conventions proposed (RGB, /255, ImageNet mean/std,
 * short side to 256/224 of the input then a centre crop; softmax), to be checked by the user.
 */
function proposeWholeImage(io: ModelIo, metadata: Record<string, string>, file: string, hints: ProposeHints, shapes: string): Proposal {
  const problems: string[] = [];
  const input = io.inputs[0];
  const task = hints.task ?? 'classify';
  const d = input?.dims ?? [];
  const nhwc = d.length === 4 && (d[3] === 3 || d[3] === 1) && d[1] !== 3 && d[1] !== 1;
  const channels = nhwc ? d[3] : d[1];
  // Classifier inputs are read as colour images; a one-channel input is a semantic model's (microscopy).
  if (!input || d.length !== 4 || (typeof channels === 'number' && channels !== 3 && (task === 'classify' || channels !== 1))) {
    return { manifest: null, problems: [`${file}: the first input is not an image batch [1, 3, H, W] or [1, H, W, 3] (${shapes})`] };
  }
  const ih = num(nhwc ? d[1] : d[2]), iw = num(nhwc ? d[2] : d[3]);
  const fixed: [number, number] | undefined = ih && iw ? [ih, iw] : undefined;
  const metaSize = metadata['imgsz'] !== undefined ? parseImgsz(metadata['imgsz']) : null;
  const inputSize: [number, number] = fixed ?? metaSize ?? [224, 224];
  if (!fixed && !metaSize) problems.push(`input size is dynamic ${fmtDims(d)} and the file has no "imgsz" metadata: assuming 224x224`);
  const out = hints.task === undefined ? io.outputs[0] : io.outputs.find((o) => (task === 'classify' ? classifierClasses(o.dims) !== null : o.dims.length === 4));
  let nc: number | undefined;
  if (task === 'classify') {
    nc = out ? (classifierClasses(out.dims) ?? undefined) : undefined;
    if (nc === undefined) return { manifest: null, problems: [`${file}: a classify model must have an output of one score per class [1, C] (${shapes})`] };
  } else {
    const od = out?.dims ?? [];
    const outNhwc = od.length === 4 && num(od[1]) === inputSize[0] && num(od[2]) === inputSize[1];
    nc = od.length === 4 ? num(outNhwc ? od[3] : od[1]) : undefined;
    if (nc === undefined) return { manifest: null, problems: [`${file}: a semantic model must have an output of class scores per pixel [1, C, H, W] or [1, H, W, C] (${shapes})`] };
  }
  let classes: string[];
  if (hints.labels) {
    if (hints.labels.names.length !== nc) {
      return { manifest: null, problems: [...problems, `${hints.labels.file}: holds ${hints.labels.names.length} names but ${file} outputs ${nc} class scores (${shapes})`] };
    }
    classes = hints.labels.names;
  } else {
    const metaNames = metadata['names'] !== undefined ? parseUltralyticsNames(metadata['names']) : null;
    if (metaNames && metaNames.length === nc) classes = metaNames;
    else {
      classes = Array.from({ length: nc }, (_, i) => `class_${i}`);
      problems.push(`no labels file (a JSON list or one name per line, beside the model as ${baseId(file).name}.json/.txt or labels.json/.txt): class names unknown, named class_0..class_${nc - 1}`);
    }
  }
  // An export that ends in its activation already gives probabilities: another one on top would
  // squash them (softmax of probabilities is about 1/C each; sigmoid of them 0.5..0.73).
  const lastOp = out ? hints.outputOps?.[out.name] : undefined;
  const activation: 'softmax' | 'sigmoid' | 'none' = lastOp === 'Softmax' || lastOp === 'Sigmoid' ? 'none' : task === 'semantic' && nc === 1 ? 'sigmoid' : 'softmax';
  if (activation === 'none') problems.push(`output "${out!.name}" is made by a ${lastOp} node: its scores are probabilities already, so "activation" is "none"`);
  let background: number | undefined;
  if (task === 'semantic') {
    const i = classes.findIndex((c) => /^_{0,2}background_{0,2}$/i.test(c.trim()));
    if (i >= 0) {
      background = i;
      problems.push(`class ${i} "${classes[i]}" is taken as the background ("background": ${i}): no masks are made of it`);
    }
  }
  problems.push(
    task === 'classify'
      ? 'input conventions assumed to be ImageNet\'s (RGB, /255, mean 0.485,0.456,0.406, std 0.229,0.224,0.225, short side resized then centre-cropped); check them before saving'
      : 'input conventions assumed (RGB, /255, stretched to the input); check them before saving',
  );
  const manifest: ModelManifest = {
    ...baseId(file),
    task,
    input: input.name,
    ...(out && io.outputs.length > 1 ? { output: out.name } : {}),
    size: fixed ?? 'dynamic',
    ...(fixed ? {} : { defaultSize: inputSize }),
    colour: 'rgb',
    scale: 1 / 255,
    ...(task === 'classify' ? { mean: [0.485, 0.456, 0.406] as [number, number, number], std: [0.229, 0.224, 0.225] as [number, number, number], cropFrom: Math.round(inputSize[0] / 0.875) } : {}),
    letterbox: 'stretch',
    ...(nhwc ? { layout: 'nhwc' as const } : {}),
    activation,
    ...(background !== undefined ? { background } : {}),
    ...(task === 'classify' ? { topK: Math.min(5, nc) } : {}),
    classes,
    ...(hints.labels ? { labels: hints.labels.file } : {}),
    thresholds: { score: task === 'classify' ? 0.01 : 0.5, iou: 0.5, maxDetections: task === 'classify' ? Math.min(5, nc) : 100 },
    file,
  };
  return { manifest, problems };
}
