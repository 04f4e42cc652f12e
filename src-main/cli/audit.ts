import { parseArgs } from 'node:util';
import { AppError } from '../common/errors';
import { USER_NAME_PATTERN, type AuditEntry } from '../common/team';
import { findImagesByName } from '../db/images';
import type { JournalLine } from '../db/teamWork';
import { Dataset } from '../services/dataset';
import { auditLog, editHistory } from '../team/work';
import type { CliIo } from './main';

/**
 * `tessera audit <db> [--image ID|NAME] [--user NAME] [--limit N] [--json]`: the team's audit log,
 * newest first, of one image and/or one user, with the edit journal entries of that image or user
 * (who made each edit). Without --image or --user, the whole log.
 */
export async function cmdAudit(args: string[], io: CliIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: { image: { type: 'string' }, user: { type: 'string' }, limit: { type: 'string', default: '200' }, json: { type: 'boolean', default: false } },
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    throw new AppError('INVALID_ARGUMENT', (e as Error).message);
  }
  const { values, positionals } = parsed;
  if (positionals.length !== 1) throw new AppError('INVALID_ARGUMENT', 'audit takes one dataset path');
  const limit = Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 100_000) throw new AppError('INVALID_ARGUMENT', `--limit must be a whole number from 1 to 100000, not "${values.limit}"`);
  const user = values.user;
  if (user !== undefined && !USER_NAME_PATTERN.test(user)) throw new AppError('INVALID_ARGUMENT', `--user "${user}" is not a user name (letters, digits and . _ @ -, at most 64)`);
  const ds = await Dataset.open(positionals[0]!);
  try {
    const imageId = values.image === undefined ? undefined : await imageRef(ds, values.image);
    const q = { imageId, user, limit };
    const audit = await auditLog(ds, q);
    const journal = imageId !== undefined || user !== undefined ? await editHistory(ds, q) : null;
    if (values.json) {
      io.out(JSON.stringify({ imageId: imageId ?? null, user: user ?? null, audit, ...(journal ? { journal } : {}) }, null, 2));
      return 0;
    }
    const of = [imageId !== undefined ? `image ${imageId}` : '', user !== undefined ? `user ${user}` : ''].filter(Boolean).join(', ');
    io.out(`audit log${of ? ` of ${of}` : ''}, newest first: ${audit.length} entr${audit.length === 1 ? 'y' : 'ies'}`);
    for (const a of audit) io.out(auditLine(a));
    if (journal) {
      io.out(`edits${of ? ` of ${of}` : ''}, newest first: ${journal.length}`);
      for (const j of journal) io.out(journalLine(j));
    }
  } finally {
    await ds.close();
  }
  return 0;
}

const time = (ms: number): string => new Date(ms).toISOString();

function auditLine(a: AuditEntry): string {
  return [time(a.at), a.user, a.action, a.imageId === null ? '-' : `image ${a.imageId}`, a.detail ?? ''].join('  ').trimEnd();
}

function journalLine(j: JournalLine): string {
  return [time(j.at), j.user ?? '(no user recorded)', `image ${j.imageId}`, JSON.stringify(j.label), j.undone ? '(undone)' : ''].join('  ').trimEnd();
}

/**
 * An image by id or by file name. An id is taken as it is even when the image is gone: its audit
 * entries outlive it.
 */
async function imageRef(ds: Dataset, ref: string): Promise<number> {
  if (/^\d+$/.test(ref)) return Number(ref);
  const found = await findImagesByName(ds.db, ref.replace(/\\/g, '/'));
  if (found.length === 1) return found[0]!.id;
  if (found.length === 0) throw new AppError('NOT_FOUND', `${ds.file}: no image named "${ref}"`, { image: ref });
  throw new AppError('INVALID_ARGUMENT', `"${ref}" names ${found.length} images (${found.slice(0, 5).map((i) => `${i.id} ${i.path}`).join(', ')}); give the id or a longer path`, { image: ref });
}
