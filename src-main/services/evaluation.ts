import { AppError } from '../common/errors';
import {
  classAp,
  classCountsAt,
  classPrCurve,
  confidenceSweep,
  confusionAt,
  defaultParams,
  evaluateCoco,
  iouOf,
  matchAtIou,
  type Bbox,
  type CocoDetection,
  type CocoGroundTruth,
} from '../common/eval/coco';
import { cocoArea, cocoBBox, readCocoReference } from '../common/eval/reference';
import type { ClassMetrics, EvalError, EvalRequest, EvalResult, EvalRunInfo, IouType } from '../common/eval/types';
import type { Geometry } from '../common/model';
import { obbCorners, polygonToRle, type Rle } from '../common/geometry';
import { listClasses } from '../db/classes';
import { evalShapesOfImage, findEvalRunsByName, getEvalImages, getEvalRun, listEvalRuns, runFinishedImages, type EvalImageRow, type EvalShape } from '../db/evaluation';
import type { Dataset } from './dataset';
import { scopeImageIds } from './prelabel';

/** Model runs of the dataset that can be evaluated, newest first. */
export async function evalRuns(ds: Dataset): Promise<EvalRunInfo[]> {
  return (await listEvalRuns(ds.db)).map((r) => ({ id: r.id, name: r.name ?? `run ${r.id}`, model: r.model, status: r.status, images: r.images, detections: r.detections, startedAt: r.startedAt }));
}

/** A run named on the command line: its id, or else its name (the newest run of that name). */
export async function resolveRun(ds: Dataset, ref: string): Promise<number> {
  if (/^\d+$/.test(ref) && await getEvalRun(ds.db, Number(ref))) return Number(ref);
  const named = await findEvalRunsByName(ds.db, ref);
  if (named.length === 0) throw new AppError('NOT_FOUND', `${ds.file}: no model run has the id or name "${ref}"`, { run: ref });
  return named[0]!.id;
}

/** A stored shape in COCO's terms. */
interface CocoShape {
  bbox: Bbox;
  area: number;
  rle?: Rle;
}

/** The mask COCO evaluates a shape by: polygons (and boxes, rotated boxes as their corners) rasterised like pycocotools. */
function shapeRle(g: Geometry, image: EvalImageRow): Rle | null {
  switch (g.kind) {
    case 'box': {
      const [x, y, w, h] = cocoBBox(g);
      // COCO's loadRes turns a box result into this four-corner polygon.
      return polygonToRle([[x, y, x, y + h, x + w, y + h, x + w, y]], image.height, image.width);
    }
    case 'polygon':
      return polygonToRle(g.parts, image.height, image.width);
    case 'obb':
      return polygonToRle([obbCorners(g)], image.height, image.width);
    case 'mask':
      return g.rle.size[0] === image.height && g.rle.size[1] === image.width ? g.rle : null;
    case 'point':
    case 'tag':
    case 'polyline':
    case 'keypoints':
      return null;
  }
}

/**
 * COCO's view of a stored geometry; null for shapes without an area (points, tags) and for open
 * lines and keypoints, which COCO's box and mask evaluation do not take (a COCO person's
 * keypoints are evaluated by OKS, not as a second box beside its outline). A ground
 * truth has the area and box its COCO file would give it (see reference.ts). A detection's area
 * is its box's width x height, as COCO's loadRes sets it for results, which always carry a box;
 * it only decides whether an unmatched detection counts in an area range.
 */
function cocoShape(g: Geometry, image: EvalImageRow, iouType: IouType, detection: boolean): CocoShape | null {
  if (g.kind === 'point' || g.kind === 'tag' || g.kind === 'polyline' || g.kind === 'keypoints') return null;
  const bbox = cocoBBox(g);
  const shape: CocoShape = { bbox, area: detection ? bbox[2] * bbox[3] : cocoArea(g) };
  if (iouType === 'segm') {
    const rle = shapeRle(g, image);
    if (!rle) return null;
    shape.rle = rle;
  }
  return shape;
}

