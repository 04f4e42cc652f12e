import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../src-main/cli/main';
import { makeImages } from '../helpers/images';
import { freshPgDataset, pgSkipReason } from '../helpers/postgres';
import { tempDir } from '../helpers/shared';

async function cli(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, { out: (s) => out.push(s), err: (s) => err.push(s), tty: false });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

function files(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (e.isDirectory()) continue;
    out[path.relative(dir, path.join(e.parentPath, e.name))] = crypto.createHash('sha256').update(fs.readFileSync(path.join(e.parentPath, e.name))).digest('hex');
  }
  return out;
}

const pgSkip = pgSkipReason();

describe.skipIf(pgSkip !== null)('the commands take a postgres:// URL wherever they take a dataset', () => {
  it('init (with --root), import, info, version and export on a URL, as on a file', async () => {
    const dir = tempDir('tessera-cli-url-');
    await makeImages(path.join(dir, 'imgs'));
    const target = await freshPgDataset('cli', { created: false });
    const url = target.url.replace('tessera@', 'tessera:pw0rd@');
    try {
      const noRoot = await cli('init', url);
      expect(noRoot.code).toBe(2);
      expect(noRoot.err).toMatch(/INVALID_ARGUMENT: postgres:\/\/tessera@.*: a PostgreSQL dataset needs the folder its images are under/);
      expect(noRoot.err).not.toContain('pw0rd');

      const init = await cli('init', url, '--root', dir);
      expect(init.code, init.err).toBe(0);
      expect(init.out).toContain(`(image root ${dir})`);
      expect(init.out).not.toContain('pw0rd');
      const file = path.join(dir, 'f.tessera');
      expect((await cli('init', file, '--root', dir)).code).toBe(0);
      for (const ds of [url, file]) {
        const imp = await cli('import', ds, path.join(dir, 'imgs'), '--json');
        expect(imp.code, imp.err).toBe(0);
      }

      const info = await cli('info', url, '--json');
      expect(info.code, info.err).toBe(0);
      const parsed = JSON.parse(info.out) as { path: string; root: string; images: { total: number } };
      expect(parsed.images.total).toBeGreaterThan(0);
      expect(parsed.root).toBe(dir);
      expect(parsed.path).not.toContain('pw0rd');
      expect(JSON.parse((await cli('info', file, '--json')).out).images).toEqual(JSON.parse(info.out).images);

      expect((await cli('version', 'create', url, '--name', 'first')).code).toBe(0);
      const versions = await cli('version', 'list', url, '--json');
      expect(versions.code, versions.err).toBe(0);
      expect(JSON.parse(versions.out)).toMatchObject([{ name: 'first' }]);

      // The same images in a file and in PostgreSQL export to the same files.
      const outUrl = path.join(dir, 'out-url');
      const outFile = path.join(dir, 'out-file');
      const e1 = await cli('export', url, outUrl, '--format', 'yolo');
      expect(e1.code, e1.err).toBe(0);
      expect((await cli('export', file, outFile, '--format', 'yolo')).code).toBe(0);
      const a = files(outUrl);
      const b = files(outFile);
      expect(Object.keys(a).length).toBeGreaterThan(8);
      for (const f of Object.keys(b).filter((x) => !x.includes('tessera'))) expect(a[f], f).toBe(b[f]);

      // A URL naming no dataset says so, naming it.
      const missing = await cli('info', url.replace(/schema=[^&]+/, 'schema=nothing_here'), '--json');
      expect(missing.code).toBe(1);
      expect(missing.err).toMatch(/NOT_A_DATASET: postgres:\/\/tessera@.*schema=nothing_here: no schema nothing_here/);
    } finally {
      await target.drop();
    }
  }, 120_000);
});
