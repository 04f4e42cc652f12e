import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../src-main/cli/main';
import { insertImages } from '../../src-main/db/images';
import { editAnnotations, undoEdit } from '../../src-main/services/annotations';
import { asUser, Dataset } from '../../src-main/services/dataset';
import { recordAudit } from '../../src-main/team/work';
import { imageRows } from '../helpers/images';
import { tempDir } from '../helpers/shared';

async function cli(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, { out: (s) => out.push(s), err: (s) => err.push(s), tty: false });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

const T = Date.UTC(2026, 0, 2, 3, 4, 5);
const at = (s: number) => new Date(T + s * 1000).toISOString();

/** A dataset where Ann and Ben edited two images, with the team server's audit entries. */
async function fixture(): Promise<{ db: string; x: number; y: number }> {
  const dir = tempDir('tessera-cli-audit-');
  const db = path.join(dir, 'audit.tessera');
  const ds = await Dataset.create(db, dir);
  try {
    const [x, y] = await insertImages(ds.db, imageRows(2, { pathOf: (i) => `imgs/${i === 0 ? 'x' : 'y'}.png` }));
    const box = { kind: 'box' as const, x: 1, y: 1, w: 4, h: 4 };
    const made = await asUser('ann', () => editAnnotations(ds, { imageId: x!, label: 'Add box', ops: [{ op: 'create', draft: { classId: null, geometry: box } }] }, T + 1000));
    await asUser('ben', () => editAnnotations(ds, { imageId: x!, label: 'Move box', ops: [{ op: 'update', id: made.created[0]!, patch: { geometry: { ...box, x: 3 } } }] }, T + 2000));
    await asUser('ann', () => editAnnotations(ds, { imageId: y!, label: 'Add box', ops: [{ op: 'create', draft: { classId: null, geometry: box } }] }, T + 3000));
    await asUser('ann', () => undoEdit(ds, y!, T + 4000));
    await recordAudit(ds, { user: 'ann', action: 'annotations:edit', imageId: x, detail: { label: 'Add box' } }, T + 1000);
    await recordAudit(ds, { user: 'ben', action: 'annotations:edit', imageId: x, detail: { label: 'Move box' } }, T + 2000);
    await recordAudit(ds, { user: 'ann', action: 'annotations:edit', imageId: y, detail: { label: 'Add box' } }, T + 3000);
    await recordAudit(ds, { user: 'max', action: 'team:createJobs', detail: { jobs: 1 } }, T + 5000);
    return { db, x: x!, y: y! };
  } finally {
    await ds.close();
  }
}

describe('tessera audit', () => {
  it('prints the audit log and the edits of an image (by id or file name), of a user, or both', async () => {
    const { db, x, y } = await fixture();

    const byImage = await cli('audit', db, '--image', String(x));
    expect(byImage.err).toBe('');
    expect(byImage.code).toBe(0);
    expect(byImage.out.split('\n')).toEqual([
      `audit log of image ${x}, newest first: 2 entries`,
      `${at(2)}  ben  annotations:edit  image ${x}  {"label":"Move box"}`,
      `${at(1)}  ann  annotations:edit  image ${x}  {"label":"Add box"}`,
      `edits of image ${x}, newest first: 2`,
      `${at(2)}  ben  image ${x}  "Move box"`,
      `${at(1)}  ann  image ${x}  "Add box"`,
    ]);
    expect((await cli('audit', db, '--image', 'x.png')).out).toBe(byImage.out);
    expect((await cli('audit', db, '--image', 'imgs/x.png')).out).toBe(byImage.out);

    const ann = await cli('audit', db, '--user', 'ann', '--json');
    expect(ann.code).toBe(0);
    const parsed = JSON.parse(ann.out) as { imageId: number | null; user: string; audit: { at: number; imageId: number }[]; journal: { imageId: number; user: string; label: string; undone: boolean; at: number }[] };
    expect(parsed.imageId).toBeNull();
    expect(parsed.user).toBe('ann');
    expect(parsed.audit.map((a) => [a.at, a.imageId])).toEqual([
      [T + 3000, y],
      [T + 1000, x],
    ]);
    expect(parsed.journal.map((j) => [j.imageId, j.user, j.label, j.undone, j.at])).toEqual([
      [y, 'ann', 'Add box', true, T + 3000],
      [x, 'ann', 'Add box', false, T + 1000],
    ]);

    const both = await cli('audit', db, '--image', String(y), '--user', 'ann');
    expect(both.out.split('\n')).toEqual([
      `audit log of image ${y}, user ann, newest first: 1 entry`,
      `${at(3)}  ann  annotations:edit  image ${y}  {"label":"Add box"}`,
      `edits of image ${y}, user ann, newest first: 1`,
      `${at(3)}  ann  image ${y}  "Add box"  (undone)`,
    ]);
    expect((await cli('audit', db, '--image', String(x), '--user', 'ann')).out).not.toContain('ben');

    // The whole log, newest first; --limit keeps the newest.
    const all = await cli('audit', db);
    expect(all.out.split('\n')).toEqual([
      'audit log, newest first: 4 entries',
      `${at(5)}  max  team:createJobs  -  {"jobs":1}`,
      `${at(3)}  ann  annotations:edit  image ${y}  {"label":"Add box"}`,
      `${at(2)}  ben  annotations:edit  image ${x}  {"label":"Move box"}`,
      `${at(1)}  ann  annotations:edit  image ${x}  {"label":"Add box"}`,
    ]);
    expect((await cli('audit', db, '--limit', '1')).out.split('\n')).toEqual(['audit log, newest first: 1 entry', `${at(5)}  max  team:createJobs  -  {"jobs":1}`]);
  });

  it('refuses a bad limit, user name or image name, naming it', async () => {
    const { db } = await fixture();
    const limit = await cli('audit', db, '--limit', '0');
    expect(limit.code).toBe(2);
    expect(limit.err).toContain('--limit must be a whole number');
    const user = await cli('audit', db, '--user', 'no body');
    expect(user.code).toBe(2);
    expect(user.err).toContain('"no body"');
    const image = await cli('audit', db, '--image', 'nothing.png');
    expect(image.code).toBe(1);
    expect(image.err).toContain('NOT_FOUND');
    expect(image.err).toContain('"nothing.png"');
    // A name matches whole path segments only.
    expect((await cli('audit', db, '--image', 's/x.png')).err).toContain('NOT_FOUND');
    expect((await cli('audit')).code).toBe(2);
  });
});
