import { AppError } from '../common/errors';
import type { ClassifierPrediction, ClassifierReport } from '../common/curation';
import { mulberry32 } from '../common/random';
import { trainInWorker } from '../classifier/client';
import { predictLinear, type LinearMode, type LinearModel } from '../classifier/logreg';
import { insertAnnotations, type NewAnnotation } from '../db/annotations';
import { addDoneRunImages, classNames, humanImageTags } from '../db/curation';
import { loadImageEmbeddings, type EmbeddingMatrix, type EmbeddingModelRecord } from '../db/embeddings';
import { finishModelRun, insertModelRun } from '../db/modelRuns';
import type { Db } from '../db/open';
import { chooseEmbeddingModel } from './activeLearning';

/**
 * A classifier trained in the app on stored embeddings (linear evaluation of a frozen encoder):
 * from the images with human image tags, a logistic regression (softmax when every image has one
 * tag, one-vs-rest sigmoids when some have several) with L2 regularisation, trained in a worker
 * thread on a seeded, stratified split; accuracy on the held-out images beside the majority-class
 * baseline and a confusion matrix. Its predictions for the untagged images become a model run of
 * tag annotations with scores, reviewed like any other run.
 */

export interface TrainOptions {
  embeddingModelId?: number;
  /** Fraction of each class held out for evaluation. */
  holdout?: number;
  l2?: number;
  seed?: number;
  maxIterations?: number;
}

export interface TrainHooks {
  onProgress?: (done: number, total: number) => void;
  cancelled?: () => boolean;
}

export interface TrainedClassifier {
  report: ClassifierReport;
  model: LinearModel;
  embeddingModel: EmbeddingModelRecord;
}

export const CLASSIFIER_DEFAULTS = { holdout: 0.2, l2: 1e-3, seed: 1, maxIterations: 500 } as const;

/**
 * A stratified split: in each stratum (shuffled with the seed), round(fraction x size) rows are
 * held out, always leaving at least one to train on. Returns row indexes, each list ascending.
 */
export function stratifiedSplit(strata: readonly string[], fraction: number, seed: number): { train: number[]; test: number[] } {
  const groups = new Map<string, number[]>();
  strata.forEach((s, i) => {
    let g = groups.get(s);
    if (!g) groups.set(s, (g = []));
    g.push(i);
  });
  const rng = mulberry32(seed);
  const train: number[] = [];
  const test: number[] = [];
  for (const key of [...groups.keys()].sort()) {
    const g = groups.get(key)!;
    for (let i = g.length - 1; i > 0; i--) {
      const j = Math.floor(rng() * (i + 1));
      [g[i], g[j]] = [g[j]!, g[i]!];
    }
    const held = Math.min(g.length - 1, Math.round(fraction * g.length));
    test.push(...g.slice(0, held));
    train.push(...g.slice(held));
  }
  return { train: train.sort((a, b) => a - b), test: test.sort((a, b) => a - b) };
}

interface Tagged {
  matrix: EmbeddingMatrix;
  /** Matrix rows of tagged images, and their classes (indexes into classIds). */
  rows: number[];
  labels: number[][];
  classIds: number[];
  withoutVector: number;
  untaggedRows: number[];
}

async function gather(db: Db, model: EmbeddingModelRecord): Promise<Tagged> {
  const matrix = await loadImageEmbeddings(db, model);
  const tags = await humanImageTags(db);
  const rowOf = new Map<number, number>();
  matrix.imageIds.forEach((id, i) => rowOf.set(id, i));
  const classSet = new Set<number>();
  let withoutVector = 0;
  for (const [image, classes] of tags) {
    if (!rowOf.has(image)) withoutVector++;
    else for (const c of classes) classSet.add(c);
  }
  const classIds = [...classSet].sort((a, b) => a - b);
  const index = new Map(classIds.map((c, i) => [c, i]));
  const rows: number[] = [];
  const labels: number[][] = [];
  const untaggedRows: number[] = [];
  matrix.imageIds.forEach((id, i) => {
    const t = tags.get(id);
    if (!t) {
      untaggedRows.push(i);
      return;
    }
    rows.push(i);
    labels.push(t.map((c) => index.get(c)!));
  });
  return { matrix, rows, labels, classIds, withoutVector, untaggedRows };
}

