import fs from 'node:fs';
import path from 'node:path';
import { AppError } from '../common/errors';
import { parseSamManifest } from '../common/inference/samManifest';
import type { SamManifest, SamModelEntry } from '../common/segment';

/**
 * Prompt-driven segmentation models: manifests shipped in `models/interactive/*.json`, plus
 * custom pairs remembered in `<configDir>/custom-sam-models.json`. File paths in a manifest are
 * relative to the manifest.
 */

function readJson(file: string): unknown {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
  } catch (e) {
    throw new AppError('INVALID_ARGUMENT', `${file}: cannot be read as JSON: ${(e as Error).message}`, { file });
  }
}

function resolveFiles(m: SamManifest, dir: string): SamManifest {
  const abs = (f: string | undefined) => (f && !path.isAbsolute(f) ? path.resolve(dir, f) : f);
  return { ...m, encoder: { ...m.encoder, ...(m.encoder.file ? { file: abs(m.encoder.file) } : {}) }, decoder: { ...m.decoder, ...(m.decoder.file ? { file: abs(m.decoder.file) } : {}) } };
}

/** A manifest file, its encoder and decoder paths made absolute. */
export function readSamManifestFile(file: string): SamManifest {
  if (!fs.existsSync(file)) throw new AppError('FILE_NOT_FOUND', `${file}: does not exist`, { path: file });
  return resolveFiles(parseSamManifest(readJson(file), file), path.dirname(path.resolve(file)));
}

export interface SamModelRegistryOptions {
  /** Folder of the shipped manifests (`models/interactive/`). */
  manifestDir: string;
  /** Per-user folder: the custom pair list. */
  configDir: string;
}

export class SamModelRegistry {
  constructor(private readonly opts: SamModelRegistryOptions) {}

  private get customFile(): string {
    return path.join(this.opts.configDir, 'custom-sam-models.json');
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
    return list.map((m, i) => resolveFiles(parseSamManifest(m, `${this.customFile}[${i}]`), this.opts.configDir));
  }

  private entry(manifest: SamManifest, origin: SamModelEntry['origin']): SamModelEntry {
    const onDisk = (f: string | undefined) => (f && fs.existsSync(f) ? f : null);
    return { manifest, origin, encoderPath: onDisk(manifest.encoder.file), decoderPath: onDisk(manifest.decoder.file), downloadable: Boolean(manifest.encoder.url && manifest.decoder.url) };
  }

  list(): SamModelEntry[] {
    return [...this.builtin().map((m) => this.entry(m, 'builtin')), ...this.custom().map((m) => this.entry(m, 'custom'))];
  }

  /** The manifest and both files of a model, or NOT_FOUND saying which is missing. */
  requireFiles(id: string): { manifest: SamManifest; encoderPath: string; decoderPath: string } {
    const e = this.list().find((x) => x.manifest.id === id);
    if (!e) throw new AppError('NOT_FOUND', `segmentation model "${id}" is not in the registry`, { id });
    if (!e.encoderPath || !e.decoderPath) {
      const missing = [!e.encoderPath ? 'encoder' : '', !e.decoderPath ? 'decoder' : ''].filter(Boolean).join(' and ');
      throw new AppError('NOT_FOUND', e.downloadable ? `segmentation model "${id}" is not downloaded yet` : `segmentation model "${id}": its ${missing} file is missing`, { id });
    }
    return { manifest: e.manifest, encoderPath: e.encoderPath, decoderPath: e.decoderPath };
  }
}
