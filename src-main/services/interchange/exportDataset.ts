import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { AppError } from '../../common/errors';
import { CAPABILITIES, type ExportClass, type ExportFormat, type ExportImage, type ExportReport, type ExportWarning } from '../../common/formats/types';
import type { Split } from '../../common/model';
import type { ExportImageRow } from '../../db/export';
import { geoJsonWriter } from '../geotiff';
import type { Dataset } from '../dataset';
import { isInside, resolveStoredPath } from '../paths';
import { conversionMessage, convertGeometry } from './convert';
import type { FormatWriter, WriteContext } from './types';
import { writeDeidentifiedDicom } from '../dicom/deidentify';
import { createExportTemp, releaseExportTemp, removeStaleExportTemps } from './exportTemp';
import { checkOutDir, placeExport, writeManifest, type ExportedImage, type IfExists } from './exportPlace';
import { liveSource, versionSource, type ExportSource } from './exportSource';
import { checkFrozenFiles, writeVersionFile } from './versionFile';
import { requireVersion } from '../versions';
import { externalImagePaths } from '../../db/images';
import type { Db } from '../../db/open';
import type { Recipe } from '../../common/augment/recipe';
import type { Geometry } from '../../common/model';
import { isAppError } from '../../common/errors';
import type { ExportAnnotationRow } from '../../db/export';
import { decodeForRecipe, encodeRaw, mosaicSource, outputExtension, recipeActive, recipeOutputs, warnCounts, type PipelineAnnotation } from './recipeExport';

export interface ExportOptions {
  outDir: string;
  format: ExportFormat;
  only: 'all' | 'done' | 'reviewed';
  withPredictions: boolean;
  images: 'copy' | 'link' | 'none';
  strict: boolean;
  cocoSegmentation: 'polygon' | 'rle';
  /** A folder that is not empty: refused (the default), overwritten or merged into (see placeExport). */
  ifExists?: IfExists;
  /** Export this frozen version of the dataset instead of its current labels (see services/versions). */
  version?: number;
  /** Preprocessing of every image and augmentation of the train split (common/augment/recipe). */
  recipe?: Pick<Recipe, 'preprocess' | 'augment'>;
  isCancelled?: () => boolean;
  onProgress?: (p: { done: number; total: number }) => void;
}

/** Finds the writer of a format; the default reads the registry (formats/index). */
export type WriterLookup = (opts: Pick<ExportOptions, 'format' | 'cocoSegmentation'>) => Promise<FormatWriter>;

/**
 * The registry imports writers that live beside this file, so it is loaded on first use rather
 * than at module load: neither side then depends on the other's initialisation order.
 */
const registryWriter: WriterLookup = async ({ format, cocoSegmentation }) => {
  if (format === 'coco') {
    const { cocoWriterWith } = await import('./formats/coco');
    return cocoWriterWith({ segmentation: cocoSegmentation });
  }
  const { WRITERS } = await import('./formats/index');
  const w = (WRITERS as Partial<Record<ExportFormat, FormatWriter>>)[format];
  if (!w) throw new AppError('UNSUPPORTED', `no writer for export format ${format}`, { format });
  return w;
};

/**
 * Images read from SQLite per round trip; bounds memory whatever the dataset size. Small, so that
 * a chunk's parsed annotations die young: larger chunks outlive the young generation's
 * collections and cost more in copying than the extra queries do.
 */
const CHUNK = 64;

/**
 * Exports a dataset into a new folder in one format. Geometry the format cannot hold is converted
 * (or, when strict, refused before anything is written), every conversion and drop is counted in
 * the report, and the output appears only when complete: it is written into a temporary sibling
 * folder and renamed into place, so a failed or cancelled export leaves nothing behind; the
 * temporary folders of exports that were killed are removed when the next export starts there.
 * A folder that is not empty is refused unless `ifExists` says to overwrite or merge into it;
 * every export leaves a manifest of the files it wrote there (EXPORT_MANIFEST).
 */
