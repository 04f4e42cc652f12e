import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../helpers/shared';

/**
 * The editor is framework-free (it runs under Node in these tests): it reaches the dataset only
 * through its injected port, and never Svelte, the DOM, Konva or the bridge.
 */
describe('editor/ boundaries', () => {
  const dir = path.join(repoRoot, 'src-renderer/editor');
  const files = fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => path.join(e.parentPath, e.name));

  it('imports only itself and the pure parts of common/', () => {
    expect(files.length).toBeGreaterThan(10);
    const offenders: string[] = [];
    for (const f of files) {
      const src = fs.readFileSync(f, 'utf8');
      for (const m of src.matchAll(/from\s*['"]([^'"]+)['"]/g)) {
        const spec = m[1]!;
        const resolved = path.relative(repoRoot, path.resolve(path.dirname(f), spec)).split(path.sep).join('/');
        const ok = spec.startsWith('.') && (resolved.startsWith('src-renderer/editor/') || /^src-main\/common\/(model|editing|segment|geometry\/\w+)$/.test(resolved));
        if (!ok) offenders.push(`${path.relative(repoRoot, f)} -> ${spec}`);
      }
      if (/\b(document|window)\.|\b(HTMLElement|KeyboardEvent|PointerEvent|MouseEvent)\b/.test(src.replace(/\/\/.*$|\/\*[\s\S]*?\*\//gm, ''))) {
        offenders.push(`${path.relative(repoRoot, f)} uses the DOM`);
      }
    }
    expect(offenders).toEqual([]);
  });
});
