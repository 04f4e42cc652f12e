import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Dataset } from '../../src-main/services/dataset';
import { dispatch } from '../../src-main/services/dispatch';
import { confinedHandlers } from '../../src-main/services/pathGuard';
import { makeImages } from '../helpers/images';
import { freshPgDataset, pgSkipReason } from '../helpers/postgres';
import { tempDir } from '../helpers/shared';
import { newWorkspace } from '../helpers/workspace';

const pgSkip = pgSkipReason();

/** A workspace as browser mode serves it: every path confined to `root`. */
function confined(root: string) {
  const ws = newWorkspace(path.join(root, 'config'));
  const { handlers } = confinedHandlers(ws, [root]);
  const call = async (channel: string, args: unknown) => dispatch(handlers, channel as never, args as never);
  return { ws, call };
}

describe.skipIf(pgSkip !== null)('browser mode: a dataset named by a postgres:// URL', () => {
  it('creates, opens and remembers it by its URL without the password, confined by its image root', async () => {
    const root = tempDir('tessera-web-pg-');
    await makeImages(path.join(root, 'imgs'));
    const target = await freshPgDataset('web');
    const withPassword = target.url.replace('tessera@', 'tessera:s3cret@');
    const { ws, call } = confined(root);
    try {
      // A PostgreSQL dataset needs its image root; the message names the URL, not the password.
      const noRoot = await call('dataset:create', { path: withPassword });
      expect(noRoot).toMatchObject({ ok: false, error: { code: 'INVALID_ARGUMENT' } });
      expect(JSON.stringify(noRoot)).not.toContain('s3cret');
      // An image root outside the allowed folders is refused.
      expect(await call('dataset:create', { path: withPassword, root: '/' })).toMatchObject({ ok: false, error: { code: 'PATH_NOT_ALLOWED' } });

      const created = await call('dataset:create', { path: withPassword, root: path.join(root, 'imgs') });
      expect(created, JSON.stringify(created)).toMatchObject({ ok: true, value: { root: path.join(root, 'imgs'), imageCount: 0 } });
      const imported = await call('images:import', { jobId: 'pg', paths: [path.join(root, 'imgs')], recursive: true, allowOutsideRoot: false });
      expect(imported).toMatchObject({ ok: true, value: { imported: 8 } });
      expect(await call('dataset:close', {})).toMatchObject({ ok: true });

      const opened = await call('dataset:open', { path: withPassword });
      expect(opened).toMatchObject({ ok: true, value: { imageCount: 8 } });
      expect(JSON.stringify(opened)).not.toContain('s3cret');
      const recent = await call('dataset:recent', {});
      expect(recent.ok).toBe(true);
      const paths = (recent as { value: { path: string }[] }).value.map((r) => r.path);
      expect(paths).toEqual([expect.stringMatching(/^postgres:\/\/tessera@127\.0\.0\.1:\d+\/postgres\?schema=t_web_/)]);
      expect(fs.readFileSync(path.join(root, 'config', 'recent.json'), 'utf8')).not.toContain('s3cret');
      // The remembered URL opens it again (the test cluster needs no password).
      expect(await call('dataset:open', { path: paths[0]! })).toMatchObject({ ok: true, value: { imageCount: 8 } });
    } finally {
      await ws.dispose();
      await target.drop();
    }
  });

  it('refuses to open one whose image root lies outside the allowed folders, and leaves it closed', async () => {
    const allowed = tempDir('tessera-web-pg-');
    const elsewhere = tempDir('tessera-web-pg-out-');
    const target = await freshPgDataset('webout');
    const ds = await Dataset.create(target.url, elsewhere);
    await ds.close();
    const { ws, call } = confined(allowed);
    try {
      const r = await call('dataset:open', { path: target.url });
      expect(r).toMatchObject({ ok: false, error: { code: 'PATH_NOT_ALLOWED', message: expect.stringContaining(elsewhere) } });
      expect(ws.current).toBeNull();
    } finally {
      await ws.dispose();
      await target.drop();
    }
  });
});