export async function exportDataset(ds: Dataset, opts: ExportOptions, writerFor: WriterLookup = registryWriter): Promise<ExportReport> {
  const t0 = Date.now();
  const db = ds.db;
  const outDir = path.resolve(opts.outDir);
  const ifExists = opts.ifExists ?? 'refuse';
  // The dataset as it is now, or a frozen version of it (services/versions).
  const reader: ExportSource = opts.version === undefined ? liveSource(db) : versionSource(db, await requireVersion(ds, opts.version));
  await checkNotSources(ds, outDir, await reader.externalPaths());
  checkOutDir(outDir, ifExists, { format: opts.format, classes: (await reader.classes()).map((c) => c.name), dataset: ds.uuid });
  const allowed = CAPABILITIES[opts.format];
  if (!allowed) throw new AppError('INVALID_ARGUMENT', `unknown export format ${String(opts.format)}`, { format: opts.format });

  if (opts.strict) {
    const outside = await reader.kindsOutside(opts.only, opts.withPredictions, allowed);
    if (outside.first) {
      const f = outside.first;
      throw new AppError(
        'INVALID_ARGUMENT',
        `strict export to ${opts.format}: ${f.path}: annotation ${f.annotationId} is a ${f.kind}, which ${opts.format} cannot hold; ` +
          `${outside.count} annotation(s) in all would need converting`,
        { path: f.path, imageId: f.imageId, annotationId: f.annotationId, kind: f.kind, count: outside.count },
      );
    }
    const later = await reader.onLaterFrames(opts.only, opts.withPredictions);
    if (later.first) {
      const f = later.first;
      throw new AppError(
        'INVALID_ARGUMENT',
        `strict export to ${opts.format}: ${f.path}: annotation ${f.annotationId} is on frame ${f.frame + 1}, and ${opts.format} holds one picture per image file; ` +
          `${later.count} annotation(s) in all are on frames after the first`,
        { path: f.path, imageId: f.imageId, annotationId: f.annotationId, frame: f.frame, count: later.count },
      );
    }
  }

  // GeoJSON needs each image's georeference from the dataset, which the writer registry does not hold.
  const writer = opts.format === 'geojson' ? geoJsonWriter(async (id) => await reader.geo(id)) : await writerFor(opts);
  const classRecords = await reader.classes();
  // COCO ids a COCO import remembered are written again, so they round-trip.
  const cocoIds = await reader.cocoIds();
  const classes: ExportClass[] = classRecords.map((c, index) => ({ index, name: c.name, color: c.color, cocoId: cocoIds.category(c.id, index), keypoints: c.keypoints }));
  const classIndex = new Map(classRecords.map((c, index) => [c.id, index]));

  const warnings = new Map<string, ExportWarning>();
  const ctx: WriteContext = {
    warn(kind, message) {
      const w = warnings.get(kind);
      if (w) w.count++;
      else warnings.set(kind, { kind, count: 1, message });
    },
  };

  const total = await reader.countImages(opts.only);
  const bySplit: Record<Split | 'none', number> = { train: 0, val: 0, test: 0, none: 0 };
  let imageCount = 0;
  let annotationCount = 0;
  const cancelled = opts.isCancelled ?? (() => false);

  const sources = new Sources(ds.root, ds.externalAllowed);
  // A version's image whose file changed since is refused, before anything is written.
  if (reader.frozenHashes) await checkFrozenFiles(reader, opts.only, (im) => sources.resolve(im), cancelled);

  fs.mkdirSync(path.dirname(outDir), { recursive: true });
  removeStaleExportTemps(path.dirname(outDir));
  const tmp = createExportTemp(outDir);
  const files = new ImageFiles(tmp, opts.images, ctx);
  const names = new UniqueNames();
  const exported: ExportedImage[] = [];

  /** One shape as the format holds it, converted at the size of the image it is written with; null when dropped. */
  function exportAnnotation(a: ExportAnnotationRow, index: number, geometry: Geometry, width: number, height: number): ExportImage['annotations'][number] | null {
    const c = convertGeometry(geometry, allowed, width, height);
    if (c.conversion) ctx.warn(c.conversion, conversionMessage(c.conversion));
    if (!c.geometry) {
      if (c.conversion && !c.conversion.startsWith('unsupported:')) {
        ctx.warn('empty-after-conversion', 'shapes too small to cover a pixel after conversion dropped');
      }
      return null;
    }
    // The row's attributes are its own object, so the common case (no iscrowd) needs no copy.
    let attributes = a.attributes;
    let crowd = false;
    if ('iscrowd' in attributes) {
      const { iscrowd, ...rest } = attributes;
      attributes = rest;
      crowd = iscrowd === true;
    }
    const out: ExportImage['annotations'][number] = { id: a.id, classIndex: index, label: classes[index]!.name, geometry: c.geometry, attributes, source: a.source };
    if (c.geometry === a.geometry) out.geometryJson = a.geometryJson;
    if (crowd) out.crowd = true;
    if (a.score !== null) out.score = a.score;
    return out;
  }

  // Preprocessing and augmentation (a recipe): every image decoded, transformed and written anew.
  const recipe = recipeActive(opts.recipe) ? opts.recipe : null;
  if (recipe && opts.format === 'geojson' && (recipe.augment || recipe.preprocess?.resize || recipe.preprocess?.tile)) {
    throw new AppError('INVALID_ARGUMENT', 'geojson exports keep each image\'s georeference: resizing, tiling and augmentation do not apply to them', { format: opts.format });
  }
  const pipelineAnnotation = (a: ExportAnnotationRow, index: number): PipelineAnnotation => {
    const flipPairs = classes[index]!.keypoints?.flipPairs;
    return flipPairs ? { geometry: a.geometry, flipPairs, row: a, index } : { geometry: a.geometry, row: a, index };
  };
  const mosaic = recipe?.augment?.steps.some((s) => s.op === 'mosaic')
    ? await mosaicSource(
        ds,
        reader,
        opts.only,
        opts.withPredictions,
        recipe,
        (rows) => rows.filter((a) => a.kind !== 'tag' && a.frame === 0 && a.classId !== null && classIndex.has(a.classId)).map((a) => pipelineAnnotation(a, classIndex.get(a.classId!)!)),
        ctx.warn,
      )
    : null;
  const reshape = !!(recipe?.preprocess?.resize || recipe?.preprocess?.grayscale || recipe?.preprocess?.tile);
  let sourcesDone = 0;
  // Tiles and augmented copies are images of their own: ids above every id of the source (and
  // every COCO id it remembers), so a format that numbers images and objects never repeats one.
  // A version's own largest ids, so its export is the same whatever the dataset holds later.
  const derived = { image: 0, annotation: 0, cocoImage: 0 };
  if (recipe) {
    const max = await reader.maxIds();
    derived.image = max.image;
    derived.annotation = max.annotation;
    derived.cocoImage = max.cocoImage + max.image;
  }

  /** The outputs of one image under the recipe, each written as a new file and handed to the writer. */
  async function* recipeImages(im: ExportImageRow, tags: string[], pending: PipelineAnnotation[]): AsyncGenerator<ExportImage> {
    const source = sources.resolve(im);
    sourcesDone++;
    if (!source) {
      ctx.warn('image-outside-root', 'image files whose stored path leads outside the dataset root were not exported');
      return;
    }
    let image;
    try {
      image = await decodeForRecipe(ds, reader, im.id);
    } catch (e) {
      if (isAppError(e) && e.code === 'FILE_MISSING') {
        ctx.warn('missing-image', 'image files missing on disk were not exported (a recipe needs their pixels)');
        return;
      }
      throw e;
    }
    const base = im.path.replace(/\\/g, '/').split('/').pop() || `image_${im.id}`;
    const stem = base.slice(0, base.length - path.extname(base).length);
    const ext = outputExtension(base);
    for await (const o of recipeOutputs({ image, annotations: pending }, im.id, im.split === 'train', recipe!, mosaic)) {
      warnCounts(o.counts, o.stage === 'augment' ? 'augment' : recipe!.preprocess?.tile ? 'tile' : 'resize', ctx.warn);
      const annotations: ExportImage['annotations'] = [];
      for (const t of o.annotations) {
        const out = exportAnnotation(t.row, t.index, t.geometry, o.image.width, o.image.height);
        if (!out) continue;
        if (o.suffix) out.id = ++derived.annotation;
        annotations.push(out);
      }
      if (o.annotations.length > 0 && annotations.length === 0) {
        ctx.warn('dropped-all', `images whose every annotation was dropped in conversion to ${opts.format}: their label files are empty`);
      }
      const name = !reshape && o.suffix === '' ? names.take(im) : names.take({ ...im, path: stem + o.suffix + ext });
      const file = writer.imagePath(name, im.split);
      exported.push({ key: o.suffix ? `${im.path}#${o.suffix.slice(1)}` : im.path, name, image: file });
      const dest = path.join(tmp, ...file.split('/'));
      // Unpreprocessed, the image itself leaves as a plain export's does (copied, linked, oriented or de-identified).
      const asItIs = !reshape && o.suffix === '';
      if (asItIs) await files.put(im, source, file);
      else if (opts.images !== 'none') {
        fs.mkdirSync(path.dirname(dest), { recursive: true });
        await fs.promises.writeFile(dest, await encodeRaw(o.image, ext));
      }
      imageCount++;
      annotationCount += annotations.length;
      bySplit[im.split ?? 'none']++;
      const ids = o.suffix ? { id: ++derived.image, cocoId: ++derived.cocoImage } : { id: im.id, cocoId: cocoIds.image(im.id) };
      yield { ...ids, file, source: asItIs ? source : dest, width: o.image.width, height: o.image.height, split: im.split, tags, annotations };
    }
    if (opts.onProgress && (sourcesDone % 8 === 0 || sourcesDone === total)) opts.onProgress({ done: sourcesDone, total });
  }

  async function* images(): AsyncGenerator<ExportImage> {
    let after = 0;
    for (;;) {
      const chunk = await reader.readChunk(opts.only, opts.withPredictions, after, CHUNK);
      if (chunk.images.length === 0) return;
      for (const im of chunk.images) {
        if (cancelled()) throw new AppError('CANCELLED', 'export cancelled');
        after = im.id;
        const tags: string[] = [];
        const annotations: ExportImage['annotations'] = [];
        const pending: PipelineAnnotation[] = [];
        // Without preprocessing, only train images change (their augmented copies); the rest export as they are.
        const viaRecipe = recipe !== null && (reshape || im.split === 'train');
        let shapes = 0;
        for (const a of chunk.annotations.get(im.id) ?? []) {
          const index = a.classId === null ? undefined : classIndex.get(a.classId);
          if (index === undefined) {
            ctx.warn('unclassified', 'annotations without a class dropped: every format names a class per object');
            continue;
          }
          const name = classes[index]!.name;
          if (a.kind === 'tag') {
            if (!tags.includes(name)) tags.push(name);
            continue;
          }
          // The exported file is one picture (a DICOM's or TIFF's first frame as image viewers
          // show it): a shape drawn on another frame would land on the wrong pixels.
          if (a.frame > 0) {
            ctx.warn('later-frame', `shapes on frames after the first of multi-frame images dropped: ${opts.format} holds one picture per image file`);
            continue;
          }
          shapes++;
          // With a recipe, shapes are converted after their geometry is transformed, per output.
          if (viaRecipe) {
            pending.push(pipelineAnnotation(a, index));
            continue;
          }
          const out = exportAnnotation(a, index, a.geometry, im.width, im.height);
          if (out) annotations.push(out);
        }
        if (viaRecipe) {
          yield* recipeImages(im, tags, pending);
          continue;
        }
        if (shapes > 0 && annotations.length === 0) {
          ctx.warn('dropped-all', `images whose every annotation was dropped in conversion to ${opts.format}: their label files are empty`);
        }
        const name = names.take(im);
        const split = im.split;
        const file = writer.imagePath(name, split);
        exported.push({ key: im.path, name, image: file });
        // Resolving follows links on disk; an export without image files whose writer never
        // reads them (most formats) need not do it for every image.
        let resolved: string | null | undefined;
        const source = () => (resolved === undefined ? (resolved = sources.resolve(im)) : resolved);
        if (opts.images !== 'none') await files.put(im, source(), file);
        imageCount++;
        annotationCount += annotations.length;
        bySplit[split ?? 'none']++;
        yield {
          id: im.id,
          file,
          get source() {
            return source() ?? '';
          },
          width: im.width,
          height: im.height,
          split,
          tags,
          annotations,
          cocoId: cocoIds.image(im.id),
        };
        // With a recipe, progress counts the dataset's images, not the outputs made of them.
        const done = recipe ? ++sourcesDone : imageCount;
        if (opts.onProgress && (done % 64 === 0 || done === total)) opts.onProgress({ done, total });
      }
    }
  }

  try {
    const written = await writer.write(tmp, classes, images(), ctx);
    if (cancelled()) throw new AppError('CANCELLED', 'export cancelled');
    await writeVersionFile(tmp, ds, reader.version, opts);
    writeManifest(
      tmp,
      opts.format,
      [],
      classes.map((c) => c.name),
      exported,
      ds.uuid,
    );
    const exportedImages = new Set(exported.map((e) => derivedOf(e.key) ?? e.key));
    await placeExport(tmp, outDir, ifExists, {
      expect: { format: opts.format, classes: classes.map((c) => c.name), dataset: ds.uuid },
      inDataset: async (key) => {
        if (await reader.hasPath(key)) return true;
        // A tile or augmented copy ("<path>#t0003", "<path>#aug1") is kept with its image when this
        // export leaves the image out; when it exports the image again, copies it no longer makes go.
        const image = derivedOf(key);
        return image !== null && !exportedImages.has(image) && await reader.hasPath(image);
      },
    });
    // A merge leaves the emptied temporary folders behind.
    fs.rmSync(tmp, { recursive: true, force: true, maxRetries: 3 });
    opts.onProgress?.(recipe ? { done: sourcesDone, total } : { done: imageCount, total });
    return {
      format: opts.format,
      outDir,
      images: imageCount,
      annotations: annotationCount,
      bySplit,
      files: written.files,
      emptyLabelFiles: written.emptyLabelFiles,
      warnings: [...warnings.values()],
      elapsedMs: Date.now() - t0,
    };
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true, maxRetries: 3 });
    throw e;
  } finally {
    releaseExportTemp(tmp);
  }
}

