import fs from 'node:fs';
import path from 'node:path';
import { AppError } from '../common/errors';
import type { Channel, ParsedArgs } from '../common/contract';
import { isPostgresUrl } from '../db/postgres';
import { isInside } from './paths';
import type { Handlers, Workspace } from './workspace';

/**
 * Browser mode confines every path the renderer names to folders its owner configured: whoever
 * holds the session can create datasets, import and export there, and nowhere else (not `/etc`,
 * not another user's files). Paths are compared after resolving `..` and following symbolic links
 * of the part that exists, so a link inside a root cannot lead out of it.
 */

/** The labels file a manifest given with a model file names (read relative to the model's folder). */
function manifestLabels(file: string, manifest: Record<string, unknown> | undefined): string[] {
  const labels = manifest?.['labels'];
  return typeof labels === 'string' ? [path.resolve(path.dirname(file), labels)] : [];
}

/**
 * A dataset named by a postgres:// URL is no file to confine; the image root of the dataset it
 * opens still has to lie in the allowed folders (checked once it is open).
 */
const datasetFile = (p: string): string[] => (isPostgresUrl(p) ? [] : [p]);

/** The path arguments of each channel that takes any. */
export const PATH_ARGS: { [C in Channel]?: (a: ParsedArgs<C>) => readonly string[] } = {
  'dataset:create': (a) => (a.root === undefined ? datasetFile(a.path) : [...datasetFile(a.path), a.root]),
  'dataset:open': (a) => datasetFile(a.path),
  'dataset:allowExternal': (a) => a.folders,
  'images:import': (a) => a.paths,
  'interchange:inspect': (a) => [a.path],
  'interchange:import': (a) => [a.path],
  'interchange:export': (a) => [a.outDir],
  'models:inspect': (a) => (a.labels === undefined ? [a.file] : [a.file, a.labels]),
  'models:add': (a) => [a.file, ...manifestLabels(a.file, a.manifest)],
  'models:try': (a) => ('file' in a ? [a.file, ...manifestLabels(a.file, a.manifest)] : []),
  'segment:inspect': (a) => [a.encoder, a.decoder],
  'segment:add': (a) => [a.encoder, a.decoder],
  'app:showInFolder': (a) => [a.path],
};

/** The path with every existing ancestor's links followed; the missing tail is kept as written. */
export function realPathOf(p: string): string {
  const abs = path.resolve(p);
  let head = abs;
  const tail: string[] = [];
  for (;;) {
    try {
      return path.join(fs.realpathSync(head), ...tail);
    } catch {
      const parent = path.dirname(head);
      if (parent === head) return abs;
      tail.unshift(path.basename(head));
      head = parent;
    }
  }
}

/** Throws PATH_NOT_ALLOWED unless `p` lies in one of `roots` (already real paths). */
export function requireAllowedPath(roots: readonly string[], p: string): void {
  const real = realPathOf(p);
  if (roots.some((r) => isInside(r, real))) return;
  throw new AppError(
    'PATH_NOT_ALLOWED',
    `${p}: outside the folders this browser-mode server may use (${roots.join(', ')}); start it with --root <folder> to allow another`,
    { path: p, roots: [...roots] },
  );
}

/**
 * The workspace's handlers as a caller confined to `roots` sees them: each path argument must lie
 * in a root, and so must the image folder of a dataset that is opened (a dataset file cannot point
 * outside them either). The workspace itself is left as it is for its owner. Also returns the
 * roots as real paths.
 */
export function confinedHandlers(workspace: Workspace, roots: readonly string[]): { handlers: Handlers; roots: string[] } {
  const real = [...new Set(roots.map(realPathOf))];
  workspace.confineTo(real);
  const handlers = { ...workspace.handlers } as Record<Channel, (a: unknown) => unknown>;
  for (const [channel, pathsOf] of Object.entries(PATH_ARGS) as [Channel, (a: unknown) => readonly string[]][]) {
    const inner = handlers[channel];
    handlers[channel] = async (args: unknown) => {
      for (const p of pathsOf(args)) requireAllowedPath(real, p);
      const result = await inner(args);
      if (channel === 'dataset:open' || channel === 'dataset:create') {
        const ds = workspace.current;
        if (ds && !real.some((r) => isInside(r, realPathOf(ds.root)))) {
          await workspace.refuseCurrent();
          requireAllowedPath(real, ds.root);
        }
      }
      return result;
    };
  }
  return { handlers: handlers as Handlers, roots: real };
}


