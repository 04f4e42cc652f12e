import type { Db } from '../../src-main/db/engine';

/**
 * Writes that fail on purpose, to prove that a unit of work is all or nothing: a trigger that
 * refuses a row write with `message`, on either engine. SQLite gets `RAISE(ABORT, ...)` in a
 * trigger; PostgreSQL a plpgsql function that raises an exception, run by a row trigger. The
 * PostgreSQL error carries the message as SQLite's does, and both abort the statement and, with
 * it, the transaction around it.
 */
export interface Fault {
  /** The trigger's name (a plain lower-case identifier). */
  name: string;
  table: string;
  /** The write refused: `INSERT`, `DELETE`, `UPDATE` or `UPDATE OF column`. */
  on: 'INSERT' | 'DELETE' | 'UPDATE' | `UPDATE OF ${string}`;
  /**
   * Refuse only when this holds: SQL both engines accept, seeing the row as `new.` / `old.` and
   * the table as it is before the row's write, e.g. `(SELECT count(*) FROM images) >= 2` (the
   * third row fails) or `old.id = 7`.
   */
  when?: string;
  message: string;
}

/** Installs the fault; the returned function removes it. */
export async function injectFault(db: Db, f: Fault): Promise<() => Promise<void>> {
  if (!/^[a-z_][a-z0-9_]*$/.test(f.name)) throw new Error(`${f.name}: not a plain trigger name`);
  const text = f.message.replace(/'/g, "''");
  if (db.engine === 'sqlite') {
    await db.exec(`CREATE TRIGGER ${f.name} BEFORE ${f.on} ON ${f.table} FOR EACH ROW ${f.when ? `WHEN ${f.when} ` : ''}BEGIN SELECT RAISE(ABORT, '${text}'); END`);
    return async () => await db.exec(`DROP TRIGGER IF EXISTS ${f.name}`);
  }
  const fn = `${f.name}_fn`;
  const refuse = `RAISE EXCEPTION '%', '${text}';`;
  await db.exec(`CREATE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $fault$
    BEGIN
      ${f.when ? `IF ${f.when} THEN ${refuse} END IF;` : refuse}
      IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
      RETURN NEW;
    END
    $fault$;
    CREATE TRIGGER ${f.name} BEFORE ${f.on} ON ${f.table} FOR EACH ROW EXECUTE FUNCTION ${fn}();`);
  return async () => await db.exec(`DROP TRIGGER IF EXISTS ${f.name} ON ${f.table}; DROP FUNCTION IF EXISTS ${fn}()`);
}
