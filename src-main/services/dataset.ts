import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AppError } from '../common/errors';
import type { DatasetInfo, DatasetSummary } from '../common/model';
import { annotationCountsByClass, listClasses } from '../db/classes';
import { countByKind, countBySource } from '../db/annotations';
import { countBySplit, countByStatus, countImages } from '../db/images';
import { getMeta, setMeta } from '../db/meta';
import { countModelRuns } from '../db/modelRuns';
import { openDatabase, schemaVersion, type Db } from '../db/open';

/** An open dataset: its database, the folder image paths are relative to, and its cache. */
export class Dataset {
  private constructor(
    readonly file: string,
    readonly db: Db,
    readonly root: string,
  ) {}

  /** Creates a new dataset file. `root` defaults to the folder that holds the file. */
  static create(file: string, root?: string): Dataset {
    const abs = path.resolve(file);
    const rootAbs = path.resolve(root ?? path.dirname(abs));
    let st: fs.Stats;
    try {
      st = fs.statSync(rootAbs);
    } catch {
      throw new AppError('FILE_NOT_FOUND', `${rootAbs}: dataset root folder does not exist`, { path: rootAbs });
    }
    if (!st.isDirectory()) throw new AppError('INVALID_ARGUMENT', `${rootAbs}: dataset root is not a folder`, { path: rootAbs });
    const db = openDatabase(abs, { create: true });
    try {
      db.transaction(() => {
        setMeta(db, 'root', storedRoot(abs, rootAbs));
        setMeta(db, 'created_at', String(Date.now()));
      })();
    } catch (e) {
      db.close();
      throw e;
    }
    return new Dataset(abs, db, rootAbs);
  }

  static open(file: string): Dataset {
    const abs = path.resolve(file);
    const db = openDatabase(abs);
    const stored = getMeta(db, 'root') ?? '.';
    const root = path.resolve(path.dirname(abs), stored);
    return new Dataset(abs, db, root);
  }

  get name(): string {
    return path.basename(this.file).replace(/\.(tessera|sqlite|db)$/i, '');
  }

  private cache: string | null = null;

  /**
   * Where thumbnails and other derived files live: next to the dataset, or in the temp folder
   * when the dataset's folder is read-only. Decided once per open dataset.
   */
  get cacheDir(): string {
    if (this.cache) return this.cache;
    const beside = `${this.file}-cache`;
    try {
      fs.mkdirSync(beside, { recursive: true });
      fs.accessSync(beside, fs.constants.W_OK);
      this.cache = beside;
    } catch {
      const alt = path.join(os.tmpdir(), 'tessera-cache', Buffer.from(this.file).toString('base64url').slice(-80));
      fs.mkdirSync(alt, { recursive: true });
      this.cache = alt;
    }
    return this.cache;
  }

  summary(): DatasetSummary {
    return {
      path: this.file,
      name: this.name,
      root: this.root,
      schemaVersion: schemaVersion(this.db),
      imageCount: countImages(this.db, {}),
    };
  }

  info(): DatasetInfo {
    const db = this.db;
    const byClass = annotationCountsByClass(db);
    const byKind = countByKind(db);
    return {
      path: this.file,
      root: this.root,
      schemaVersion: schemaVersion(db),
      images: { total: countImages(db, {}), byStatus: countByStatus(db), bySplit: countBySplit(db) },
      classes: listClasses(db).map((c) => ({ id: c.id, name: c.name, color: c.color, annotations: byClass.get(c.id) ?? 0 })),
      annotations: {
        total: Object.values(byKind).reduce((a, b) => a + b, 0),
        byKind,
        bySource: countBySource(db),
      },
      modelRuns: countModelRuns(db),
    };
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

/** The root is stored relative to the dataset file when possible, so the pair can be moved together. */
function storedRoot(file: string, root: string): string {
  const rel = path.relative(path.dirname(file), root);
  return rel === '' ? '.' : path.isAbsolute(rel) ? root : rel.split(path.sep).join('/');
}