/** The image a tile's or augmented copy's manifest key ("<path>#t0003_aug1") belongs to; null for an image's own key. */
function derivedOf(key: string): string | null {
  const m = /#(t\d{4})?_?(aug\d+)?$/.exec(key);
  return m && (m[1] || m[2]) ? key.slice(0, m.index) : null;
}

function realOrSelf(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch {
    return p;
  }
}

/**
 * Refuses to overwrite or merge into a folder that holds the dataset's own images: the dataset
 * folder itself or one above it, a folder holding an image of the dataset, or a folder inside one
 * that holds images from outside the dataset folder. An export into a new or empty folder (a
 * subfolder of the dataset folder, say) is not affected.
 */
export async function checkNotSources(ds: Pick<Dataset, 'root' | 'db'>, outDir: string, known?: readonly string[]): Promise<void> {
  const externalPaths = known ?? (await externalImagePaths(ds.db));
  let entries: string[];
  try {
    entries = fs.readdirSync(outDir);
  } catch {
    return;
  }
  if (entries.length === 0) return;
  const out = realOrSelf(outDir);
  const root = realOrSelf(ds.root);
  const refuse = (why: string, file?: string) => {
    throw new AppError('INVALID_ARGUMENT', `${outDir}: ${why}; an export there could replace or delete them, so choose another folder`, {
      path: outDir,
      sources: true,
      ...(file ? { file } : {}),
    });
  };
  if (isInside(out, root)) refuse(out === root ? 'is the dataset folder, which holds its images' : 'holds the dataset folder and its images');
  if (isInside(root, out)) {
    const rel = path.relative(root, out).split(path.sep).join('/');
    const hit = await internalUnder(ds.db, rel);
    if (hit) refuse(`holds the dataset's image ${hit}`, hit);
  }
  for (const stored of externalPaths) {
    let file: string;
    try {
      file = realOrSelf(resolveStoredPath(ds.root, stored, true));
    } catch {
      continue;
    }
    if (isInside(out, file)) refuse(`holds the dataset's image ${file}`, file);
    if (isInside(path.dirname(file), out)) refuse(`is inside ${path.dirname(file)}, which holds the dataset's image ${path.basename(file)}`, file);
  }
}

