import {
  HEALTH_LIMITS,
  type ClassHealth,
  type HealthBin,
  type HealthReport,
  type LinkedImages,
  type ShapeIssue,
  type ShapeIssues,
  type SplitShortfall,
} from '../common/health';
import { geometryArea, geometryBBox, validateGeometry } from '../common/geometry/shapes';
import { SPLITS, type Geometry, type Split } from '../common/model';
import { listClasses } from '../db/classes';
import {
  annotationsByClassAndSource,
  countHumanTags,
  countUnlabeledImages,
  duplicateContent,
  humanByClassAndSplit,
  humanImagesByClass,
  humanObjectsPerImage,
  humanShapes,
} from '../db/health';
import { countBySplit, countByStatus, countImages } from '../db/images';
import type { Dataset } from './dataset';

const INF = Infinity;

/** Objects per image: single counts up to 5, then wider bins. */
const OBJECT_EDGES = [0, 1, 2, 3, 4, 5, 6, 11, 21, 51, INF];
/** sqrt(area) in pixels; 32 and 96 are COCO's small / medium / large limits. */
const SIZE_EDGES = [0, 4, 8, 16, 32, 64, 96, 128, 256, 512, 1024, INF];
/** Width / height, symmetric around 1 on a log scale. */
const ASPECT_EDGES = [0, 1 / 8, 1 / 4, 1 / 2, 3 / 4, 4 / 3, 2, 4, 8, INF];
const ASPECT_NAMES = ['0', '1:8', '1:4', '1:2', '3:4', '4:3', '2:1', '4:1', '8:1'];

function objectLabel(min: number, max: number): string {
  if (max === INF) return `${min}+`;
  return max - min === 1 ? String(min) : `${min}–${max - 1}`;
}

function rangeLabel(names: readonly string[], i: number, last: boolean): string {
  if (i === 0) return `< ${names[1]}`;
  return last ? `≥ ${names[i]}` : `${names[i]}–${names[i + 1]}`;
}

/** Counts values into [edges[i], edges[i+1]) bins, remembering which images they came from. */
class Histogram {
  readonly counts: number[];
  readonly images: Set<number>[];

  constructor(
    private readonly edges: readonly number[],
    private readonly labels: readonly string[],
  ) {
    this.counts = new Array<number>(edges.length - 1).fill(0);
    this.images = Array.from({ length: edges.length - 1 }, () => new Set<number>());
  }

  add(value: number, imageId: number): void {
    if (!Number.isFinite(value) || value < this.edges[0]!) return;
    let i = 0;
    while (i < this.counts.length - 1 && value >= this.edges[i + 1]!) i++;
    this.counts[i]!++;
    this.images[i]!.add(imageId);
  }

  bins(): HealthBin[] {
    return this.counts.map((count, i) => ({
      label: this.labels[i]!,
      min: this.edges[i]!,
      max: this.edges[i + 1] === INF ? null : this.edges[i + 1]!,
      count,
      images: linked(this.images[i]!),
    }));
  }
}

function linked(ids: Iterable<number>): LinkedImages {
  const all = [...new Set(ids)].sort((a, b) => a - b);
  return { ids: all.slice(0, HEALTH_LIMITS.maxLinkedIds), total: all.length };
}

class IssueList {
  count = 0;
  readonly items: ShapeIssue[] = [];
  readonly imageIds = new Set<number>();

  add(issue: ShapeIssue): void {
    this.count++;
    this.imageIds.add(issue.imageId);
    if (this.items.length < HEALTH_LIMITS.maxListed) this.items.push(issue);
  }

  report(): ShapeIssues {
    return { count: this.count, items: this.items, images: linked(this.imageIds) };
  }
}

const fmt = (n: number): string => String(Number(n.toFixed(2)));

/**
 * Why a stored shape is degenerate, or null. The editor and the importers refuse these shapes,
 * but a dataset written by another tool or an older version may still hold them; boxes with a
 * negative side are counted here too, though the editor would flip them.
 */
export function degenerateReason(g: Geometry, image: { width: number; height: number }): string | null {
  if ((g.kind === 'box' || g.kind === 'obb') && Number.isFinite(g.w) && Number.isFinite(g.h) && (g.w <= 0 || g.h <= 0)) {
    return `${g.kind === 'box' ? 'box' : 'rotated box'} with zero or negative area (${fmt(g.w)} x ${fmt(g.h)})`;
  }
  return validateGeometry(g, image);
}

/** Whether a valid shape is too small to learn from, and why. */
export function tinyReason(g: Geometry): string | null {
  if (g.kind === 'point' || g.kind === 'tag') return null;
  const area = geometryArea(g);
  const b = geometryBBox(g);
  const side = g.kind === 'obb' ? Math.min(Math.abs(g.w), Math.abs(g.h)) : Math.min(b.w, b.h);
  if (area < HEALTH_LIMITS.tinyArea) return `area ${fmt(area)} px² is under ${HEALTH_LIMITS.tinyArea} px²`;
  if (side < HEALTH_LIMITS.tinySide) return `shorter side ${fmt(side)} px is under ${HEALTH_LIMITS.tinySide} px`;
  return null;
}