interface Loaded {
  images: EvalImageRow[];
  gts: CocoGroundTruth[];
  dts: CocoDetection[];
  /** Stored annotation of each ground truth / detection, by position. */
  gtShapes: EvalShape[];
  dtShapes: EvalShape[];
}

/**
 * Ground truth (human annotations) and detections (the run's predictions) of the images in scope.
 * Images come in path order, the order score ties between images are broken in: COCOeval breaks
 * them by image id, and COCO's file names are their zero-padded ids, so the same detections rank
 * the same way whatever order the images were imported in.
 */
async function load(ds: Dataset, runId: number, imageIds: readonly number[], iouType: IouType): Promise<Loaded> {
  const images = (await getEvalImages(ds.db, imageIds)).sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : a.id - b.id));
  const out: Loaded = { images, gts: [], dts: [], gtShapes: [], dtShapes: [] };
  for (const image of out.images) {
    for (const s of await evalShapesOfImage(ds.db, image.id, { source: 'human' })) {
      if (s.classId === null) continue;
      const c = cocoShape(s.geometry, image, iouType, false);
      if (!c) continue;
      const file = readCocoReference(s.attributes, s.geometry);
      out.gts.push({ id: s.id, imageId: image.id, categoryId: s.classId, ...c, ...file, iscrowd: s.attributes['iscrowd'] === true });
      out.gtShapes.push(s);
    }
    for (const s of await evalShapesOfImage(ds.db, image.id, { runId })) {
      if (s.classId === null) continue;
      const c = cocoShape(s.geometry, image, iouType, true);
      if (!c) continue;
      out.dts.push({ id: s.id, imageId: image.id, categoryId: s.classId, ...c, score: s.score ?? 0 });
      out.dtShapes.push(s);
    }
  }
  return out;
}

/**
 * Evaluates one model run against the human annotations of the images in scope: COCO's metrics
 * (exactly as the reference COCO API computes them), and at the request's score and IoU
 * thresholds precision, recall and F1 per class, the confusion matrix and the errors. A
 * pre-labeling run is judged only on the images it finished.
 */