async function internalUnder(db: Db, rel: string): Promise<string | null> {
  const like = `${rel.replace(/[\\%_]/g, (c) => `\\${c}`)}/%`;
  return (await db.prepare("SELECT path FROM images WHERE external = 0 AND path LIKE ? ESCAPE '\\' LIMIT 1").pluck().get(like) as string | undefined) ?? null;
}

/**
 * Resolves stored image paths like resolveStoredPath (never outside the root, links included),
 * with the root's real path looked up once instead of once per image.
 */
class Sources {
  private realRoot: string;

  constructor(
    private root: string,
    private externalAllowed: ((absFile: string) => boolean) | null = null,
  ) {
    try {
      this.realRoot = fs.realpathSync(root);
    } catch {
      this.realRoot = root;
    }
  }

  /** The image's file on disk, or null when its stored path or a link leads outside the root. */
  resolve(im: Pick<ExportImageRow, 'path' | 'external'>): string | null {
    if (im.external) {
      try {
        const file = resolveStoredPath(this.root, im.path, true);
        return this.externalAllowed && !this.externalAllowed(file) ? null : file;
      } catch {
        return null;
      }
    }
    if (path.isAbsolute(im.path) || /^[a-zA-Z]:/.test(im.path)) return null;
    const abs = path.resolve(this.root, im.path);
    if (!isInside(this.root, abs)) return null;
    let real: string;
    try {
      real = fs.realpathSync(abs);
    } catch {
      return abs; // missing on disk: copying reports it
    }
    return isInside(this.realRoot, real) ? abs : null;
  }
}

