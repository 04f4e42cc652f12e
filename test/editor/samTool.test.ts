import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rleArea, rleBBox } from '../../src-main/common/geometry/rle';
import type { Workspace } from '../../src-main/services/workspace';
import { Editor } from '../../src-renderer/editor/Editor';
import type { SamTool, SegmentPrompt, Segmenter } from '../../src-renderer/editor/tools/sam';
import { callWs, EditorDriver, workspaceBackend } from '../helpers/editorDriver';
import { sharedPath, tempDir } from '../helpers/shared';
import { newWorkspace } from '../helpers/workspace';
import { FLOAT, INT64, onnxModel } from '../helpers/onnxModel';
import { threeMaskDecoder } from '../helpers/samFamilyModels';


/**
 * A decoder of the Segment Anything contract whose one mask is the whole image and whose predicted
 * IoU says what mask_input it was fed: 1 + 10 × the largest value of mask_input, and whose
 * low-resolution mask is that score everywhere. A first prompt scores 1, one refined from it 11,
 * one refined from that 111: the score names the answer the prompt was refined from.
 */
function echoDecoder(): Uint8Array {
  return onnxModel({
    inputs: [
      { name: 'image_embeddings', type: FLOAT, dims: [1, 256, 64, 64] },
      { name: 'point_coords', type: FLOAT, dims: [1, 'N', 2] },
      { name: 'point_labels', type: FLOAT, dims: [1, 'N'] },
      { name: 'mask_input', type: FLOAT, dims: [1, 1, 256, 256] },
      { name: 'has_mask_input', type: FLOAT, dims: [1] },
      { name: 'orig_im_size', type: FLOAT, dims: [2] },
    ],
    outputs: [
      { name: 'masks', type: FLOAT, dims: [1, 1, 'H', 'W'] },
      { name: 'iou_predictions', type: FLOAT, dims: [1, 1] },
      { name: 'low_res_masks', type: FLOAT, dims: [1, 1, 256, 256] },
    ],
    nodes: [
      { op: 'Cast', inputs: ['orig_im_size'], outputs: ['hw'], int: { to: INT64 } },
      { op: 'Concat', inputs: ['lead', 'hw'], outputs: ['shape'], int: { axis: 0 } },
      { op: 'Expand', inputs: ['one', 'shape'], outputs: ['masks'] },
      { op: 'ReduceMax', inputs: ['mask_input'], outputs: ['fed'], int: { keepdims: 0 } },
      { op: 'Mul', inputs: ['fed', 'ten'], outputs: ['fed10'] },
      { op: 'Add', inputs: ['fed10', 'one'], outputs: ['score'] },
      { op: 'Reshape', inputs: ['score', 'iouShape'], outputs: ['iou_predictions'] },
      { op: 'Expand', inputs: ['score', 'lowShape'], outputs: ['low_res_masks'] },
    ],
    initializers: [
      { name: 'lead', type: INT64, dims: [2], values: [1, 1] },
      { name: 'lowShape', type: INT64, dims: [4], values: [1, 1, 256, 256] },
      { name: 'iouShape', type: INT64, dims: [2], values: [1, 1] },
      { name: 'one', type: FLOAT, dims: [], values: [1] },
      { name: 'ten', type: FLOAT, dims: [], values: [10] },
    ],
  });
}

const pair = sharedPath('models/sam_contract');

/**
 * The segment tool driven like the canvas drives it (pointer events in image pixels, keys through
 * the action registry), its decoder the real service over the SAM contract pair: the masks say
 * whether each prompt reached the decoder as the user gave it.
 */
