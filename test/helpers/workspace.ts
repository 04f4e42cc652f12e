import path from 'node:path';
import type { Args, Channel, ResultOf } from '../../src-main/common/contract';
import type { ErrorData } from '../../src-main/common/errors';
import type { ImageListItem } from '../../src-main/common/model';
import { dispatch } from '../../src-main/services/dispatch';
import { Workspace } from '../../src-main/services/workspace';
import { makeImages } from './images';
import { tempDir } from './shared';

/** A workspace in browser mode over its own config folder; events go nowhere. */
export function newWorkspace(configDir: string): Workspace {
  return new Workspace({ configDir, mode: 'web', version: 'test', emit: () => {} });
}

/** A contract call through the real dispatch (validation included) that must succeed. */
export async function ok<C extends Channel>(ws: Workspace, c: C, args: Args<C>): Promise<ResultOf<C>> {
  const r = await dispatch(ws.handlers, c, args);
  if (!r.ok) throw new Error(`${c} failed: ${r.error.code}: ${r.error.message}`);
  return r.value as ResultOf<C>;
}

/** A contract call that must fail; the error as data, so tests assert its code. */
export async function fails<C extends Channel>(ws: Workspace, c: C, args: Args<C>): Promise<ErrorData> {
  const r = await dispatch(ws.handlers, c, args);
  if (r.ok) throw new Error(`${c} succeeded but was expected to fail`);
  return r.error;
}

/** A temporary folder holding `imgs/` with one small image of every supported kind (makeImages). */
export async function makeImageDir(): Promise<string> {
  const dir = tempDir();
  await makeImages(path.join(dir, 'imgs'));
  return dir;
}

/**
 * A new dataset rooted at `imageDir` (from makeImageDir) with its `imgs/` imported, in a workspace
 * of its own, so each test starts from the same state without making the images again.
 */
export async function importedDataset(imageDir: string): Promise<{ ws: Workspace; file: string; items: ImageListItem[] }> {
  const dir = tempDir();
  const ws = newWorkspace(dir);
  const file = path.join(dir, 'd.tessera');
  await ok(ws, 'dataset:create', { path: file, root: imageDir });
  await ok(ws, 'images:import', { jobId: 'imp', paths: [path.join(imageDir, 'imgs')] });
  const { items } = await ok(ws, 'images:list', {});
  return { ws, file, items };
}

/** Every image of the dataset as a grid item, the slices of stacks included (the grid shows a stack as one tile). */
export async function allImages(ws: Workspace): Promise<ImageListItem[]> {
  const { items } = await ok(ws, 'images:list', { limit: 1000 });
  const out: ImageListItem[] = [];
  for (const it of items) {
    if (it.stack) out.push(...(await ok(ws, 'stacks:get', { id: it.stack.id })).members);
    else out.push(it);
  }
  return out;
}
