import { AsyncLocalStorage } from 'node:async_hooks';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AppError } from '../common/errors';
import type { DatasetInfo, DatasetSummary } from '../common/model';
import { annotationCountsByClass, listClasses } from '../db/classes';
import { countByKind, countBySource } from '../db/annotations';
import { countBySplit, countByStatus, countImages, externalImagePaths } from '../db/images';
import { getMeta, setMeta } from '../db/meta';
import { countModelRuns } from '../db/modelRuns';
import { openDatabase, schemaVersion, type Db } from '../db/open';
import { isPostgresUrl, openPostgres, redact } from '../db/postgres';
import { ensureStacksPlanned } from '../db/stacks';
import { resolveStoredPath } from './paths';
import { storeUrlFor } from './storeTarget';

/** An open dataset: its database, the folder image paths are relative to, and its cache. */
export class Dataset {
  /**
   * Folders outside the root whose images may be read, when the caller restricts them (the app
   * does, per user and dataset: a dataset file cannot grant itself access to other folders). Null
   * trusts every absolute path the dataset holds, as the command line does for the dataset it is
   * given.
   */
  externalAllowed: ((absFile: string) => boolean) | null = null;

  /**
   * Who is editing: recorded with each edit in the history, and undo and redo act on this user's
   * edits only. Defaults to `defaultUser()`; the app and the command line may set another.
   */
  get user(): string {
    return actingUser.getStore() ?? this.ownUser;
  }
  set user(name: string) {
    this.ownUser = name;
  }
  private ownUser: string = defaultUser();

  private constructor(
    readonly file: string,
    readonly db: Db,
    readonly root: string,
    /** Stable identity of this dataset, part of every media address so no cache mixes datasets. */
    readonly uuid: string,
  ) {}

  /**
   * Creates a new dataset: a `.tessera` file, or a postgres:// URL (a schema of a PostgreSQL
   * database). `root` defaults to the folder that holds the file; a PostgreSQL dataset needs one
   * and stores it as an absolute path.
   */
  static async create(file: string, root?: string): Promise<Dataset> {
    if (isPostgresUrl(file)) {
      if (root === undefined) {
        throw new AppError('INVALID_ARGUMENT', `${redact(file)}: a PostgreSQL dataset needs the folder its images are under (its root)`, { url: redact(file) });
      }
      const rootAbs = checkRoot(root);
      const db = await openPostgres(file, { create: true });
      try {
        await db.transaction(async () => {
          await setMeta(db, 'root', rootAbs);
          await setMeta(db, 'created_at', String(Date.now()));
          await setMeta(db, 'uuid', crypto.randomUUID());
        })();
      } catch (e) {
        await db.close();
        throw e;
      }
      return new Dataset(db.location, db, rootAbs, (await getMeta(db, 'uuid'))!);
    }
    const abs = path.resolve(file);
    const rootAbs = checkRoot(root ?? path.dirname(abs));
    const mapped = storeUrlFor(abs);
    if (mapped) return await Dataset.createMapped(abs, mapped, rootAbs);
    const db = openDatabase(abs, { create: true });
    try {
      await db.transaction(async () => {
        await setMeta(db, 'root', storedRoot(abs, rootAbs));
        await setMeta(db, 'created_at', String(Date.now()));
        await setMeta(db, 'uuid', crypto.randomUUID());
      })();
    } catch (e) {
      await db.close();
      throw e;
    }
    return new Dataset(abs, db, rootAbs, (await getMeta(db, 'uuid'))!);
  }

  /** Opens a dataset: a `.tessera` file or a postgres:// URL. */
  static async open(file: string): Promise<Dataset> {
    if (isPostgresUrl(file)) {
      const db = await openPostgres(file);
      try {
        const root = await getMeta(db, 'root');
        if (!root || !path.isAbsolute(root)) {
          throw new AppError('NOT_A_DATASET', `${db.location}: the dataset has no absolute image root folder stored`, { url: db.location });
        }
        await ensureStacksPlanned(db);
        return new Dataset(db.location, db, root, await datasetUuid(db, db.location));
      } catch (e) {
        await db.close();
        throw e;
      }
    }
    const abs = path.resolve(file);
    const mapped = storeUrlFor(abs);
    if (mapped) return await Dataset.openMapped(abs, mapped);
    const db = openDatabase(abs);
    const stored = await getMeta(db, 'root') ?? '.';
    const root = path.resolve(path.dirname(abs), stored);
    await ensureStacksPlanned(db);
    return new Dataset(abs, db, root, await datasetUuid(db, abs));
  }

