import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from './helpers/shared';

/** The folder a file lives in decides what it may import (see README, "Layout"). */
const RULES: { module: RegExp; allowed: RegExp; name: string }[] = [
  { name: 'electron', module: /^electron$/, allowed: /^src-main\/(app|ipc|preload)\// },
  { name: 'better-sqlite3', module: /^better-sqlite3$/, allowed: /^src-main\/db\// },
  { name: 'pg', module: /^pg(-[a-z-]+)?$/, allowed: /^src-main\/db\// },
  { name: 'onnxruntime-node', module: /^onnxruntime-(node|web|common)/, allowed: /^src-main\/inference\// },
  { name: 'konva', module: /^konva(\/|$)/, allowed: /^src-renderer\/canvas\// },
  { name: '@techstark/opencv-js', module: /^@techstark\/opencv-js$/, allowed: /^src-main\/vision\// },
];

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(path.join(repoRoot, dir), { withFileTypes: true, recursive: true })) {
    if (e.isFile() && /\.(ts|svelte|js|mjs)$/.test(e.name)) {
      out.push(path.relative(repoRoot, path.join(e.parentPath, e.name)).split(path.sep).join('/'));
    }
  }
  return out;
}

function imports(file: string): string[] {
  // Type-only imports are erased at build time and cannot pull code across a boundary.
  const src = fs.readFileSync(path.join(repoRoot, file), 'utf8').replace(/^\s*(import|export)\s+type\s[^;]*?from\s*['"][^'"]+['"];?/gm, '');
  const found: string[] = [];
  for (const m of src.matchAll(/(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|require\(\s*['"]([^'"]+)['"]\s*\)|^\s*import\s*['"]([^'"]+)['"]/gm)) {
    found.push((m[1] ?? m[2] ?? m[3] ?? m[4])!);
  }
  return found;
}

const files = [...sources('src-main'), ...sources('src-renderer')];

describe('import boundaries', () => {
  it('finds the source files', () => {
    expect(files.length).toBeGreaterThan(20);
    expect(imports('src-main/db/open.ts')).toContain('better-sqlite3');
  });

  for (const rule of RULES) {
    it(`only ${rule.allowed.source} imports ${rule.name}`, () => {
      const offenders = files.filter((f) => !rule.allowed.test(f) && imports(f).some((m) => rule.module.test(m)));
      expect(offenders).toEqual([]);
    });
  }

  it('common/ imports nothing outside common/ but zod', () => {
    const common = path.join(repoRoot, 'src-main', 'common');
    const offenders = files
      .filter((f) => f.startsWith('src-main/common/'))
      .flatMap((f) =>
        imports(f)
          .filter((m) => (m.startsWith('.') ? !path.resolve(repoRoot, path.dirname(f), m).startsWith(common + path.sep) : m !== 'zod'))
          .map((m) => `${f} -> ${m}`),
      );
    expect(offenders).toEqual([]);
  });

  it('services/ never import the transports or the shell', () => {
    const offenders = files
      .filter((f) => f.startsWith('src-main/services/') || f.startsWith('src-main/db/') || f.startsWith('src-main/cli/'))
      .flatMap((f) => imports(f).filter((m) => /(^|\/)(ipc|app|preload|web)\//.test(m)).map((m) => `${f} -> ${m}`));
    expect(offenders).toEqual([]);
  });

  it('the renderer reaches the backend only through bridge/, and never bundles zod or Node modules', () => {
    const offenders = files
      .filter((f) => f.startsWith('src-renderer/'))
      .flatMap((f) => {
        const bad = imports(f).filter(
          (m) => m.startsWith('node:') || m === 'zod' || /src-main\/(?!common\/)/.test(m) || /common\/contract$/.test(m),
        );
        const src = fs.readFileSync(path.join(repoRoot, f), 'utf8');
        if (!f.startsWith('src-renderer/bridge/') && /window\.tessera|new WebSocket\(/.test(src)) bad.push('window.tessera/WebSocket');
        return bad.map((m) => `${f} -> ${m}`);
      });
    expect(offenders).toEqual([]);
  });
});
