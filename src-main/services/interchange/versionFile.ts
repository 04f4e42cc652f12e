import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { version as TOOL_VERSION } from '../../../package.json';
import { AppError } from '../../common/errors';
import type { Recipe } from '../../common/augment/recipe';
import type { VersionRecord } from '../../common/versions';
import type { ExportImageRow, ExportScope } from '../../db/export';
import type { Dataset } from '../dataset';
import { EXPORT_MANIFEST, EXPORT_MARKER, filesUnder } from './exportPlace';
import type { ExportSource } from './exportSource';

/**
 * Every export folder holds this file: the dataset and version exported, the export settings and
 * recipe, the tool's version, and the sha256 of every file the export wrote (paths relative to the
 * folder, `/`-separated; the file itself and the export manifest left out). It holds no time, so
 * exporting a version twice gives the same file.
 */
export const VERSION_FILE = 'tessera-version.json';

export async function sha256File(file: string): Promise<string> {
  const hash = crypto.createHash('sha256');
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Files up to this size are read whole to be hashed (one read instead of a stream). */
const WHOLE_READ = 64 << 20;

/** The file's sha256, or null when it does not exist. */
async function sha256OrNull(file: string): Promise<string | null> {
  let fh: fs.promises.FileHandle;
  try {
    fh = await fs.promises.open(file, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  try {
    if ((await fh.stat()).size > WHOLE_READ) return await sha256File(file);
    return crypto.createHash('sha256').update(await fh.readFile()).digest('hex');
  } finally {
    await fh.close();
  }
}

/** Images hashed at once by checkFrozenFiles: reads overlap, on fast disks and network shares alike. */
const HASH_CONCURRENCY = 8;

export interface VersionFile {
  writer: 'tessera';
  tool: { name: 'tessera'; version: string };
  dataset: { uuid: string; name: string };
  version: { number: number; name: string; note: string; createdAt: number; withPredictions: boolean } | null;
  format: string;
  options: { only: string; withPredictions: boolean; images: string; strict: boolean; cocoSegmentation: string };
  /** The export's whole recipe: given back to `tessera export --recipe`, it makes the same export. */
  recipe: Recipe;
  files: Record<string, string>;
}

/** Writes VERSION_FILE into the finished export in `dir` (before its manifest, which then lists it). */
export async function writeVersionFile(
  dir: string,
  ds: Pick<Dataset, 'uuid' | 'name'>,
  version: VersionRecord | null,
  opts: { format: string; only: string; withPredictions: boolean; images: string; strict: boolean; cocoSegmentation: string; recipe?: unknown },
): Promise<void> {
  const rels = filesUnder(dir, [VERSION_FILE, EXPORT_MANIFEST, EXPORT_MARKER]);
  const hashes = new Array<string>(rels.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < rels.length) {
      const i = next++;
      const file = path.join(dir, ...rels[i]!.split('/'));
      const h = await sha256OrNull(file);
      if (h === null) {
        next = rels.length;
        throw new AppError('INTERNAL', `${file}: vanished from the export before it was hashed`, { path: file });
      }
      hashes[i] = h;
    }
  };
  await Promise.all(Array.from({ length: Math.min(HASH_CONCURRENCY, rels.length) }, worker));
  const files: Record<string, string> = {};
  rels.forEach((rel, i) => (files[rel] = hashes[i]!));
  const out: VersionFile = {
    writer: 'tessera',
    tool: { name: 'tessera', version: TOOL_VERSION },
    dataset: { uuid: ds.uuid, name: ds.name },
    version: version
      ? { number: version.number, name: version.name, note: version.note, createdAt: version.createdAt, withPredictions: version.withPredictions }
      : null,
    format: opts.format,
    options: { only: opts.only, withPredictions: opts.withPredictions, images: opts.images, strict: opts.strict, cocoSegmentation: opts.cocoSegmentation },
    recipe: fullRecipe(opts),
    files,
  };
  fs.writeFileSync(path.join(dir, VERSION_FILE), `${JSON.stringify(out, null, 1)}\n`);
}

/**
 * The whole recipe of an export (common/augment/recipe): its format and scope as well as its
 * preprocessing and augmentation, so the file given back as `--recipe` makes the same export.
 * An export without preprocessing or augmentation records an empty preprocessing.
 */
function fullRecipe(opts: { format: string; only: string; withPredictions: boolean; cocoSegmentation: string; recipe?: unknown }): Recipe {
  const parts = (opts.recipe ?? {}) as Partial<Pick<Recipe, 'preprocess' | 'augment'>>;
  const out: Recipe = {
    recipe: 1,
    format: opts.format as Recipe['format'],
    only: opts.only as Recipe['only'],
    withPredictions: opts.withPredictions,
    cocoSegmentation: opts.cocoSegmentation as Recipe['cocoSegmentation'],
    preprocess: parts.preprocess ?? { grayscale: false },
  };
  if (parts.augment) out.augment = parts.augment;
  return out;
}

/**
 * Refuses to export a version when an image file of it changed on disk since it was frozen (its
 * content hash differs): the export would pair the old labels with another picture. The error
 * names the files (the first ten, and how many in all). A missing file is left to the export,
 * which writes the labels and counts it as missing, as for the dataset now.
 */
export async function checkFrozenFiles(
  source: ExportSource,
  scope: ExportScope,
  resolve: (im: Pick<ExportImageRow, 'path' | 'external'>) => string | null,
  cancelled: () => boolean,
): Promise<void> {
  const images = await source.frozenHashes?.(scope) ?? [];
  const differs = new Array<boolean>(images.length).fill(false);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < images.length) {
      if (cancelled()) {
        next = images.length;
        throw new AppError('CANCELLED', 'export cancelled');
      }
      const i = next++;
      const im = images[i]!;
      const file = resolve(im);
      if (!file) continue;
      let hash: string | null;
      try {
        hash = await sha256OrNull(file);
      } catch (e) {
        next = images.length; // the other workers stop too
        throw new AppError('FILE_MISSING', `${im.path}: cannot read it to check it against version ${source.version?.number}: ${(e as Error).message}`, { path: im.path });
      }
      differs[i] = hash !== null && hash !== im.contentHash;
    }
  };
  await Promise.all(Array.from({ length: Math.min(HASH_CONCURRENCY, images.length) }, worker));
  const changed = images.filter((_, i) => differs[i]).map((im) => im.path);
  if (changed.length === 0) return;
  const v = source.version!;
  throw new AppError(
    'FILE_CHANGED',
    `version ${v.number} (${v.name}): ${changed.length} image file(s) changed on disk since the version was made, so its labels no longer fit them: ` +
      `${changed.slice(0, 10).join(', ')}${changed.length > 10 ? ', …' : ''}; restore those files, or export the dataset as it is now`,
    { version: v.number, files: changed.slice(0, 100), count: changed.length },
  );
}