async function splitShortfalls(ds: Dataset, bySplit: Record<Split | 'none', number>): Promise<SplitShortfall[]> {
  const classes = await listClasses(ds.db);
  const counts = new Map<string, number>();
  for (const r of await humanByClassAndSplit(ds.db)) {
    counts.set(`${r.classId}:${r.split ?? 'none'}`, r.n);
    counts.set(`${r.classId}:all`, (counts.get(`${r.classId}:all`) ?? 0) + r.n);
  }
  const present = SPLITS.filter((s) => bySplit[s] > 0);
  const groups: (Split | 'all')[] = present.length > 0 ? present : ['all'];
  const out: SplitShortfall[] = [];
  for (const split of groups) {
    for (const c of classes) {
      const count = counts.get(`${c.id}:${split}`) ?? 0;
      if (count < HEALTH_LIMITS.minPerSplit) out.push({ classId: c.id, name: c.name, split, count });
    }
  }
  return out;
}

/** The dataset health report: read-only, computed from the stored images and annotations. */
export async function datasetHealth(ds: Dataset): Promise<HealthReport> {
  const db = ds.db;
  const bySplit = await countBySplit(db);

  const perClass = new Map<number | null, { human: number; predictions: number }>();
  let human = 0;
  let predictions = 0;
  for (const r of await annotationsByClassAndSource(db)) {
    const c = perClass.get(r.classId) ?? { human: 0, predictions: 0 };
    if (r.source === 'human') {
      c.human += r.n;
      human += r.n;
    } else {
      c.predictions += r.n;
      predictions += r.n;
    }
    perClass.set(r.classId, c);
  }
  const imagesOf = await humanImagesByClass(db);
  const classes: ClassHealth[] = (await listClasses(db)).map((c) => ({
    classId: c.id,
    name: c.name,
    color: c.color,
    human: perClass.get(c.id)?.human ?? 0,
    predictions: perClass.get(c.id)?.predictions ?? 0,
    images: imagesOf.get(c.id) ?? 0,
  }));
  const unclassified = perClass.get(null);
  if (unclassified) classes.push({ classId: null, name: '(no class)', color: '#8d929b', ...unclassified, images: imagesOf.get(null) ?? 0 });

  const objects = new Histogram(
    OBJECT_EDGES,
    OBJECT_EDGES.slice(0, -1).map((min, i) => objectLabel(min, OBJECT_EDGES[i + 1]!)),
  );
  for (const r of await humanObjectsPerImage(db)) objects.add(r.n, r.id);

  const sizeNames = SIZE_EDGES.slice(0, -1).map(String);
  const sizes = new Histogram(
    SIZE_EDGES,
    sizeNames.map((_, i) => rangeLabel(sizeNames, i, i === sizeNames.length - 1)),
  );
  const aspects = new Histogram(
    ASPECT_EDGES,
    ASPECT_NAMES.map((_, i) => rangeLabel(ASPECT_NAMES, i, i === ASPECT_NAMES.length - 1)),
  );
  const tiny = new IssueList();
  const degenerate = new IssueList();
  for await (const row of humanShapes(db)) {
    const g = JSON.parse(row.geometry) as Geometry;
    const base = { annotationId: row.id, imageId: row.imageId, classId: row.classId, kind: row.kind };
    const bad = degenerateReason(g, row);
    if (bad) {
      degenerate.add({ ...base, area: 0, reason: bad });
      continue;
    }
    if (g.kind === 'point' || g.kind === 'tag') continue;
    const area = geometryArea(g);
    const small = tinyReason(g);
    if (small) tiny.add({ ...base, area, reason: small });
    sizes.add(Math.sqrt(area), row.imageId);
    const b = geometryBBox(g);
    const [w, h] = g.kind === 'obb' ? [Math.abs(g.w), Math.abs(g.h)] : [b.w, b.h];
    if (h > 0) aspects.add(w / h, row.imageId);
  }

  return {
    images: { total: await countImages(db, {}), byStatus: await countByStatus(db), bySplit, unlabeled: await countUnlabeledImages(db) },
    annotations: { human, predictions, tags: await countHumanTags(db) },
    classes,
    objectsPerImage: objects.bins(),
    sizes: sizes.bins(),
    aspectRatios: aspects.bins(),
    tiny: tiny.report(),
    degenerate: degenerate.report(),
    splitShortfalls: await splitShortfalls(ds, bySplit),
    duplicates: await duplicateContent(db),
    limits: HEALTH_LIMITS,
  };
}
