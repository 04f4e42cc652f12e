import fs from 'node:fs';
import path from 'node:path';
import { AppError } from '../common/errors';
import { parseManifest, proposeManifest } from '../common/inference/manifest';
import type { ModelManifest, ModelTask } from '../common/inference/types';
import type { ModelInspection } from '../inference/inspect';
import type { DownloadProgress, ModelEntry } from '../common/prelabel';
import { fetchToFile, recordedSha256 } from './download';

/**
 * The model registry: manifests shipped in `models/*.json`, plus custom models the user added,
 * remembered in `<configDir>/custom-models.json`. Weights named by URL are downloaded into
 * `<configDir>/models/` and kept only when their sha256 matches the manifest.
 */

export type { DownloadProgress, ModelEntry };
export { parseManifest };

function readJson(file: string): unknown {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
  } catch (e) {
    throw new AppError('INVALID_ARGUMENT', `${file}: cannot be read as JSON: ${(e as Error).message}`, { file });
  }
}

/**
 * Class names from a labels file: a JSON list of names, a JSON object of index -> name (as
 * Ultralytics and torchvision write them), or text with one name per line (blank lines at the end
 * ignored). A file that is none of these fails naming the file.
 */
export function readLabelsFile(file: string): string[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'FILE_NOT_FOUND' : 'INVALID_ARGUMENT';
    throw new AppError(code, `${file}: labels file cannot be read: ${(e as Error).message}`, { path: file });
  }
  const bad = (why: string): AppError => new AppError('INVALID_ARGUMENT', `${file}: not a labels file: ${why}`, { path: file });
  let names: unknown[];
  if (/\.json$/i.test(file) || /^\s*[[{]/.test(text)) {
    let json: unknown;
    try {
      json = JSON.parse(text) as unknown;
    } catch (e) {
      throw bad(`cannot be read as JSON: ${(e as Error).message}`);
    }
    if (Array.isArray(json)) names = json;
    else if (json && typeof json === 'object') {
      const entries = Object.entries(json as Record<string, unknown>);
      if (entries.some(([k], i) => k !== String(i))) throw bad('a JSON object of labels must have the keys "0", "1", ... in order');
      names = entries.map(([, v]) => v);
    } else throw bad('expected a JSON list of names');
  } else {
    names = text.replace(/^\uFEFF/, '').split(/\r?\n/).map((l) => l.trim());
    while (names.length > 0 && names[names.length - 1] === '') names.pop();
  }
  if (names.length === 0) throw bad('it holds no names');
  const blank = names.findIndex((n) => typeof n !== 'string' || n.trim() === '');
  if (blank >= 0) throw bad(`entry ${blank} (line ${blank + 1}) is not a name: ${JSON.stringify(names[blank])}`);
  return (names as string[]).map((n) => n.trim());
}

/**
 * Fills `classes` from the manifest's labels file, resolved relative to `baseDir`. A manifest
 * giving both must give the same number of names.
 */
export function withLabels(m: ModelManifest, baseDir: string, what: string): ModelManifest {
  if (!m.labels) return m;
  const file = path.resolve(baseDir, m.labels);
  const names = readLabelsFile(file);
  if (m.classes.length > 0 && m.classes.length !== names.length) {
    throw new AppError('INVALID_ARGUMENT', `${what}: lists ${m.classes.length} classes but its labels file ${file} holds ${names.length} names`, { path: file });
  }
  return { ...m, labels: file, classes: m.classes.length > 0 ? m.classes : names };
}

export function readManifestFile(file: string): ModelManifest {
  if (!fs.existsSync(file)) throw new AppError('FILE_NOT_FOUND', `${file}: does not exist`, { path: file });
  const m = withLabels(parseManifest(readJson(file), file), path.dirname(file), file);
  // A relative weights path is relative to the manifest, so a manifest and its model travel together.
  return m.file && !path.isAbsolute(m.file) ? { ...m, file: path.resolve(path.dirname(file), m.file) } : m;
}

export interface ModelRegistryOptions {
  /** Folder of the shipped manifests (`models/`). */
  manifestDir: string;
  /** Per-user folder: custom model list and downloaded weights. */
  configDir: string;
}

export class ModelRegistry {
  constructor(private readonly opts: ModelRegistryOptions) {}

  get cacheDir(): string {
    return path.join(this.opts.configDir, 'models');
  }

  private get customFile(): string {
    return path.join(this.opts.configDir, 'custom-models.json');
  }

  private builtin(): ModelManifest[] {
    if (!fs.existsSync(this.opts.manifestDir)) return [];
    return fs
      .readdirSync(this.opts.manifestDir)
      .filter((f) => f.endsWith('.json'))
      .sort()
      .map((f) => readManifestFile(path.join(this.opts.manifestDir, f)));
  }

  private custom(): ModelManifest[] {
    if (!fs.existsSync(this.customFile)) return [];
    const list = readJson(this.customFile);
    if (!Array.isArray(list)) throw new AppError('INVALID_ARGUMENT', `${this.customFile}: is not a list of manifests`, { file: this.customFile });
    return list.map((m, i) => {
      const what = `${this.customFile}[${i}]`;
      const parsed = parseManifest(m, what);
      return parsed.classes.length > 0 ? parsed : withLabels(parsed, this.opts.configDir, what);
    });
  }

  private entry(manifest: ModelManifest, origin: ModelEntry['origin']): ModelEntry {
    const cached = path.join(this.cacheDir, `${manifest.id}.onnx`);
    const onDisk = manifest.file && fs.existsSync(manifest.file) ? manifest.file : fs.existsSync(cached) ? cached : null;
    return { manifest, origin, path: onDisk, downloadable: Boolean(manifest.url) };
  }

  /** Custom models come after the shipped ones; a custom id never shadows a shipped one. */
  list(): ModelEntry[] {
    return [...this.builtin().map((m) => this.entry(m, 'builtin')), ...this.custom().map((m) => this.entry(m, 'custom'))];
  }

  get(id: string): ModelEntry {
    const e = this.list().find((x) => x.manifest.id === id);
    if (!e) throw new AppError('NOT_FOUND', `model "${id}" is not in the registry`, { id });
    return e;
  }

  /** The weights of a model, or a NOT_FOUND saying how to get them. */
  requireFile(id: string): { manifest: ModelManifest; path: string } {
    const e = this.get(id);
    if (!e.path) {
      throw new AppError('NOT_FOUND', e.downloadable ? `model "${id}" is not downloaded yet` : `model "${id}": its file ${e.manifest.file ?? ''} is missing`, { id });
    }
    return { manifest: e.manifest, path: e.path };
  }

  /** Remembers a custom model; its file must exist. Re-adding an id replaces that custom entry. */
  add(file: string, manifest: ModelManifest): ModelEntry {
    const abs = path.resolve(file);
    if (!fs.existsSync(abs)) throw new AppError('FILE_NOT_FOUND', `${abs}: does not exist`, { path: abs });
    const parsed = parseManifest({ ...manifest, file: abs }, abs);
    // The names are stored with the model, so a labels file moved later does not lose them.
    const m = parsed.classes.length > 0 ? parsed : withLabels(parsed, path.dirname(abs), abs);
    if (this.builtin().some((b) => b.id === m.id)) throw new AppError('INVALID_ARGUMENT', `model id "${m.id}" is taken by a shipped model`, { id: m.id });
    const rest = this.custom().filter((c) => c.id !== m.id);
    fs.mkdirSync(this.opts.configDir, { recursive: true });
    const tmp = `${this.customFile}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify([...rest, m], null, 2));
    fs.renameSync(tmp, this.customFile);
    return this.entry(m, 'custom');
  }

  /**
   * Downloads a model's weights into the cache. The file is written beside its final name and
   * renamed only once its sha256 matches, so a mismatch, a failure or a cancel leaves nothing.
   */
  async download(id: string, opts: { onProgress?: (p: DownloadProgress) => void; isCancelled?: () => boolean; fetch?: typeof fetch } = {}): Promise<ModelEntry> {
    const e = this.get(id);
    const { url } = e.manifest;
    if (!url) throw new AppError('INVALID_ARGUMENT', `model "${id}" has no download URL`, { id });
    fs.mkdirSync(this.cacheDir, { recursive: true });
    const final = path.join(this.cacheDir, `${id}.onnx`);
    const part = `${final}.part`;
    // Without a checksum in the manifest the first download's is recorded and later ones must
    // match it, so a replaced file upstream is noticed rather than silently used.
    const recorded = path.join(this.cacheDir, `${id}.sha256`);
    const sha256 = e.manifest.sha256 ?? recordedSha256(recorded);
    const got = await fetchToFile({
      url,
      part,
      sha256,
      what: `model "${id}"`,
      detail: { id },
      cancelMessage: `download of "${id}" cancelled`,
      onProgress: (received, total) => opts.onProgress?.({ id, received, total }),
      isCancelled: opts.isCancelled,
      fetch: opts.fetch,
    });
    try {
      if (sha256 === null) fs.writeFileSync(recorded, `${got.sha256}\n`);
      fs.renameSync(part, final);
    } catch (err) {
      fs.rmSync(part, { force: true });
      throw err;
    }
    return this.entry(e.manifest, e.origin);
  }
}

/** Where the shipped manifests are: `TESSERA_MODELS_DIR`, else `models/` of the working folder. */
export function defaultManifestDir(): string {
  return process.env['TESSERA_MODELS_DIR'] ?? path.resolve('models');
}

/**
 * The labels file found beside a model: `<stem>.json` or `<stem>.txt`, else `labels.json` or
 * `labels.txt` in its folder. A JSON file there that is not a list of names (a manifest, say) is
 * passed over, and so is a symbolic link.
 */
export function labelsBeside(modelFile: string): { file: string; names: string[] } | null {
  // Only plain files: a link there may point anywhere, outside the folders a browser-mode server
  // is confined to included (see pathGuard.ts), and its lines would come back as class names.
  const dir = path.dirname(modelFile);
  const stem = path.basename(modelFile).replace(/\.onnx$/i, '');
  for (const name of [`${stem}.json`, `${stem}.txt`, 'labels.json', 'labels.txt']) {
    const file = path.join(dir, name);
    const st = fs.lstatSync(file, { throwIfNoEntry: false });
    if (!st || !st.isFile()) continue;
    try {
      return { file, names: readLabelsFile(file) };
    } catch {
      continue;
    }
  }
  return null;
}

/**
 * A model's inspection with its labels: the labels file given (which must read, and hold as many
 * names as the model has classes), else one found beside the model; `task` overrides what the
 * shapes say. The proposal is made again from the inspected shapes, so nothing is loaded twice.
 */
export async function inspectWithLabels(
  inspect: (file: string) => Promise<ModelInspection>,
  file: string,
  opts: { labels?: string; task?: ModelTask } = {},
): Promise<ModelInspection> {
  const labels = opts.labels ? { file: path.resolve(opts.labels), names: readLabelsFile(path.resolve(opts.labels)) } : labelsBeside(file);
  const inspection = await inspect(file);
  if (!labels && !opts.task) return inspection;
  const task = { ...(opts.task ? { task: opts.task } : {}), ...(inspection.outputOps ? { outputOps: inspection.outputOps } : {}) };
  let p = proposeManifest(inspection, inspection.metadata, file, { ...(labels ? { labels } : {}), ...task });
  // A labels file found beside the model that does not fit it is left out, saying so; one given must fit.
  if (!p.manifest && labels && !opts.labels) {
    const without = proposeManifest(inspection, inspection.metadata, file, task);
    if (without.manifest) p = { manifest: without.manifest, problems: [...p.problems.filter((x) => x.startsWith(`${labels.file}:`)).map((x) => `${x}; not used`), ...without.problems] };
  }
  if (p.manifest && inspection.metadata['license']) p.manifest.licence = inspection.metadata['license'];
  const own = inspection.problems.filter((x) => x.startsWith(`${file}: metadata unreadable`));
  return { ...inspection, proposed: p.manifest, problems: [...own, ...p.problems] };
}
