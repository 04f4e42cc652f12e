import crypto from 'node:crypto';
import { promisify } from 'node:util';
import type pg from 'pg';
import { AppError } from '../common/errors';
import { ROLES, USER_NAME_PATTERN, type Role } from '../common/team';
import type { Db } from '../db/engine';
import type { PgDb } from '../db/postgres';

/**
 * Team accounts, kept in the dataset's PostgreSQL database in a schema of their own
 * (`tessera_accounts`), so that every dataset of the database shares the same people: users with
 * scrypt password hashes, login sessions (only a digest of each token is stored), and each user's
 * role per dataset (by the dataset's uuid).
 */

const SCHEMA = 'tessera_accounts';

/** scrypt's cost (N = 2^14, r 8, p 1: about 16 MiB and tens of ms per hash), key of 32 bytes. */
const SCRYPT = { N: 16384, r: 8, p: 1, keylen: 32 } as const;
const scrypt = promisify(crypto.scrypt) as (pw: string, salt: Buffer, keylen: number, opts: crypto.ScryptOptions) => Promise<Buffer>;

export interface SessionPolicy {
  /** A session unused this long ends. */
  idleMs: number;
  /** A session ends this long after login, used or not. */
  lifetimeMs: number;
}

export const DEFAULT_SESSION_POLICY: SessionPolicy = { idleMs: 2 * 3600_000, lifetimeMs: 12 * 3600_000 };

export interface SessionInfo {
  /** The digest of the token: the session's id in leases, never the token itself. */
  id: string;
  user: string;
}

function pool(db: Db): pg.Pool {
  if (db.engine !== 'postgres') throw new AppError('UNSUPPORTED', `${db.location}: team accounts need a PostgreSQL dataset`);
  return (db as PgDb).pool;
}

async function q<T = Record<string, unknown>>(db: Db, sql: string, params: unknown[] = []): Promise<T[]> {
  return (await pool(db).query(sql, params)).rows as T[];
}

/** Verified against when the name is unknown, so the answer takes as long as for a real account. */
let dummyHash: Promise<string> | null = null;

/** Creates the accounts schema and its tables when missing, once even when several processes start at once. */
export async function ensureAccounts(db: Db): Promise<void> {
  const client = await pool(db).connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`tessera-accounts`]);
    await client.query(`
      CREATE SCHEMA IF NOT EXISTS ${SCHEMA};
      CREATE TABLE IF NOT EXISTS ${SCHEMA}.users (
        name          TEXT PRIMARY KEY,
        password_hash TEXT NOT NULL,
        created_at    BIGINT NOT NULL,
        disabled      BOOLEAN NOT NULL DEFAULT FALSE
      );
      CREATE TABLE IF NOT EXISTS ${SCHEMA}.sessions (
        id         TEXT PRIMARY KEY,
        user_name  TEXT NOT NULL REFERENCES ${SCHEMA}.users (name) ON DELETE CASCADE,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        last_seen  BIGINT NOT NULL
      );
      CREATE INDEX IF NOT EXISTS sessions_user ON ${SCHEMA}.sessions (user_name);
      CREATE TABLE IF NOT EXISTS ${SCHEMA}.roles (
        dataset   TEXT NOT NULL,
        user_name TEXT NOT NULL REFERENCES ${SCHEMA}.users (name) ON DELETE CASCADE,
        role      TEXT NOT NULL CHECK (role IN (${ROLES.map((r) => `'${r}'`).join(', ')})),
        PRIMARY KEY (dataset, user_name)
      );
    `);
    await client.query('COMMIT');
  } catch (e) {
    await client.query('ROLLBACK').catch(() => {});
    throw new AppError('CONNECTION_FAILED', `${db.location}: cannot set up the team accounts (schema ${SCHEMA}): ${(e as Error).message}`, { url: db.location });
  } finally {
    client.release();
  }
  // Ready before the first login of an unknown name, so that one takes no longer than the others.
  dummyHash ??= hashPassword(crypto.randomBytes(16).toString('hex'));
  await dummyHash;
}

function checkName(name: string): void {
  if (!USER_NAME_PATTERN.test(name)) throw new AppError('INVALID_ARGUMENT', `"${name.slice(0, 80)}": a user name is 1-64 letters, digits, ., _, @ or -`);
}

