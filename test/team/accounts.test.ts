import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Dataset } from '../../src-main/services/dataset';
import {
  addUser,
  createSession,
  disableUser,
  endSession,
  ensureAccounts,
  members,
  roleOf,
  sessionUser,
  setPassword,
  setRole,
  verifyLogin,
} from '../../src-main/team/accounts';
import { adminQuery, freshPgDataset, pgSkipReason, type PgDataset } from '../helpers/postgres';
import { tempDir } from '../helpers/shared';

const skip = pgSkipReason();
const sfx = crypto.randomBytes(3).toString('hex');
let pgds: PgDataset;
let ds: Dataset;

describe.skipIf(skip)('team accounts', () => {
  beforeAll(async () => {
    pgds = await freshPgDataset('accounts');
    ds = await Dataset.create(pgds.url, tempDir());
    // Twice, and at once: the schema is made once, under its lock.
    await Promise.all([ensureAccounts(ds.db), ensureAccounts(ds.db)]);
    await ensureAccounts(ds.db);
  });
  afterAll(async () => {
    await ds?.close();
    await pgds?.drop();
  });

  it('stores a salted scrypt hash, never the password', async () => {
    const a = `hash-a-${sfx}`;
    const b = `hash-b-${sfx}`;
    await addUser(ds.db, a, 'same password');
    await addUser(ds.db, b, 'same password');
    const rows = (await adminQuery('SELECT name, password_hash FROM tessera_accounts.users WHERE name = ANY($1) ORDER BY name', [[a, b]])).rows as { password_hash: string }[];
    expect(rows).toHaveLength(2);
    for (const r of rows) {
      expect(r.password_hash).toMatch(/^scrypt\$16384\$8\$1\$[A-Za-z0-9+/=]{24}\$[A-Za-z0-9+/=]{44}$/);
      expect(r.password_hash).not.toContain('same password');
    }
    expect(rows[0]!.password_hash).not.toBe(rows[1]!.password_hash);
    expect(await verifyLogin(ds.db, a, 'same password')).toBe(true);
    expect(await verifyLogin(ds.db, a, 'same passwore')).toBe(false);
    expect(await verifyLogin(ds.db, `nobody-${sfx}`, 'same password')).toBe(false);
    await expect(addUser(ds.db, 'no spaces allowed', 'long enough')).rejects.toThrow('a user name is');
  });

  it('keeps only a digest of the session token, and ends sessions by lifetime, idleness, logout, password change and disabling', async () => {
    const u = `sess-${sfx}`;
    await addUser(ds.db, u, 'password one');
    const policy = { idleMs: 1000, lifetimeMs: 5000 };
    const t0 = 1_000_000;
    const s = await createSession(ds.db, u, policy, t0);
    const stored = (await adminQuery('SELECT id FROM tessera_accounts.sessions WHERE user_name = $1', [u])).rows as { id: string }[];
    expect(stored.map((r) => r.id)).toEqual([crypto.createHash('sha256').update(s.token).digest('hex')]);
    expect(stored[0]!.id).not.toBe(s.token);
    expect(await sessionUser(ds.db, s.token, policy, t0 + 900)).toEqual({ id: s.id, user: u });
    // Used at +900, so still alive at +1800; idle past 1 s at +3000.
    expect(await sessionUser(ds.db, s.token, policy, t0 + 1800)).toEqual({ id: s.id, user: u });
    expect(await sessionUser(ds.db, s.token, policy, t0 + 3000)).toBeNull();
    // Kept busy, it still ends at its lifetime.
    const busy = await createSession(ds.db, u, policy, t0);
    for (let t = t0 + 800; t < t0 + 5000; t += 800) expect(await sessionUser(ds.db, busy.token, policy, t)).not.toBeNull();
    expect(await sessionUser(ds.db, busy.token, policy, t0 + 5001)).toBeNull();
    expect(await sessionUser(ds.db, 'forged', policy, t0)).toBeNull();

    const out = await createSession(ds.db, u);
    expect(await endSession(ds.db, out.token)).toBe(out.id);
    expect(await sessionUser(ds.db, out.token)).toBeNull();
    const pw = await createSession(ds.db, u);
    await setPassword(ds.db, u, 'password two');
    expect(await sessionUser(ds.db, pw.token)).toBeNull();
    expect(await verifyLogin(ds.db, u, 'password two')).toBe(true);
    const off = await createSession(ds.db, u);
    await disableUser(ds.db, u);
    expect(await sessionUser(ds.db, off.token)).toBeNull();
    expect(await verifyLogin(ds.db, u, 'password two')).toBe(false);
  });

  it('gives roles per dataset and keeps one manager', async () => {
    const lead = `lead-${sfx}`;
    const ann = `ann-${sfx}`;
    await addUser(ds.db, lead, 'lead password');
    await addUser(ds.db, ann, 'ann password');
    await setRole(ds.db, ds.uuid, lead, 'manager');
    await setRole(ds.db, ds.uuid, ann, 'annotator');
    expect(await roleOf(ds.db, ds.uuid, ann)).toBe('annotator');
    expect(await roleOf(ds.db, crypto.randomUUID(), ann)).toBeNull();
    expect(await members(ds.db, ds.uuid)).toEqual(expect.arrayContaining([{ user: lead, role: 'manager' }, { user: ann, role: 'annotator' }]));
    await expect(setRole(ds.db, ds.uuid, lead, 'annotator')).rejects.toThrow('only manager');
    await expect(setRole(ds.db, ds.uuid, `ghost-${sfx}`, 'reviewer')).rejects.toThrow('no user');
    await setRole(ds.db, ds.uuid, ann, 'manager');
    await setRole(ds.db, ds.uuid, lead, null);
    expect(await roleOf(ds.db, ds.uuid, lead)).toBeNull();
  });
});
