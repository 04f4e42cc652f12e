import fs from 'node:fs';
import path from 'node:path';
import { AppError } from '../common/errors';
import { parseSamManifest } from '../common/inference/samManifest';
import type { DownloadProgress } from '../common/prelabel';
import type { ModelFileRef, SamManifest, SamModelEntry } from '../common/segment';
import { fetchToFile, recordedSha256 } from './download';
import { defaultManifestDir } from './models';

/**
 * The registry of prompt-driven segmentation models (SAM family): manifests shipped in
 * `models/interactive/*.json`, plus custom encoder/decoder pairs the user added, remembered in
 * `<configDir>/custom-sam-models.json`. Files named by URL are downloaded into
 * `<configDir>/models/interactive/` as `<id>.encoder.onnx` and `<id>.decoder.onnx`, and both are
 * put in place only once both arrived and matched their sha256.
 */

export type { SamModelEntry };

function readJson(file: string): unknown {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
  } catch (e) {
    throw new AppError('INVALID_ARGUMENT', `${file}: cannot be read as JSON: ${(e as Error).message}`, { file });
  }
}

const resolveRef = (ref: ModelFileRef, dir: string): ModelFileRef => (ref.file && !path.isAbsolute(ref.file) ? { ...ref, file: path.resolve(dir, ref.file) } : ref);

/** Reads an interactive-segmentation manifest; relative file paths are resolved against its folder. */
export function readSamManifestFile(file: string): SamManifest {
  if (!fs.existsSync(file)) throw new AppError('FILE_NOT_FOUND', `${file}: does not exist`, { path: file });
  const m = parseSamManifest(readJson(file), file);
  const dir = path.dirname(path.resolve(file));
  return { ...m, encoder: resolveRef(m.encoder, dir), decoder: resolveRef(m.decoder, dir) };
}

export interface SamModelRegistryOptions {
  /** Folder of the shipped manifests (`models/interactive/`). */
  manifestDir: string;
  /** Per-user folder: custom pair list and downloaded files. */
  configDir: string;
}

export interface SamDownloadOptions {
  /** Bytes received over both files; total once both servers said their sizes (else null). */
  onProgress?: (p: DownloadProgress) => void;
  isCancelled?: () => boolean;
  fetch?: typeof fetch;
}

type Part = 'encoder' | 'decoder';
const PARTS: Part[] = ['encoder', 'decoder'];

export class SamModelRegistry {
  constructor(private readonly opts: SamModelRegistryOptions) {}

  get cacheDir(): string {
    return path.join(this.opts.configDir, 'models', 'interactive');
  }

  private get customFile(): string {
    return path.join(this.opts.configDir, 'custom-sam-models.json');
  }

  private cached(id: string, part: Part): string {
    return path.join(this.cacheDir, `${id}.${part}.onnx`);
  }

  private builtin(): SamManifest[] {
    if (!fs.existsSync(this.opts.manifestDir)) return [];
    return fs
      .readdirSync(this.opts.manifestDir)
      .filter((f) => f.endsWith('.json'))
      .sort()
      .map((f) => readSamManifestFile(path.join(this.opts.manifestDir, f)));
  }

  private custom(): SamManifest[] {
    if (!fs.existsSync(this.customFile)) return [];
    const list = readJson(this.customFile);
    if (!Array.isArray(list)) throw new AppError('INVALID_ARGUMENT', `${this.customFile}: is not a list of manifests`, { file: this.customFile });
    return list.map((m, i) => parseSamManifest(m, `${this.customFile}[${i}]`));
  }

  /** Where one file of a model is on disk: its own path when it exists, else the downloaded copy, else null. */
  private located(m: SamManifest, part: Part): string | null {
    const own = m[part].file;
    if (own && fs.existsSync(own)) return own;
    const cached = this.cached(m.id, part);
    return m[part].url && fs.existsSync(cached) ? cached : null;
  }

  private entry(manifest: SamManifest, origin: SamModelEntry['origin']): SamModelEntry {
    return {
      manifest,
      origin,
      encoderPath: this.located(manifest, 'encoder'),
      decoderPath: this.located(manifest, 'decoder'),
      downloadable: Boolean(manifest.encoder.url || manifest.decoder.url),
    };
  }

  /** Shipped models first, then custom ones; a custom id never shadows a shipped one. */
  list(): SamModelEntry[] {
    const builtin = this.builtin();
    const taken = new Set(builtin.map((m) => m.id));
    return [...builtin.map((m) => this.entry(m, 'builtin')), ...this.custom().filter((m) => !taken.has(m.id)).map((m) => this.entry(m, 'custom'))];
  }

  get(id: string): SamModelEntry {
    const e = this.list().find((x) => x.manifest.id === id);
    if (!e) throw new AppError('NOT_FOUND', `segmentation model "${id}" is not in the registry`, { id });
    return e;
  }

  /** Both files of a model, or a NOT_FOUND saying how to get the missing one(s). */
  requireFiles(id: string): { manifest: SamManifest; encoderPath: string; decoderPath: string } {
    const e = this.get(id);
    if (e.encoderPath && e.decoderPath) return { manifest: e.manifest, encoderPath: e.encoderPath, decoderPath: e.decoderPath };
    const missing = PARTS.filter((p) => !(p === 'encoder' ? e.encoderPath : e.decoderPath));
    const how = missing.map((p) => {
      const ref = e.manifest[p];
      if (ref.url) return `its ${p} is not downloaded yet (download it from ${ref.url})`;
      return `its ${p} file ${ref.file ?? ''} is missing${e.manifest.notes ? ` (${e.manifest.notes})` : ''}`;
    });
    throw new AppError('NOT_FOUND', `segmentation model "${id}": ${how.join('; ')}`, { id, missing, downloadable: missing.every((p) => Boolean(e.manifest[p].url)) });
  }

