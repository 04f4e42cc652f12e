import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import type { Args, Channel, ResultOf } from '../../src-main/common/contract';
import type { ClassRecord, ImageListItem } from '../../src-main/common/model';
import { dispatch } from '../../src-main/services/dispatch';
import type { Workspace } from '../../src-main/services/workspace';
import type { EditorBackend } from '../../src-renderer/editor/backend';
import { Editor, type EditorStatus } from '../../src-renderer/editor/Editor';
import { handleKey, type ActionContext } from '../../src-renderer/editor/actions';
import type { EditorPointerEvent } from '../../src-renderer/editor/scene';
import { tempDir } from './shared';
import { newWorkspace } from './workspace';

/** A contract call through the real dispatch (validation included), unwrapped like the bridge does. */
export async function callWs<C extends Channel>(ws: Workspace, channel: C, args: Args<C>): Promise<ResultOf<C>> {
  const r = await dispatch(ws.handlers, channel, args);
  if (!r.ok) throw Object.assign(new Error(r.error.message), { code: r.error.code });
  return r.value as ResultOf<C>;
}

/** The editor's port wired to a workspace in-process: the same handlers the app's IPC calls. */
export function workspaceBackend(ws: Workspace): EditorBackend {
  return {
    list: (imageId) => callWs(ws, 'annotations:list', { imageId }),
    edit: (imageId, label, ops) => callWs(ws, 'annotations:edit', { imageId, label, ops }),
    undo: (imageId) => callWs(ws, 'annotations:undo', { imageId }),
    redo: (imageId) => callWs(ws, 'annotations:redo', { imageId }),
    history: (imageId) => callWs(ws, 'annotations:history', { imageId }),
    smart: {
      wand: (a) => callWs(ws, 'smart:wand', a),
      grabcut: (a) => callWs(ws, 'smart:grabcut', a),
      watershed: (a) => callWs(ws, 'smart:watershed', a),
      scissors: (a) => callWs(ws, 'smart:scissors', a),
    },
  };
}

export interface TestDataset {
  dir: string;
  file: string;
  ws: Workspace;
  images: ImageListItem[];
  classes: ClassRecord[];
}

/** Image sizes of the test dataset: two of one size (for pasting masks) and one other. */
export const TEST_IMAGES = [
  { name: 'a.png', width: 200, height: 150 },
  { name: 'b.png', width: 200, height: 150 },
  { name: 'c.png', width: 120, height: 90 },
];

export { newWorkspace };

/** A real dataset file with three small images and the classes cell, nucleus, debris. */
export async function createTestDataset(): Promise<TestDataset> {
  const dir = tempDir('tessera-editor-');
  const imgDir = path.join(dir, 'imgs');
  fs.mkdirSync(imgDir);
  for (const [i, im] of TEST_IMAGES.entries()) {
    await sharp({ create: { width: im.width, height: im.height, channels: 3, background: { r: 40 * i, g: 90, b: 120 } } })
      .png()
      .toFile(path.join(imgDir, im.name));
  }
  const ws = newWorkspace(path.join(dir, 'config'));
  const file = path.join(dir, 'd.tessera');
  await callWs(ws, 'dataset:create', { path: file });
  await callWs(ws, 'images:import', { jobId: 'editor-test', paths: [imgDir] });
  const { items } = await callWs(ws, 'images:list', {});
  const images = TEST_IMAGES.map((t) => items.find((i) => i.path.endsWith(t.name))!);
  for (const name of ['cell', 'nucleus', 'debris']) await callWs(ws, 'classes:create', { name });
  const classes = await callWs(ws, 'classes:list', {});
  return { dir, file, ws, images, classes };
}

/** Closes the dataset and removes its folder: the afterAll of every file that made one. */
export async function closeTestDataset(ds: TestDataset | undefined): Promise<void> {
  if (!ds) return;
  await ds.ws.close();
  fs.rmSync(ds.dir, { recursive: true, force: true });
}

/**
 * Drives an editor the way the canvas and the keyboard do, with no DOM: pointer events in image
 * pixels at a given zoom, and key presses through the action registry.
 */
export class EditorDriver {
  zoom = 1;
  readonly statuses: EditorStatus[] = [];
  readonly ctx: ActionContext;
  private mods = { shift: false, ctrl: false, alt: false };

  constructor(readonly editor: Editor, ctx: Partial<ActionContext> = {}) {
    editor.events.on('status', (s) => this.statuses.push(s));
    this.ctx = { editor, ...ctx };
  }

  get lastStatus(): EditorStatus | undefined {
    return this.statuses[this.statuses.length - 1];
  }

  private ev(x: number, y: number, mods: Partial<typeof this.mods> = {}): EditorPointerEvent {
    return { x, y, button: 0, zoom: this.zoom, ...this.mods, ...mods };
  }

  down(x: number, y: number, mods: Partial<typeof this.mods> = {}): this {
    this.editor.pointer('down', this.ev(x, y, mods));
    return this;
  }

  move(x: number, y: number, mods: Partial<typeof this.mods> = {}): this {
    this.editor.pointer('move', this.ev(x, y, mods));
    return this;
  }

  up(x: number, y: number, mods: Partial<typeof this.mods> = {}): this {
    this.editor.pointer('up', this.ev(x, y, mods));
    return this;
  }

  click(x: number, y: number, mods: Partial<typeof this.mods> = {}): this {
    return this.move(x, y, mods).down(x, y, mods).up(x, y, mods);
  }

  /** Press, move in `steps` straight steps, release: what a mouse drag sends. */
  drag(x0: number, y0: number, x1: number, y1: number, mods: Partial<typeof this.mods> = {}, steps = 5): this {
    this.move(x0, y0, mods).down(x0, y0, mods);
    for (let i = 1; i <= steps; i++) this.move(x0 + ((x1 - x0) * i) / steps, y0 + ((y1 - y0) * i) / steps, mods);
    return this.up(x1, y1, mods);
  }

  /** A key press as the DOM names it ('b', 'Enter', 'Backspace', 'z' with ctrl...); returns whether an action ran. */
  key(key: string, mods: Partial<typeof this.mods> = {}): boolean {
    return handleKey(this.ctx, { key, ctrl: false, shift: false, alt: false, ...mods });
  }

  /** Waits for every edit sent so far to be answered. */
  settle(): Promise<void> {
    return this.editor.idle();
  }
}
