import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/shared';
import { MIGRATIONS, SCHEMA_VERSION } from '../../src-main/db/migrations';
import { openDatabase, type Db } from '../../src-main/db/open';

function schemaOf(db: Db): string[] {
  return (
    db.prepare("SELECT type || ' ' || name || ' ' || coalesce(sql, '') FROM sqlite_schema ORDER BY type, name").pluck().all() as string[]
  ).map((s) => s.replace(/\s+/g, ' '));
}

describe('migrations', () => {
  it('are numbered strictly increasing from 1 and end at SCHEMA_VERSION', () => {
    MIGRATIONS.forEach((m, i) => expect(m.version).toBe(i + 1));
    expect(SCHEMA_VERSION).toBe(MIGRATIONS.length);
  });

  it.each(MIGRATIONS.map((m) => [m.version, m.name] as const))(
    'migration %i (%s) applied to version N-1 gives the same schema as a fresh database',
    (version) => {
      const older = openDatabase(':memory:', { create: true, migrations: MIGRATIONS.filter((m) => m.version < version) });
      expect(older.pragma('user_version', { simple: true })).toBe(version - 1);
      // Migrate the same connection's schema forward by running the remaining steps.
      for (const m of MIGRATIONS.filter((x) => x.version >= version)) {
        older.exec(m.up);
        older.pragma(`user_version = ${m.version}`);
      }
      const fresh = openDatabase(':memory:', { create: true });
      expect(schemaOf(older)).toEqual(schemaOf(fresh));
      older.close();
      fresh.close();
    },
  );

  it('a failing migration leaves the database at its previous version', () => {
    const file = path.join(tempDir(), 'm.tessera');
    openDatabase(file, { create: true }).close();
    const broken = [...MIGRATIONS, { version: SCHEMA_VERSION + 1, name: 'broken', up: 'CREATE TABLE zz (a); INSERT INTO no_such_table VALUES (1);' }];
    expect(() => openDatabase(file, { migrations: broken })).toThrow(/no_such_table/);
    const db = openDatabase(file);
    expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    expect(db.prepare("SELECT count(*) FROM sqlite_schema WHERE name = 'zz'").pluck().get()).toBe(0);
    db.close();
  });
});