export async function evaluateRun(ds: Dataset, req: EvalRequest): Promise<EvalResult> {
  const run = await getEvalRun(ds.db, req.runId);
  if (!run) throw new AppError('NOT_FOUND', `${ds.file}: model run ${req.runId} does not exist`, { runId: req.runId });
  const scoreThreshold = req.scoreThreshold ?? 0.5;
  const iouThreshold = req.iouThreshold ?? 0.5;
  const iouType = req.iouType;
  const finished = await runFinishedImages(ds.db, run.id);
  const inScope = (await scopeImageIds(ds, { filter: req.filter ?? {}, unlabeledOnly: false })).filter((id) => !finished || finished.has(id));
  const { images, gts, dts, gtShapes, dtShapes } = await load(ds, run.id, inScope, iouType);
  const classes = await listClasses(ds.db);
  const categoryIds = classes.map((c) => c.id);

  const ev = evaluateCoco(gts, dts, defaultParams(iouType, images.map((im) => im.id), categoryIds));
  const kOf = new Map(ev.params.categoryIds.map((c, k) => [c, k]));
  const match = matchAtIou(gts, dts, iouType, iouThreshold);
  const counts = new Map(classCountsAt(gts, dts, match, scoreThreshold, categoryIds).map((c) => [c.categoryId, c]));
  const confusion = confusionAt(gts, dts, match, iouType, scoreThreshold, iouThreshold, categoryIds);

  const gtCount = new Map<number, number>();
  const dtCount = new Map<number, number>();
  const dtAbove = new Map<number, number>();
  for (const g of gts) if (!g.iscrowd) gtCount.set(g.categoryId, (gtCount.get(g.categoryId) ?? 0) + 1);
  for (const d of dts) {
    dtCount.set(d.categoryId, (dtCount.get(d.categoryId) ?? 0) + 1);
    if (d.score >= scoreThreshold) dtAbove.set(d.categoryId, (dtAbove.get(d.categoryId) ?? 0) + 1);
  }
  const perClass: ClassMetrics[] = classes.map((c) => {
    const k = kOf.get(c.id)!;
    const n = counts.get(c.id)!;
    return {
      classId: c.id,
      name: c.name,
      ap: classAp(ev, k),
      ap50: classAp(ev, k, 0.5),
      ap75: classAp(ev, k, 0.75),
      groundTruths: gtCount.get(c.id) ?? 0,
      detections: dtCount.get(c.id) ?? 0,
      detectionsAtThreshold: dtAbove.get(c.id) ?? 0,
      tp: n.tp,
      fp: n.fp,
      fn: n.fn,
      precision: n.precision,
      recall: n.recall,
      f1: n.f1,
      pr: classPrCurve(ev, k, 0.5),
    };
  });

  const nameOf = new Map(classes.map((c) => [c.id, c.name]));
  const pathOf = new Map(images.map((im) => [im.id, im.path]));
  const errors: EvalError[] = [];
  const dtsOfImage = new Map<number, number[]>();
  dts.forEach((d, i) => dtsOfImage.set(d.imageId, [...(dtsOfImage.get(d.imageId) ?? []), i]));
  dts.forEach((d, i) => {
    if (d.score < scoreThreshold || match.dtIgnored[i] || match.dtMatch[i]! >= 0) return;
    const other = confusion.dtWrongClass[i]!;
    const g = other >= 0 ? gts[other]! : null;
    errors.push({
      kind: g ? 'wrong_class' : 'false_positive',
      imageId: d.imageId,
      image: pathOf.get(d.imageId) ?? '',
      annotationId: dtShapes[i]!.id,
      otherAnnotationId: g ? gtShapes[other]!.id : null,
      replaced: dtShapes[i]!.id < 0,
      classId: d.categoryId,
      className: nameOf.get(d.categoryId) ?? '',
      otherClassName: g ? (nameOf.get(g.categoryId) ?? '') : null,
      score: d.score,
      iou: g ? iouOf(d, g, iouType) : match.dtBestIou[i]!,
      area: d.area,
      bbox: d.bbox,
    });
  });
  gts.forEach((g, i) => {
    if (g.iscrowd || confusion.gtWrongClass[i]) return;
    const m = match.gtMatch[i]!;
    if (m >= 0 && dts[m]!.score >= scoreThreshold) return;
    // How close the run came: the best overlap of a detection of its class above the threshold.
    let best = 0;
    for (const j of dtsOfImage.get(g.imageId) ?? []) {
      const d = dts[j]!;
      if (d.categoryId === g.categoryId && d.score >= scoreThreshold && !match.dtIgnored[j]) best = Math.max(best, iouOf(d, g, iouType));
    }
    errors.push({
      kind: 'false_negative',
      imageId: g.imageId,
      image: pathOf.get(g.imageId) ?? '',
      annotationId: gtShapes[i]!.id,
      otherAnnotationId: null,
      replaced: false,
      classId: g.categoryId,
      className: nameOf.get(g.categoryId) ?? '',
      otherClassName: null,
      score: null,
      iou: best,
      area: g.area,
      bbox: g.bbox,
    });
  });

  return {
    runId: run.id,
    runName: run.name ?? `run ${run.id}`,
    iouType,
    images: images.length,
    groundTruths: gts.filter((g) => !g.iscrowd).length,
    detections: dts.length,
    scoreThreshold,
    iouThreshold,
    stats: ev.stats,
    perClass,
    confidence: confidenceSweep(gts, dts, match),
    confusion: {
      labels: [...classes.map((c) => c.name), 'background'],
      classIds: confusion.categoryIds,
      matrix: confusion.matrix,
    },
    errors,
  };
}