  /**
   * Remembers a custom pair; both files must exist and are stored by absolute path. Re-adding the
   * same two files under their id replaces that entry. An id taken by a shipped model, or by a
   * custom entry of other files, is refused; with `proposedId` (an id proposed from the file
   * names rather than chosen) the first free one of `id`, `id-2`, `id-3` … is taken instead.
   */
  add(encoder: string, decoder: string, manifest: SamManifest, opts: { proposedId?: boolean } = {}): SamModelEntry {
    const enc = path.resolve(encoder);
    const dec = path.resolve(decoder);
    for (const f of [enc, dec]) if (!fs.existsSync(f)) throw new AppError('FILE_NOT_FOUND', `${f}: does not exist`, { path: f });
    let m = parseSamManifest({ ...manifest, encoder: { file: enc }, decoder: { file: dec } }, enc);
    const shipped = new Set(this.builtin().map((b) => b.id));
    const custom = this.custom();
    const sameFiles = (c: SamManifest) => c.encoder.file === enc && c.decoder.file === dec;
    const free = (id: string) => !shipped.has(id) && custom.every((c) => c.id !== id || sameFiles(c));
    if (opts.proposedId) {
      let n = 1;
      while (!free(n === 1 ? m.id : `${m.id}-${n}`)) n++;
      if (n > 1) m = { ...m, id: `${m.id}-${n}` };
    } else {
      if (shipped.has(m.id)) throw new AppError('INVALID_ARGUMENT', `segmentation model id "${m.id}" is taken by a shipped model`, { id: m.id });
      const other = custom.find((c) => c.id === m.id && !sameFiles(c));
      if (other) {
        const files = `${other.encoder.file ?? other.encoder.url ?? '?'} + ${other.decoder.file ?? other.decoder.url ?? '?'}`;
        throw new AppError('INVALID_ARGUMENT', `segmentation model id "${m.id}" is taken by the custom pair ${files}; give the manifest another id`, { id: m.id, encoder: other.encoder.file ?? null, decoder: other.decoder.file ?? null });
      }
    }
    const rest = custom.filter((c) => c.id !== m.id);
    fs.mkdirSync(this.opts.configDir, { recursive: true });
    // Written beside and renamed, so a crash mid-write never leaves a half list behind.
    const tmp = `${this.customFile}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify([...rest, m], null, 2));
    fs.renameSync(tmp, this.customFile);
    return this.entry(m, 'custom');
  }

  /**
   * Downloads the files of a model that are named by URL and not yet on disk, both at once, into
   * the cache. Each is written beside its final name and checked against its sha256 (the
   * manifest's, else the one recorded by the first download); only when every file arrived and
   * matched are they renamed into place, so a mismatch, a failure or a cancel leaves nothing.
   */
  async download(id: string, opts: SamDownloadOptions = {}): Promise<SamModelEntry> {
    const e = this.get(id);
    const todo = PARTS.filter((p) => e.manifest[p].url && !this.located(e.manifest, p));
    if (!e.downloadable) throw new AppError('INVALID_ARGUMENT', `segmentation model "${id}" has no download URL`, { id });
    if (todo.length === 0) return e;
    fs.mkdirSync(this.cacheDir, { recursive: true });
    const received: Record<Part, number> = { encoder: 0, decoder: 0 };
    const totals: Record<Part, number | null | undefined> = { encoder: undefined, decoder: undefined };
    for (const p of PARTS) if (!todo.includes(p)) totals[p] = 0;
    const report = () => {
      const known = PARTS.every((p) => typeof totals[p] === 'number');
      opts.onProgress?.({ id, received: received.encoder + received.decoder, total: known ? totals.encoder! + totals.decoder! : null });
    };
    let failed = false;
    const jobs = todo.map((p) => {
      const final = this.cached(id, p);
      const record = `${final}.sha256`;
      const expected = e.manifest[p].sha256 ?? recordedSha256(record);
      return {
        part: p,
        final,
        record,
        expected,
        run: fetchToFile({
          url: e.manifest[p].url!,
          part: `${final}.part`,
          sha256: expected,
          what: `segmentation model "${id}" ${p}`,
          detail: { id, part: p },
          cancelMessage: `download of "${id}" cancelled`,
          onStart: (total) => {
            totals[p] = total;
          },
          onProgress: (n) => {
            received[p] = n;
            report();
          },
          // A failure of one file stops the other: the pair arrives whole or not at all.
          isCancelled: () => failed || Boolean(opts.isCancelled?.()),
          fetch: opts.fetch,
        }).catch((err: unknown) => {
          failed = true;
          throw err;
        }),
      };
    });
    const results = await Promise.allSettled(jobs.map((j) => j.run));
    const cleanup = () => {
      for (const j of jobs) fs.rmSync(`${j.final}.part`, { force: true });
    };
    const errors = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    if (errors.length > 0) {
      cleanup();
      // The first real failure, not the cancel it caused in the other file.
      throw errors.find((x) => !(x instanceof AppError && x.code === 'CANCELLED')) ?? errors[0];
    }
    try {
      jobs.forEach((j, i) => {
        const r = results[i] as PromiseFulfilledResult<{ sha256: string }>;
        if (j.expected === null) fs.writeFileSync(j.record, `${r.value.sha256}\n`);
      });
      for (const j of jobs) fs.renameSync(`${j.final}.part`, j.final);
    } catch (err) {
      cleanup();
      throw err;
    }
    return this.entry(e.manifest, e.origin);
  }
}

/** Where the shipped interactive-segmentation manifests are: `interactive/` in the models folder. */
export function defaultSamManifestDir(): string {
  return path.join(defaultManifestDir(), 'interactive');
}
