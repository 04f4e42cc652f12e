import fs from 'node:fs';
import path from 'node:path';
import type { RecentDataset } from '../common/model';
import { isPostgresUrl, redact } from '../db/postgres';

const MAX_RECENT = 12;

/** Folders outside a dataset's own folder that the user allowed it to read images from. */
interface ExternalGrant {
  dataset: string;
  uuid: string;
  folders: string[];
}

/**
 * Per-user settings kept outside any dataset: the list of recently opened datasets, and the
 * folders outside its root each dataset may read. The grants live here and not in the dataset
 * file, so a dataset file made elsewhere cannot grant itself access to this computer's folders.
 */
export class Settings {
  constructor(private readonly dir: string) {}

  private get grantsFile(): string {
    return path.join(this.dir, 'external-folders.json');
  }

  private grants(): ExternalGrant[] {
    try {
      const data = JSON.parse(fs.readFileSync(this.grantsFile, 'utf8')) as unknown;
      if (!Array.isArray(data)) return [];
      return data.filter(
        (g): g is ExternalGrant =>
          typeof g === 'object' && g !== null && typeof g.dataset === 'string' && typeof g.uuid === 'string' && Array.isArray(g.folders) && g.folders.every((f: unknown) => typeof f === 'string'),
      );
    } catch {
      return [];
    }
  }

  /** Folders outside the root the dataset at `file` (with this identity) may read images from. */
  externalFolders(file: string, uuid: string): string[] {
    return this.grants().find((g) => g.dataset === file && g.uuid === uuid)?.folders ?? [];
  }

  /** Adds folders to the dataset's grant. Unlike the recent list, a failure to save is an error. */
  allowExternal(file: string, uuid: string, folders: readonly string[]): void {
    const all = this.grants();
    const mine = all.find((g) => g.dataset === file && g.uuid === uuid);
    const merged = [...new Set([...(mine?.folders ?? []), ...folders])].sort();
    const next = [...all.filter((g) => g !== mine), { dataset: file, uuid, folders: merged }];
    fs.mkdirSync(this.dir, { recursive: true });
    const tmp = `${this.grantsFile}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(next, null, 2));
    fs.renameSync(tmp, this.grantsFile);
  }

  private get file(): string {
    return path.join(this.dir, 'recent.json');
  }

  recent(): RecentDataset[] {
    try {
      const data = JSON.parse(fs.readFileSync(this.file, 'utf8')) as unknown;
      if (!Array.isArray(data)) return [];
      return data.filter(
        (r): r is RecentDataset =>
          typeof r === 'object' && r !== null && typeof r.path === 'string' && typeof r.name === 'string' && typeof r.openedAt === 'number',
      );
    } catch {
      return [];
    }
  }

  /** A PostgreSQL dataset is remembered by its URL without the password (PGPASSWORD or ~/.pgpass give it again). */
  addRecent(entry: RecentDataset): void {
    if (isPostgresUrl(entry.path)) entry = { ...entry, path: redact(entry.path) };
    this.writeRecent([entry, ...this.recent().filter((r) => r.path !== entry.path)].slice(0, MAX_RECENT));
  }

  removeRecent(file: string): void {
    const list = this.recent();
    if (list.some((r) => r.path === file)) this.writeRecent(list.filter((r) => r.path !== file));
  }

  private writeRecent(list: RecentDataset[]): void {
    try {
      fs.mkdirSync(this.dir, { recursive: true });
      const tmp = `${this.file}.${process.pid}.tmp`;
      fs.writeFileSync(tmp, JSON.stringify(list, null, 2));
      fs.renameSync(tmp, this.file);
    } catch {
      // The recent list is a convenience; failing to write it must not fail opening a dataset.
    }
  }
}