/**
 * Output file names: an image keeps its own name unless an earlier image of the export took its
 * stem (two folders may both hold "img_001.jpg", and "a.jpg" and "a.png" would share the label
 * file "a.txt"); then its id makes it unique. Compared without case, for case-insensitive file
 * systems.
 */
class UniqueNames {
  private used = new Set<string>();

  take(im: ExportImageRow): string {
    const base = im.path.replace(/\\/g, '/').split('/').pop() || `image_${im.id}`;
    const ext = path.extname(base);
    let stem = base.slice(0, base.length - ext.length);
    if (this.used.has(stem.toLowerCase())) stem = `${stem}_${im.id}`;
    while (this.used.has(stem.toLowerCase())) stem += '_';
    this.used.add(stem.toLowerCase());
    return stem + ext;
  }
}

/** Puts image files into the export: copied, hard-linked, or not at all. */
class ImageFiles {
  private dirs = new Set<string>();

  constructor(
    private outDir: string,
    private mode: ExportOptions['images'],
    private ctx: WriteContext,
  ) {}

  async put(im: ExportImageRow, source: string | null, file: string): Promise<void> {
    if (this.mode === 'none') return;
    if (!source) {
      this.ctx.warn('image-outside-root', 'image files whose stored path leads outside the dataset root were not copied');
      return;
    }
    const dest = path.join(this.outDir, ...file.split('/'));
    const dir = path.dirname(dest);
    if (!this.dirs.has(dir)) {
      fs.mkdirSync(dir, { recursive: true });
      this.dirs.add(dir);
    }
    try {
      // Coordinates refer to the oriented image: a raw copy of a rotated JPEG would not match them.
      // DICOM leaves with patient and visit identifiers blanked, never as a copy or link. The
      // stored format decides (the importer recognises DICOM by content, whatever the name).
      if (im.format === 'dicom') await writeDeidentifiedDicom(source, dest);
      else if (im.orientation !== 1) await sharp(source).rotate().toFile(dest);
      else if (this.mode === 'link') await linkOrCopy(source, dest);
      else await fs.promises.copyFile(source, dest);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
        this.ctx.warn('missing-image', 'image files missing on disk were not copied (their annotations are written)');
        return;
      }
      throw new AppError('INTERNAL', `${im.path}: cannot write ${file}: ${(e as Error).message}`, { path: im.path });
    }
  }
}

async function linkOrCopy(source: string, dest: string): Promise<void> {
  try {
    await fs.promises.link(source, dest);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // Hard links cannot cross file systems (EXDEV) and some file systems refuse them outright.
    if (code === 'EXDEV' || code === 'EPERM' || code === 'ENOTSUP' || code === 'EMLINK') await fs.promises.copyFile(source, dest);
    else throw e;
  }
}