function checkPassword(password: string): void {
  if (password.length < 8) throw new AppError('INVALID_ARGUMENT', 'a password needs at least 8 characters');
  if (password.length > 1024) throw new AppError('INVALID_ARGUMENT', 'a password has at most 1024 characters');
}

/** `scrypt$N$r$p$salt$hash` (base64): the parameters travel with the hash, so they can change later. */
export async function hashPassword(password: string): Promise<string> {
  const salt = crypto.randomBytes(16);
  const hash = await scrypt(password.normalize('NFC'), salt, SCRYPT.keylen, { N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p, maxmem: 64 * 1024 * 1024 });
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [alg, n, r, p, salt, hash] = stored.split('$');
  if (alg !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64');
  const got = await scrypt(password.normalize('NFC'), Buffer.from(salt, 'base64'), expected.length, {
    N: Number(n),
    r: Number(r),
    p: Number(p),
    maxmem: 64 * 1024 * 1024,
  });
  return got.length === expected.length && crypto.timingSafeEqual(got, expected);
}

export async function addUser(db: Db, name: string, password: string): Promise<void> {
  checkName(name);
  checkPassword(password);
  const hash = await hashPassword(password);
  const r = await pool(db).query(`INSERT INTO ${SCHEMA}.users (name, password_hash, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING`, [
    name,
    hash,
    Date.now(),
  ]);
  if (r.rowCount === 0) throw new AppError('INVALID_ARGUMENT', `user "${name}" already exists (tessera user passwd changes the password)`, { user: name });
}

/** Sets a new password and ends the user's sessions. */
export async function setPassword(db: Db, name: string, password: string): Promise<void> {
  checkPassword(password);
  const hash = await hashPassword(password);
  const r = await pool(db).query(`UPDATE ${SCHEMA}.users SET password_hash = $2 WHERE name = $1`, [name, hash]);
  if (r.rowCount === 0) throw new AppError('NOT_FOUND', `no user "${name}"`, { user: name });
  await pool(db).query(`DELETE FROM ${SCHEMA}.sessions WHERE user_name = $1`, [name]);
}

/** Disables (or enables again) an account; disabling ends its sessions. */
export async function disableUser(db: Db, name: string, disabled = true): Promise<void> {
  const r = await pool(db).query(`UPDATE ${SCHEMA}.users SET disabled = $2 WHERE name = $1`, [name, disabled]);
  if (r.rowCount === 0) throw new AppError('NOT_FOUND', `no user "${name}"`, { user: name });
  if (disabled) await pool(db).query(`DELETE FROM ${SCHEMA}.sessions WHERE user_name = $1`, [name]);
}

/** Whether the name and password belong to an enabled account. */
export async function verifyLogin(db: Db, name: string, password: string): Promise<boolean> {
  const row = USER_NAME_PATTERN.test(name)
    ? (await q<{ password_hash: string; disabled: number | boolean }>(db, `SELECT password_hash, disabled FROM ${SCHEMA}.users WHERE name = $1`, [name]))[0]
    : undefined;
  if (!row) {
    dummyHash ??= hashPassword(crypto.randomBytes(16).toString('hex'));
    await verifyPassword(password, await dummyHash);
    return false;
  }
  const ok = await verifyPassword(password, row.password_hash);
  return ok && !row.disabled;
}

const digest = (token: string): string => crypto.createHash('sha256').update(token).digest('hex');

/** Starts a session: returns the token for the cookie (only its digest is stored). */
export async function createSession(db: Db, user: string, policy: SessionPolicy = DEFAULT_SESSION_POLICY, now = Date.now()): Promise<{ token: string; id: string }> {
  const token = crypto.randomBytes(32).toString('base64url');
  const id = digest(token);
  await pool(db).query(`INSERT INTO ${SCHEMA}.sessions (id, user_name, created_at, expires_at, last_seen) VALUES ($1, $2, $3, $4, $3)`, [
    id,
    user,
    now,
    now + policy.lifetimeMs,
  ]);
  // Sessions that ended long ago go.
  await pool(db).query(`DELETE FROM ${SCHEMA}.sessions WHERE expires_at < $1`, [now - 86_400_000]);
  return { token, id };
}

/**
 * The live session of a token, touched as used now; null when unknown, ended, past its lifetime,
 * idle too long, or its user disabled.
 */
export async function sessionUser(db: Db, token: string | undefined, policy: SessionPolicy = DEFAULT_SESSION_POLICY, now = Date.now()): Promise<SessionInfo | null> {
  if (!token || token.length > 200) return null;
  const id = digest(token);
  const rows = await q<{ user_name: string; last_seen: number }>(
    db,
    `SELECT s.user_name, s.last_seen FROM ${SCHEMA}.sessions s JOIN ${SCHEMA}.users u ON u.name = s.user_name
      WHERE s.id = $1 AND NOT u.disabled AND s.expires_at > $2 AND s.last_seen > $2 - $3::bigint`,
    [id, now, policy.idleMs],
  );
  const row = rows[0];
  if (!row) return null;
  // Written at most every few seconds, not at every call a busy session makes.
  if (Number(row.last_seen) < now - Math.min(5000, policy.idleMs / 10)) {
    await pool(db).query(`UPDATE ${SCHEMA}.sessions SET last_seen = $2 WHERE id = $1 AND last_seen < $2`, [id, now]);
  }
  return { id, user: row.user_name };
}

/** Ends a session by its token; the session's id when there was one. */
export async function endSession(db: Db, token: string): Promise<string | null> {
  const id = digest(token);
  const r = await pool(db).query(`DELETE FROM ${SCHEMA}.sessions WHERE id = $1`, [id]);
  return r.rowCount ? id : null;
}

export async function roleOf(db: Db, datasetUuid: string, user: string): Promise<Role | null> {
  const rows = await q<{ role: Role }>(db, `SELECT role FROM ${SCHEMA}.roles WHERE dataset = $1 AND user_name = $2`, [datasetUuid, user]);
  return rows[0]?.role ?? null;
}

/** Gives `user` a role on the dataset, or takes it away (null). */
export async function setRole(db: Db, datasetUuid: string, user: string, role: Role | null): Promise<void> {
  if (role !== 'manager' && (await roleOf(db, datasetUuid, user)) === 'manager') {
    const managers = (await members(db, datasetUuid)).filter((m) => m.role === 'manager');
    if (managers.length === 1) throw new AppError('INVALID_ARGUMENT', `${user} is the dataset's only manager: make someone else manager first`, { user });
  }
  if (role === null) {
    await pool(db).query(`DELETE FROM ${SCHEMA}.roles WHERE dataset = $1 AND user_name = $2`, [datasetUuid, user]);
    return;
  }
  if (!(ROLES as readonly string[]).includes(role)) throw new AppError('INVALID_ARGUMENT', `"${role}" is not a role (${ROLES.join(', ')})`);
  if ((await q(db, `SELECT 1 FROM ${SCHEMA}.users WHERE name = $1`, [user])).length === 0) {
    throw new AppError('NOT_FOUND', `no user "${user}" (tessera user add creates one)`, { user });
  }
  await pool(db).query(
    `INSERT INTO ${SCHEMA}.roles (dataset, user_name, role) VALUES ($1, $2, $3) ON CONFLICT (dataset, user_name) DO UPDATE SET role = EXCLUDED.role`,
    [datasetUuid, user, role],
  );
}

/** Everyone with a role on the dataset, by name. */
export async function members(db: Db, datasetUuid: string): Promise<{ user: string; role: Role }[]> {
  return (await q<{ user_name: string; role: Role }>(db, `SELECT user_name, role FROM ${SCHEMA}.roles WHERE dataset = $1 ORDER BY user_name`, [datasetUuid])).map(
    (r) => ({ user: r.user_name, role: r.role }),
  );
}

/** Every account, with its role on the dataset when it has one. */
export async function listUsers(db: Db, datasetUuid: string): Promise<{ user: string; disabled: boolean; createdAt: number; role: Role | null }[]> {
  const rows = await q<{ name: string; disabled: number | boolean; created_at: number; role: Role | null }>(
    db,
    `SELECT u.name, u.disabled, u.created_at, r.role FROM ${SCHEMA}.users u
       LEFT JOIN ${SCHEMA}.roles r ON r.user_name = u.name AND r.dataset = $1 ORDER BY u.name`,
    [datasetUuid],
  );
  return rows.map((r) => ({ user: r.name, disabled: Boolean(r.disabled), createdAt: Number(r.created_at), role: r.role }));
}