  /** A dataset named by a path but kept in PostgreSQL (see storeUrlFor): the file marks it. */
  private static async createMapped(abs: string, url: string, rootAbs: string): Promise<Dataset> {
    if (fs.existsSync(abs)) throw new AppError('DATASET_EXISTS', `${abs}: a file already exists there`, { path: abs });
    if (!fs.existsSync(path.dirname(abs))) throw new AppError('FILE_NOT_FOUND', `${abs}: folder ${path.dirname(abs)} does not exist`, { path: abs });
    const db = await openPostgres(url, { create: true, replace: true });
    await db.transaction(async () => {
      await setMeta(db, 'root', rootAbs);
      await setMeta(db, 'created_at', String(Date.now()));
      await setMeta(db, 'uuid', crypto.randomUUID());
    })();
    fs.writeFileSync(abs, `${db.location}\n`);
    return new Dataset(abs, db, rootAbs, (await getMeta(db, 'uuid'))!);
  }

  private static async openMapped(abs: string, url: string): Promise<Dataset> {
    if (!fs.existsSync(abs)) throw new AppError('FILE_NOT_FOUND', `${abs}: no such dataset file`, { path: abs });
    if (!isMarker(abs)) throw new AppError('NOT_A_DATASET', `${abs}: is not a Tessera dataset (not the marker of a PostgreSQL dataset)`, { path: abs });
    const db = await openPostgres(url);
    try {
      const root = (await getMeta(db, 'root')) ?? path.dirname(abs);
      await ensureStacksPlanned(db);
      return new Dataset(abs, db, root, await datasetUuid(db, abs));
    } catch (e) {
      await db.close();
      throw e;
    }
  }

  /**
   * The image's file on disk. A relative path never leaves the root (see resolveStoredPath); an
   * absolute one is read only where `externalAllowed` permits it.
   */
  imagePath(im: { path: string; external: boolean; id?: number }): string {
    const file = resolveStoredPath(this.root, im.path, im.external);
    if (im.external && this.externalAllowed && !this.externalAllowed(file)) {
      throw new AppError('EXTERNAL_NOT_ALLOWED', `${file}: this dataset's image lies outside its folder, in a folder not allowed for it yet`, {
        path: file,
        folder: path.dirname(file),
        ...(im.id === undefined ? {} : { imageId: im.id }),
      });
    }
    return file;
  }

