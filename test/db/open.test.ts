import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../src-main/common/errors';
import { APPLICATION_ID, openDatabase } from '../../src-main/db/open';
import { SCHEMA_VERSION } from '../../src-main/db/migrations';
import { tempDir } from '../helpers/shared';

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(AppError);
    return (e as AppError).code;
  }
  throw new Error('expected an error');
}

describe('openDatabase', () => {
  it('creates a dataset with WAL, foreign keys, application id and the current schema', async () => {
    const file = path.join(tempDir(), 'a.tessera');
    const db = openDatabase(file, { create: true });
    expect(db.sqlite!.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.sqlite!.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(db.sqlite!.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    expect(db.sqlite!.pragma('application_id', { simple: true })).toBe(APPLICATION_ID);
    const tables = await db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name").pluck().all();
    // sqlite_sequence holds the AUTOINCREMENT counter that keeps annotation ids from being reused.
    expect(tables).toEqual([
      'annotations',
      'audit_log',
      'class_maps',
      'classes',
      'coco_category_ids',
      'coco_image_ids',
      'comments',
      'dataset_display',
      'edit_journal',
      'embedding_models',
      'embedding_projections',
      'embeddings',
      'image_display',
      'image_geo',
      'image_imaging',
      'image_leases',
      'image_viewed_frames',
      'image_windows',
      'images',
      'meta',
      'model_run_images',
      'model_runs',
      'prediction_history',
      'prediction_rejections',
      'run_parts',
      'series_windows',
      'sqlite_sequence',
      'stack_members',
      'stacks',
      'version_annotations',
      'version_classes',
      'version_images',
      'versions',
      'work_job_images',
      'work_jobs',
      'worker_nodes',
    ]);
    await db.close();
    const again = openDatabase(file);
    expect(again.sqlite!.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    await again.close();
  });

  it('refuses to create over an existing file', () => {
    const file = path.join(tempDir(), 'x.tessera');
    fs.writeFileSync(file, 'keep me');
    expect(code(() => openDatabase(file, { create: true }))).toBe('DATASET_EXISTS');
    expect(fs.readFileSync(file, 'utf8')).toBe('keep me');
  });

  it('refuses a file that is not a database and leaves it untouched', () => {
    const file = path.join(tempDir(), 'notes.tessera');
    fs.writeFileSync(file, 'these are my notes, not a database '.repeat(200));
    const before = fs.readFileSync(file);
    expect(code(() => openDatabase(file))).toBe('NOT_A_DATASET');
    expect(fs.readFileSync(file).equals(before)).toBe(true);
  });

  it('refuses an SQLite database of another application', () => {
    const file = path.join(tempDir(), 'other.db');
    const other = new Database(file);
    other.exec('CREATE TABLE t (x); INSERT INTO t VALUES (1)');
    other.close();
    expect(code(() => openDatabase(file))).toBe('NOT_A_DATASET');
    const check = new Database(file, { readonly: true });
    expect(check.prepare('SELECT x FROM t').pluck().get()).toBe(1);
    check.close();
  });

  it('refuses a dataset written by a newer version and does not modify it', async () => {
    const file = path.join(tempDir(), 'new.tessera');
    await openDatabase(file, { create: true }).close();
    const raw = new Database(file);
    raw.pragma(`user_version = ${SCHEMA_VERSION + 5}`);
    raw.close();
    let err: AppError | undefined;
    try {
      openDatabase(file);
    } catch (e) {
      err = e as AppError;
    }
    expect(err?.code).toBe('DATASET_TOO_NEW');
    expect(err?.message).toContain(file);
    expect(err?.message).toMatch(/newer/);
    const raw2 = new Database(file, { readonly: true });
    expect(raw2.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION + 5);
    raw2.close();
  });

  it('reports a missing file and a folder', () => {
    const dir = tempDir();
    expect(code(() => openDatabase(path.join(dir, 'none.tessera')))).toBe('FILE_NOT_FOUND');
    expect(code(() => openDatabase(dir))).toBe('NOT_A_DATASET');
  });

  it('reports a read-only folder with READ_ONLY', () => {
    // As root, permission bits do not stop writes, so use a read-only file system.
    let dir: string;
    if (process.getuid?.() === 0) dir = '/proc';
    else {
      dir = tempDir();
      fs.chmodSync(dir, 0o555);
    }
    expect(code(() => openDatabase(path.join(dir, 'a.tessera'), { create: true }))).toBe('READ_ONLY');
  });

  it('enforces foreign keys and value checks', async () => {
    const db = openDatabase(':memory:', { create: true });
    await expect(async () =>
      db
        .prepare(
          "INSERT INTO annotations (image_id, kind, geometry, source, created_at, updated_at) VALUES (999, 'box', '{}', 'human', 0, 0)",
        )
        .run(),
    ).rejects.toThrow(/FOREIGN KEY/);
    await db.prepare(
      "INSERT INTO images (path, content_hash, file_size, file_mtime_ms, width, height, channels, bit_depth, format, created_at, updated_at) VALUES ('a.png', 'h', 1, 0, 1, 1, 3, 8, 'png', 0, 0)",
    ).run();
    await expect(async () => db.prepare("UPDATE images SET status = 'finished'").run()).rejects.toThrow(/CHECK/);
    // A prediction must name its model run, a human annotation must not.
    await expect(async () =>
      db
        .prepare("INSERT INTO annotations (image_id, kind, geometry, source, created_at, updated_at) VALUES (1, 'box', '{}', 'model', 0, 0)")
        .run(),
    ).rejects.toThrow(/CHECK/);
    await db.close();
  });
});