export async function trainClassifier(db: Db, opts: TrainOptions = {}, hooks: TrainHooks = {}): Promise<TrainedClassifier> {
  const started = performance.now();
  const holdout = opts.holdout ?? CLASSIFIER_DEFAULTS.holdout;
  const l2 = opts.l2 ?? CLASSIFIER_DEFAULTS.l2;
  const seed = opts.seed ?? CLASSIFIER_DEFAULTS.seed;
  const embeddingModel = await chooseEmbeddingModel(db, opts.embeddingModelId);
  const t = await gather(db, embeddingModel);
  if (t.rows.length === 0) {
    throw new AppError(
      'INVALID_ARGUMENT',
      t.withoutVector > 0
        ? `none of the ${t.withoutVector} images with human tags has a vector of "${embeddingModel.name}": compute embeddings for them first`
        : 'no image has a human image tag: tag some images with their class first (a tag is a whole-image label)',
    );
  }
  if (t.classIds.length < 2) {
    throw new AppError('INVALID_ARGUMENT', `the tagged images have only one class (${(await classNames(db, t.classIds)).join('')}): a classifier needs images of at least two classes`);
  }
  const mode: LinearMode = t.labels.some((l) => l.length > 1) ? 'one-vs-rest' : 'softmax';
  const k = t.classIds.length;
  const strata = t.labels.map((l) => l.join('+'));
  const split = stratifiedSplit(strata, holdout, seed);
  if (split.test.length === 0) {
    throw new AppError('INVALID_ARGUMENT', `${t.rows.length} tagged images leave none to hold out at ${Math.round(holdout * 100)} %: tag more images (at least 2 of a class)`);
  }
  const trainClasses = new Set(split.train.flatMap((i) => t.labels[i]!));
  if (trainClasses.size < 2) throw new AppError('INVALID_ARGUMENT', 'the training images have only one class: tag more images of the other classes');

  const n = t.matrix.imageIds.length;
  const y = mode === 'softmax' ? new Int32Array(n) : new Uint8Array(n * k);
  t.rows.forEach((row, i) => {
    if (mode === 'softmax') y[row] = t.labels[i]![0]!;
    else for (const c of t.labels[i]!) y[row * k + c] = 1;
  });
  const model = await trainInWorker(
    {
      mode,
      x: t.matrix.data,
      dim: t.matrix.dim,
      classes: k,
      y,
      rows: Int32Array.from(split.train, (i) => t.rows[i]!),
      l2,
      maxIterations: opts.maxIterations ?? CLASSIFIER_DEFAULTS.maxIterations,
    },
    hooks,
  );

  const testRows = split.test.map((i) => t.rows[i]!);
  const p = predictLinear(model, t.matrix.data, testRows);
  let correct = 0;
  let baselineCorrect = 0;
  let confusion: number[][] | null = null;
  if (mode === 'softmax') {
    confusion = Array.from({ length: k }, () => new Array<number>(k).fill(0));
    const counts = new Array<number>(k).fill(0);
    for (const i of split.train) counts[t.labels[i]![0]!]!++;
    const majority = counts.indexOf(Math.max(...counts));
    split.test.forEach((i, q) => {
      let best = 0;
      for (let c = 1; c < k; c++) if (p[q * k + c]! > p[q * k + best]!) best = c;
      const truth = t.labels[i]![0]!;
      confusion![truth]![best]!++;
      if (best === truth) correct++;
      if (majority === truth) baselineCorrect++;
    });
  } else {
    const counts = new Map<string, number>();
    for (const i of split.train) counts.set(strata[i]!, (counts.get(strata[i]!) ?? 0) + 1);
    const majority = [...counts].reduce((a, b) => (b[1] > a[1] ? b : a))[0];
    split.test.forEach((i, q) => {
      const predicted: number[] = [];
      for (let c = 0; c < k; c++) if (p[q * k + c]! >= 0.5) predicted.push(c);
      if (predicted.join('+') === strata[i]) correct++;
      if (majority === strata[i]) baselineCorrect++;
    });
  }
  const report: ClassifierReport = {
    classifierId: `clf-${Date.now().toString(36)}`,
    embeddingModelId: embeddingModel.id,
    mode,
    classIds: t.classIds,
    classNames: await classNames(db, t.classIds),
    trainImages: split.train.length,
    heldOutImages: split.test.length,
    accuracy: correct / split.test.length,
    baseline: baselineCorrect / split.test.length,
    confusion,
    withoutVector: t.withoutVector,
    untagged: t.untaggedRows.length,
    l2,
    seed,
    iterations: model.iterations,
    ms: Math.round(performance.now() - started),
  };
  return { report, model, embeddingModel };
}

export interface PredictOptions {
  /** Classes stored per image, best first. */
  topK?: number;
  /** Least probability stored (the best class is stored whatever its probability). */
  minScore?: number;
}

/**
 * Tags the images with a current vector and no human tag as one new model run: per image the
 * best class and the next ones above `minScore` (at most `topK`), as tag annotations with their
 * probabilities, all in one transaction.
 */
export async function predictTags(db: Db, trained: TrainedClassifier, opts: PredictOptions = {}): Promise<ClassifierPrediction> {
  const topK = opts.topK ?? 3;
  const minScore = opts.minScore ?? 0.1;
  const { model, embeddingModel, report } = trained;
  const t = await gather(db, embeddingModel);
  if (t.untaggedRows.length === 0) throw new AppError('INVALID_ARGUMENT', `every image with a vector of "${embeddingModel.name}" has a human tag: nothing left to predict`);
  const p = predictLinear(model, t.matrix.data, t.untaggedRows);
  const k = model.classes;
  const annotations: NewAnnotation[] = [];
  const perImage: { imageId: number; detections: number }[] = [];
  return await db.transaction(async () => {
    const runId = await insertModelRun(db, {
      model: `linear-classifier:${embeddingModel.key}`,
      name: `Linear classifier on ${embeddingModel.name}`,
      parameters: {
        kind: 'linear-classifier',
        embeddingModel: embeddingModel.key,
        mode: model.mode,
        classes: Object.fromEntries(report.classIds.map((c, i) => [report.classNames[i]!, c])),
        l2: report.l2,
        seed: report.seed,
        heldOutAccuracy: report.accuracy,
        baseline: report.baseline,
        trainImages: report.trainImages,
        topK,
        minScore,
      },
      provider: 'cpu',
    });
    t.untaggedRows.forEach((row, q) => {
      const order = Array.from({ length: k }, (_, c) => c).sort((a, b) => p[q * k + b]! - p[q * k + a]!);
      const keep = order.filter((c, rank) => rank === 0 || p[q * k + c]! >= minScore).slice(0, topK);
      const imageId = t.matrix.imageIds[row]!;
      for (const c of keep) {
        annotations.push({ imageId, classId: report.classIds[c]!, geometry: { kind: 'tag' }, source: 'model', modelRunId: runId, score: p[q * k + c]! });
      }
      perImage.push({ imageId, detections: keep.length });
    });
    await insertAnnotations(db, annotations);
    await addDoneRunImages(db, runId, perImage);
    await finishModelRun(db, runId, 'done');
    return { runId, images: perImage.length, tags: annotations.length };
  })();
}