  get name(): string {
    if (this.db.engine === 'postgres' && isPostgresUrl(this.file)) {
      const u = new URL(this.file);
      return u.searchParams.get('schema') ?? decodeURIComponent(u.pathname.replace(/^\//, ''));
    }
    return path.basename(this.file).replace(/\.(tessera|sqlite|db)$/i, '');
  }

  private cache: string | null = null;

  /**
   * Where thumbnails and other derived files live: next to the dataset, or in the temp folder
   * when the dataset's folder is read-only. Decided once per open dataset.
   */
  get cacheDir(): string {
    if (this.cache) return this.cache;
    if (this.db.engine === 'postgres') {
      // No file to sit beside: the cache of a PostgreSQL dataset is per machine, by its identity.
      this.cache = path.join(os.tmpdir(), 'tessera-cache', this.uuid);
      fs.mkdirSync(this.cache, { recursive: true });
      return this.cache;
    }
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

  async summary(): Promise<DatasetSummary> {
    return {
      path: this.file,
      name: this.name,
      root: this.root,
      schemaVersion: await schemaVersion(this.db),
      imageCount: await countImages(this.db, {}),
      uuid: this.uuid,
      blockedFolders: await this.blockedFolders(),
    };
  }

  /** Folders outside the root holding images that `externalAllowed` refuses, with their image counts. */
  async blockedFolders(): Promise<{ folder: string; images: number }[]> {
    const allowed = this.externalAllowed;
    if (!allowed) return [];
    const counts = new Map<string, number>();
    for (const stored of await externalImagePaths(this.db)) {
      let file: string;
      try {
        file = resolveStoredPath(this.root, stored, true);
      } catch {
        continue; // not an absolute path: never read, whatever is allowed
      }
      if (allowed(file)) continue;
      const folder = path.dirname(file);
      counts.set(folder, (counts.get(folder) ?? 0) + 1);
    }
    return [...counts].map(([folder, images]) => ({ folder, images })).sort((a, b) => a.folder.localeCompare(b.folder));
  }

  async info(): Promise<DatasetInfo> {
    const db = this.db;
    const byClass = await annotationCountsByClass(db);
    const byKind = await countByKind(db);
    return {
      path: this.file,
      root: this.root,
      schemaVersion: await schemaVersion(db),
      images: { total: await countImages(db, {}), byStatus: await countByStatus(db), bySplit: await countBySplit(db) },
      classes: (await listClasses(db)).map((c) => ({ id: c.id, name: c.name, color: c.color, annotations: byClass.get(c.id) ?? 0 })),
      annotations: {
        total: Object.values(byKind).reduce((a, b) => a + b, 0),
        byKind,
        bySource: await countBySource(db),
      },
      modelRuns: await countModelRuns(db),
    };
  }

  async close(): Promise<void> {
    if (this.db.open) await this.db.close();
  }
}

/**
 * The user a call is made for, where one process serves several (the team server runs each call
 * inside `asUser`): it wins over the dataset's own `user` for everything that call awaits.
 */
const actingUser = new AsyncLocalStorage<string>();

/** Runs `fn` on behalf of `name`: edits, journal entries and undo inside it are that user's. */
export function asUser<T>(name: string, fn: () => T): T {
  return actingUser.run(name, fn);
}

/** The user edits are recorded for: TESSERA_USER when set, else the operating system's user name. */
export function defaultUser(): string {
  const fromEnv = process.env['TESSERA_USER']?.trim();
  if (fromEnv) return fromEnv;
  // The account's name does not change while the process runs: asked once (a file read).
  systemUser ??= (() => {
    try {
      return os.userInfo().username || 'unknown';
    } catch {
      // No account entry for this process's user id (some containers).
      return process.env['USER'] || process.env['USERNAME'] || 'unknown';
    }
  })();
  return systemUser;
}

let systemUser: string | undefined;

/**
 * The dataset's identity. Datasets made before it existed get one when first opened; a read-only
 * file gets one derived from its path and creation time instead, stable across opens.
 */
async function datasetUuid(db: Db, file: string): Promise<string> {
  const stored = await getMeta(db, 'uuid');
  if (stored) return stored;
  const fresh = crypto.randomUUID();
  try {
    await setMeta(db, 'uuid', fresh);
    return fresh;
  } catch {
    const h = crypto.createHash('sha256').update(`${file}\0${await getMeta(db, 'created_at') ?? ''}`).digest('hex');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
  }
}

/** Whether the file is the marker a PostgreSQL-kept dataset leaves at its path: one postgres:// URL. */
function isMarker(file: string): boolean {
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(4096);
    const n = fs.readSync(fd, buf, 0, buf.length, 0);
    const text = buf.subarray(0, n).toString('utf8').trim();
    return !text.includes('\n') && isPostgresUrl(text);
  } finally {
    fs.closeSync(fd);
  }
}

function checkRoot(root: string): string {
  const rootAbs = path.resolve(root);
  let st: fs.Stats;
  try {
    st = fs.statSync(rootAbs);
  } catch {
    throw new AppError('FILE_NOT_FOUND', `${rootAbs}: dataset root folder does not exist`, { path: rootAbs });
  }
  if (!st.isDirectory()) throw new AppError('INVALID_ARGUMENT', `${rootAbs}: dataset root is not a folder`, { path: rootAbs });
  return rootAbs;
}

/** The root is stored relative to the dataset file when possible, so the pair can be moved together. */
export function storedRoot(file: string, root: string): string {
  const rel = path.relative(path.dirname(file), root);
  return rel === '' ? '.' : path.isAbsolute(rel) ? root : rel.split(path.sep).join('/');
}