describe.runIf(pair)('segment tool', () => {
  let root: string;
  let ws: Workspace;
  let editor: Editor;
  let d: EditorDriver;
  let tool: SamTool;
  const prepared: number[] = [];
  const MODEL = 'sam-contract-test';
  const MULTI = 'sam-three-masks';
  const ECHO = 'sam-echo';

  beforeAll(async () => {
    root = tempDir('tessera-samtool-');
    const config = path.join(root, 'config');
    fs.mkdirSync(config);
    fs.writeFileSync(path.join(root, 'multi-decoder.onnx'), threeMaskDecoder());
    fs.writeFileSync(path.join(root, 'echo-decoder.onnx'), echoDecoder());
    const contract = {
      name: 'SAM contract',
      task: 'interactive',
      family: 'sam',
      encoder: { file: path.join(pair!, 'sam_contract_encoder.onnx') },
      inputSize: 1024,
      mean: [123.675, 116.28, 103.53],
      std: [58.395, 57.12, 57.375],
    };
    fs.writeFileSync(
      path.join(config, 'custom-sam-models.json'),
      JSON.stringify([
        { ...contract, id: MULTI, name: 'three masks', decoder: { file: path.join(root, 'multi-decoder.onnx') } },
        { ...contract, id: ECHO, name: 'echo', decoder: { file: path.join(root, 'echo-decoder.onnx') } },
        {
          id: MODEL,
          name: 'SAM contract',
          task: 'interactive',
          family: 'sam',
          encoder: { file: path.join(pair!, 'sam_contract_encoder.onnx') },
          decoder: { file: path.join(pair!, 'sam_contract_decoder.onnx') },
          inputSize: 1024,
          mean: [123.675, 116.28, 103.53],
          std: [58.395, 57.12, 57.375],
        },
      ]),
    );
    fs.mkdirSync(path.join(root, 'imgs'));
    await sharp({ create: { width: 640, height: 427, channels: 3, background: { r: 90, g: 120, b: 150 } } }).png().toFile(path.join(root, 'imgs', 'land.png'));
    ws = newWorkspace(config);
    await callWs(ws, 'dataset:create', { path: path.join(root, 'd.tessera') });
    await callWs(ws, 'images:import', { jobId: 'imp', paths: [path.join(root, 'imgs')] });
    await callWs(ws, 'classes:create', { name: 'object' });
    const [item] = (await callWs(ws, 'images:list', {})).items;
    editor = new Editor(workspaceBackend(ws));
    const segmenter: Segmenter = {
      decode: (p) => callWs(ws, 'segment:decode', { ...p, modelId: MODEL }),
      prepare: (imageId) => prepared.push(imageId),
      region: () => undefined,
    };
    editor.segmenter = segmenter;
    editor.setClasses(await callWs(ws, 'classes:list', {}));
    await editor.load({ id: item!.id, width: item!.width, height: item!.height });
    d = new EditorDriver(editor);
    tool = editor.samTool;
  });

  afterAll(async () => {
    await ws?.close();
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  async function answered(): Promise<{ x0: number; x1: number; y0: number; y1: number; area: number } | null> {
    await expect.poll(() => tool.waiting, { timeout: 20_000 }).toBe(false);
    const m = tool.mask;
    if (!m) return null;
    const b = rleBBox(m.rle);
    return { x0: b.x, x1: b.x + b.w - 1, y0: b.y, y1: b.y + b.h - 1, area: rleArea(m.rle) };
  }

  it('S picks the tool and asks for the embedding of the image on screen', () => {
    expect(d.key('s')).toBe(true);
    expect(editor.toolName).toBe('sam');
    expect(prepared).toEqual([editor.image!.id]);
  });

  it('a click, a right click and a box reach the decoder in image pixels; Esc drops the prompt', async () => {
    d.click(400, 200);
    expect(await answered()).toEqual({ x0: 360, x1: 439, y0: 160, y1: 239, area: 5024 });
    expect(tool.info).toMatchObject({ index: 0, count: 1 });
    // A right press is the background point (the canvas sends button 2 to a tool that takes it).
    editor.pointer('down', { x: 430, y: 200, button: 2, shift: false, ctrl: false, alt: false, zoom: 1 });
    editor.pointer('up', { x: 430, y: 200, button: 2, shift: false, ctrl: false, alt: false, zoom: 1 });
    expect(await answered()).toEqual({ x0: 360, x1: 413, y0: 160, y1: 239, area: 2344 });
    expect(tool.points.map((p) => p.label)).toEqual([1, 0]);
    expect(d.key('Escape')).toBe(true);
    expect(tool.mask).toBeNull();
    expect(tool.busy).toBe(false);
    d.drag(100, 100, 200, 150);
    expect(await answered()).toEqual({ x0: 100, x1: 199, y0: 100, y1: 149, area: 5000 });
    d.key('Escape');
  });

  it('Enter stores the mask as one traced polygon of the active class; undo removes it in one step', async () => {
    d.click(400, 200);
    d.click(430, 200, { alt: true });
    expect((await answered())!.area).toBe(2344);
    const vertices = tool.info!.vertices!;
    expect(vertices).toBeGreaterThan(4);
    expect(d.key('Enter')).toBe(true);
    await d.settle();
    const shapes = [...editor.annotations.values()];
    expect(shapes).toHaveLength(1);
    expect(shapes[0]!.geometry.kind).toBe('polygon');
    expect(shapes[0]!.classId).toBe(editor.activeClassId);
    const parts = (shapes[0]!.geometry as { parts: number[][] }).parts;
    expect(parts.reduce((s, r) => s + r.length / 2, 0)).toBe(vertices);
    expect(tool.busy).toBe(false);
    expect(editor.history.undoLabel).toBe('Segment polygon');
    await editor.undo();
    expect(editor.annotations.size).toBe(0);
    await editor.redo();
    expect(editor.annotations.size).toBe(1);
  });

  it('a coarser tolerance gives fewer vertices; as a mask the RLE is stored as it came', async () => {
    d.click(400, 200);
    await answered();
    tool.setTolerance(0);
    const exact = tool.info!.vertices!;
    tool.setTolerance(3);
    expect(tool.info!.vertices!).toBeLessThan(exact);
    tool.setCommitAs('mask');
    expect(tool.info!.vertices).toBeNull();
    d.key('Enter');
    await d.settle();
    const mask = [...editor.annotations.values()].find((a) => a.geometry.kind === 'mask');
    expect(mask && rleArea((mask.geometry as { rle: Parameters<typeof rleArea>[0] }).rle)).toBe(5024);
    tool.setCommitAs('polygon');
    tool.setTolerance(1);
  });

  it('Enter before the latest prompt is answered stores that prompt\'s mask, not the older one shown', async () => {
    const before = editor.annotations.size;
    tool.setCommitAs('mask');
    d.click(400, 200);
    expect((await answered())!.area).toBe(5024);
    // The background point's answer is held back until Enter has been pressed.
    const real = editor.segmenter!;
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    editor.segmenter = { ...real, decode: async (p) => { const r = await real.decode(p); await held; return r; } };
    d.click(430, 200, { alt: true });
    expect(tool.waiting).toBe(true);
    expect(d.key('Enter')).toBe(true);
    expect(editor.annotations.size).toBe(before);
    release();
    await expect.poll(() => editor.annotations.size, { timeout: 20_000 }).toBe(before + 1);
    await d.settle();
    const stored = [...editor.annotations.values()].at(-1)!;
    expect(rleArea((stored.geometry as { rle: Parameters<typeof rleArea>[0] }).rle)).toBe(2344);
    expect(tool.busy).toBe(false);
    editor.segmenter = real;
    tool.setCommitAs('polygon');
  });

  it('an answer to an older prompt is never shown, even when it arrives last', async () => {
    // The real decoder answers both prompts; the first answer is held back until the second is shown.
    const real = editor.segmenter!;
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let calls = 0;
    editor.segmenter = {
      ...real,
      decode: async (p) => {
        const n = ++calls;
        const r = await real.decode(p);
        if (n === 1) await held;
        return r;
      },
    };
    d.click(400, 200);
    d.click(100, 300);
    const both = await answered();
    // Both points are foreground: the latest prompt's mask covers both disks.
    expect(both!.x0).toBeLessThan(100);
    expect(both!.x1).toBeGreaterThan(400);
    release();
    await new Promise((r) => setTimeout(r, 50));
    expect(calls).toBe(2);
    expect(await answered()).toEqual(both);
    editor.segmenter = real;
    d.key('Escape');
  });

  it('the point of a press is sent before the release; a press that becomes a drag is a box only', async () => {
    let sent: { points: number; box: boolean }[] = [];
    const real = editor.segmenter!;
    editor.segmenter = { ...real, decode: (p) => (sent.push({ points: p.points.length, box: p.box !== undefined }), real.decode(p)) };
    d.down(400, 200);
    expect(sent).toEqual([{ points: 1, box: false }]);
    expect((await answered())!.area).toBe(5024);
    d.up(400, 200);
    expect(sent).toHaveLength(1);
    expect(tool.points).toHaveLength(1);
    d.key('Escape');
    sent = [];
    d.drag(100, 100, 200, 150);
    expect(sent).toEqual([
      { points: 1, box: false },
      { points: 0, box: true },
    ]);
    expect(tool.points).toEqual([]);
    expect(await answered()).toEqual({ x0: 100, x1: 199, y0: 100, y1: 149, area: 5000 });
    editor.segmenter = real;
    d.key('Escape');
  });

  it('hovering shows what a click would give; the click on that pixel takes the answer without asking again', async () => {
    let sent = 0;
    const real = editor.segmenter!;
    editor.segmenter = { ...real, decode: (p) => (sent++, real.decode(p)) };
    const hover = (x: number, y: number) => editor.pointer('move', { x, y, button: -1, shift: false, ctrl: false, alt: false, zoom: 1 });
    hover(300, 200);
    hover(350, 200);
    hover(400, 200);
    // One hover prompt at a time: the latest position is asked once the first is answered.
    expect(sent).toBe(1);
    await expect.poll(() => tool.mask && rleBBox(tool.mask.rle).x, { timeout: 20_000 }).toBe(360);
    expect(sent).toBe(2);
    expect(tool.busy).toBe(false);
    expect(d.key('Enter')).toBe(false);
    editor.pointer('down', { x: 400, y: 200, button: 0, shift: false, ctrl: false, alt: false, zoom: 1 });
    editor.pointer('up', { x: 400, y: 200, button: 0, shift: false, ctrl: false, alt: false, zoom: 1 });
    expect(sent).toBe(2);
    expect(tool.busy).toBe(true);
    expect(tool.waiting).toBe(false);
    // The next prompt refines the hover's answer the click took.
    d.click(430, 200, { alt: true });
    expect(sent).toBe(3);
    expect((await answered())!.x1).toBe(413);
    editor.segmenter = real;
    d.key('Escape');
  });

  it('several candidates: best predicted IoU first, Tab and Shift+Tab step through them, Enter stores the one shown', async () => {
    const real = editor.segmenter!;
    editor.segmenter = { ...real, decode: (p) => callWs(ws, 'segment:decode', { ...p, modelId: MULTI }) };
    tool.setCommitAs('mask');
    d.click(400, 200);
    await answered();
    const shown = () => [tool.info!.index, tool.info!.count, Number(tool.info!.score.toFixed(2)), tool.info!.area];
    // The best guess is empty here: nothing is painted and Enter has nothing to store.
    expect(shown()).toEqual([0, 3, 0.9, 0]);
    expect(tool.mask!.area).toBe(0);
    expect(d.key('Tab')).toBe(true);
    expect(shown()).toEqual([1, 3, 0.5, 640 * 427]);
    d.key('Tab');
    expect(shown()).toEqual([2, 3, 0.2, 640 * 427]);
    d.key('Tab');
    expect(shown()).toEqual([0, 3, 0.9, 0]);
    d.key('Tab', { shift: true });
    expect(shown()).toEqual([2, 3, 0.2, 640 * 427]);
    const before = editor.annotations.size;
    d.key('Enter');
    await d.settle();
    expect(editor.annotations.size).toBe(before + 1);
    const stored = [...editor.annotations.values()].at(-1)!;
    expect(rleArea((stored.geometry as { rle: Parameters<typeof rleArea>[0] }).rle)).toBe(640 * 427);
    tool.setCommitAs('polygon');
    editor.segmenter = real;
  });

  /** The segment tool on the echo decoder, every request it sends kept. */
  function echo(): { sent: SegmentPrompt[]; done: () => void } {
    const real = editor.segmenter!;
    const sent: SegmentPrompt[] = [];
    editor.segmenter = { ...real, decode: (p) => (sent.push(p), callWs(ws, 'segment:decode', { ...p, modelId: ECHO })) };
    tool.hoverPreview = false;
    return {
      sent,
      done: () => {
        editor.segmenter = real;
        tool.hoverPreview = true;
        d.key('Escape');
      },
    };
  }

  it('a press that becomes a box refines from the answer shown before the press, not from the press\'s own answer', async () => {
    const { sent, done } = echo();
    d.click(400, 200);
    await answered();
    const first = tool.mask!;
    expect(first.score).toBeCloseTo(1);
    expect(first.lowResId).toEqual(expect.any(String));
    // The press sends its point at once, refined from the answer shown, and is answered.
    d.down(100, 100);
    expect(sent.at(-1)).toMatchObject({ points: [{ x: 400, y: 200 }, { x: 100, y: 100 }], refineFrom: first.lowResId });
    await answered();
    expect(tool.mask!.score).toBeCloseTo(11);
    // Then it becomes a drag: the point goes, the first answer is back, and the box refines from it.
    d.move(150, 130);
    expect(tool.mask).toBe(first);
    d.move(200, 150).up(200, 150);
    const box = sent.at(-1)!;
    expect(box.box).toEqual({ x0: 100, y0: 100, x1: 200, y1: 150 });
    expect(box.points).toEqual([{ x: 400, y: 200, label: 1 }]);
    expect(box.refineFrom).toBe(first.lowResId);
    await answered();
    // 11: fed the first answer's mask (1), not the retracted press's (11, which would give 111).
    expect(tool.mask!.score).toBeCloseTo(11);
    done();
  });

  it('Backspace refines from the answer shown before the removed point, not from the one that had it', async () => {
    const { sent, done } = echo();
    d.click(400, 200);
    await answered();
    const first = tool.mask!;
    d.click(430, 200, { alt: true });
    await answered();
    const second = tool.mask!;
    expect(second.score).toBeCloseTo(11);
    expect(second.lowResId).not.toBe(first.lowResId);
    d.click(300, 200);
    await answered();
    expect(tool.mask!.score).toBeCloseTo(111);
    expect(sent.at(-1)!.refineFrom).toBe(second.lowResId);
    // Each Backspace shows the answer of the prompt before and refines from it: the score stays
    // one refinement deeper than that answer (fed the removed point's answer it would grow).
    expect(d.key('Backspace')).toBe(true);
    expect(sent.at(-1)).toMatchObject({ points: [{ x: 400, y: 200 }, { x: 430, y: 200, label: 0 }], refineFrom: second.lowResId });
    expect(tool.mask).toBe(second);
    await answered();
    expect(tool.mask!.score).toBeCloseTo(111);
    expect(d.key('Backspace')).toBe(true);
    expect(sent.at(-1)).toMatchObject({ points: [{ x: 400, y: 200 }], refineFrom: first.lowResId });
    await answered();
    expect(tool.mask!.score).toBeCloseTo(11);
    done();
  });

  it('the next prompt refines from the candidate Tab shows, not from the best one', async () => {
    const real = editor.segmenter!;
    const sent: SegmentPrompt[] = [];
    editor.segmenter = { ...real, decode: (p) => (sent.push(p), callWs(ws, 'segment:decode', { ...p, modelId: MULTI })) };
    d.click(400, 200);
    await answered();
    const best = tool.mask!;
    d.key('Tab');
    const picked = tool.mask!;
    expect(picked.lowResId).toEqual(expect.any(String));
    expect(picked.lowResId).not.toBe(best.lowResId);
    d.click(300, 200);
    expect(sent.at(-1)!.refineFrom).toBe(picked.lowResId);
    await answered();
    editor.segmenter = real;
    d.key('Escape');
  });

  it('a failed decode is said in the status line', async () => {
    const real = editor.segmenter!;
    editor.segmenter = { ...real, decode: (p) => callWs(ws, 'segment:decode', { ...p, modelId: 'no-such-model' }) };
    d.click(400, 200);
    await expect.poll(() => d.lastStatus?.text ?? '').toContain('Segmentation failed');
    expect(d.lastStatus!.kind).toBe('error');
    expect(d.lastStatus!.text).toContain('no-such-model');
    editor.segmenter = real;
    d.key('Escape');
  });
});
