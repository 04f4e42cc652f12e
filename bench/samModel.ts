/**
 * Timings of a Segment Anything-contract pair through Tessera beside the bare `session.run` of the
 * same model files in the same process: encoder time per image and decoder time per prompt
 * (p50/p95). The Tessera figures are the `segment:encode` / `segment:decode` handlers called as the
 * app calls them (validation, the dataset, the worker thread, thresholding and COCO RLE of the
 * whole image); the bare figures are `session.run` on this thread with tensors built beforehand.
 * Calls alternate between the two so that load from elsewhere falls on both.
 *
 * `npx tsx bench/samModel.ts [--encoder enc.onnx --decoder dec.onnx] [--prompts 200] [--json]`
 * (the shared contract pair by default). With `--families`: decoder time per prompt of each
 * family (the contract pair, the tiny SAM 2 and EfficientViT-SAM pairs of the tests) at
 * 640×427, 1920×1080 and 4000×3000, beside the bare session.run (familyDecodeTimings).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { dispatch } from '../src-main/services/dispatch';
import { Workspace } from '../src-main/services/workspace';
import { float32Tensor, getSession } from '../src-main/inference/sessions';
import { SAM_MEAN, SAM_STD } from '../src-main/common/inference/samManifest';
import ort from 'onnxruntime-node';
import { familyPromptTensors, maskFrame, promptTensors, samCompute, samDecode, samPut } from '../src-main/inference/sam';
import { writeEfficientVitPair, writeSam2Pair } from '../test/helpers/samFamilyModels';
import type { SegmentPoint } from '../src-main/common/segment';
import { pct } from './stats';
import { printTable } from './table';

export interface Spread {
  p50: number;
  p95: number;
}

export interface SamTimings {
  image: { width: number; height: number };
  prompts: number;
  encode: { tessera: Spread; bareRun: Spread; images: number };
  /** Per prompt: the handler as the app calls it, the service's own decodeMs, and bare session.run. */
  decode: { tessera: Spread; reported: Spread; bareRun: Spread };
  provider: string;
}

export interface SamTimingOptions {
  encoder: string;
  decoder: string;
  /** Size of the images encoded (default 1280×853). */
  width?: number;
  height?: number;
  /** Prompts decoded (default 200) and images encoded (default 5), after warm-up calls. */
  prompts?: number;
  images?: number;
  inputSize?: number;
}

function spread(xs: number[]): Spread {
  return { p50: pct(xs, 50), p95: pct(xs, 95) };
}

async function call<T>(ws: Workspace, channel: string, args: unknown): Promise<T> {
  const r = await dispatch(ws.handlers, channel as never, args as never);
  if (!r.ok) throw new Error(`${channel}: ${r.error.code}: ${r.error.message}`);
  return r.value as T;
}

/** Encoder and decoder timings of a pair, through Tessera and bare (see the module comment). */
export async function samModelTimings(o: SamTimingOptions): Promise<SamTimings> {
  const W = o.width ?? 1280, H = o.height ?? 853;
  const prompts = o.prompts ?? 200;
  const images = o.images ?? 5;
  const S = o.inputSize ?? 1024;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-bench-sam-'));
  const config = path.join(dir, 'config');
  const imgs = path.join(dir, 'imgs');
  fs.mkdirSync(config);
  fs.mkdirSync(imgs);
  const manifest = { id: 'bench-sam', name: 'bench', task: 'interactive', family: 'sam', encoder: { file: path.resolve(o.encoder) }, decoder: { file: path.resolve(o.decoder) }, inputSize: S, mean: SAM_MEAN, std: SAM_STD };
  fs.writeFileSync(path.join(config, 'custom-sam-models.json'), JSON.stringify([manifest]));
  // Distinct images (one more for warm-up), so that each encode is a real one.
  for (let i = 0; i <= images; i++) {
    await sharp({ create: { width: W, height: H, channels: 3, background: { r: 20 + i * 30, g: 100, b: 200 - i * 20 } } }).png().toFile(path.join(imgs, `im${i}.png`));
  }
  const ws = new Workspace({ configDir: config, mode: 'web', version: 'bench', emit: () => {} });
  try {
    await call(ws, 'dataset:create', { path: path.join(dir, 'd.tessera'), root: dir });
    await call(ws, 'images:import', { jobId: 'i', paths: [imgs] });
    const { items } = await call<{ items: { id: number }[] }>(ws, 'images:list', {});

    const enc = await getSession(path.resolve(o.encoder));
    const dec = await getSession(path.resolve(o.decoder));
    const encInput = float32Tensor(new Float32Array(3 * S * S), [1, 3, S, S]);
    const encName = enc.session.inputNames[0]!;
    const bareEncode = async (): Promise<number> => {
      const t0 = performance.now();
      await enc.session.run({ [encName]: encInput });
      return performance.now() - t0;
    };
    const embedding = (await enc.session.run({ [encName]: encInput }))['image_embeddings'] ?? Object.values(await enc.session.run({ [encName]: encInput }))[0]!;
    const s = S / Math.max(W, H);

    const encodeT: number[] = [];
    const encodeBare: number[] = [];
    let provider = '';
    for (const [i, im] of items.entries()) {
      const t0 = performance.now();
      const r = await call<{ cached: boolean; provider: string }>(ws, 'segment:encode', { imageId: im.id, modelId: 'bench-sam' });
      const ms = performance.now() - t0;
      provider = r.provider;
      const bare = await bareEncode();
      if (i > 0) {
        encodeT.push(ms);
        encodeBare.push(bare);
      }
    }

    const imageId = items[1]!.id;
    const tessera: number[] = [];
    const reported: number[] = [];
    const bareRun: number[] = [];
    let shown: string | undefined;
    for (let i = 0; i < prompts + 10; i++) {
      // Points spread over the image, with a background point every third prompt.
      const x = (i * 97) % W, y = (i * 61) % H;
      const points = [{ x, y, label: 1 }, ...(i % 3 === 0 ? [{ x: (x + 40) % W, y, label: 0 }] : [])];
      const t0 = performance.now();
      // Every other prompt refines the previous answer's best mask, as a second click does.
      const r = await call<{ decodeMs: number; cached: boolean; masks: { lowResId?: string }[] }>(ws, 'segment:decode', { imageId, modelId: 'bench-sam', points, ...(i % 2 === 1 && shown ? { refineFrom: shown } : {}) });
      shown = r.masks[0]?.lowResId;
      const ms = performance.now() - t0;
      if (!r.cached) throw new Error('the embedding was not cached');
      const coords = new Float32Array([...points.flatMap((p) => [p.x * s, p.y * s]), 0, 0]);
      const labels = new Float32Array([...points.map((p) => p.label), -1]);
      const feeds = {
        image_embeddings: embedding,
        point_coords: float32Tensor(coords, [1, labels.length, 2]),
        point_labels: float32Tensor(labels, [1, labels.length]),
        mask_input: float32Tensor(new Float32Array(256 * 256), [1, 1, 256, 256]),
        has_mask_input: float32Tensor(new Float32Array([0]), [1]),
        orig_im_size: float32Tensor(new Float32Array([H, W]), [2]),
      };
      const b0 = performance.now();
      await dec.session.run(feeds);
      const bare = performance.now() - b0;
      if (i >= 10) {
        tessera.push(ms);
        reported.push(r.decodeMs);
        bareRun.push(bare);
      }
    }
    return {
      image: { width: W, height: H },
      prompts,
      encode: { tessera: spread(encodeT), bareRun: spread(encodeBare), images },
      decode: { tessera: spread(tessera), reported: spread(reported), bareRun: spread(bareRun) },
      provider,
    };
  } finally {
    await ws.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Per-prompt decoding of one family at one image size: the worker's samDecode beside the bare decoder run. */
export interface FamilyDecodeTimings {
  family: 'sam' | 'sam2' | 'efficientvit-sam';
  image: { width: number; height: number };
  prompts: number;
  /** samDecode as the worker runs it: prompt tensors, session.run, mask postprocessing and RLE of every candidate. */
  tessera: Spread;
  /** session.run of the same decoder on the same embedding and prompt, called right after it in this thread. */
  bareRun: Spread;
  /** Per prompt, Tessera minus bare (the postprocessing and RLE of all masks). */
  overhead: Spread;
  masks: number;
}

/** The three family pairs: the Segment Anything contract pair and the tiny EfficientViT-SAM and SAM 2 pairs of the tests. */
export function familyPairs(dir: string, contractDir: string): { family: FamilyDecodeTimings['family']; encoder: string; decoder: string; inputSize: number; mean: [number, number, number]; std: [number, number, number] }[] {
  const mean: [number, number, number] = [123.675, 116.28, 103.53], std: [number, number, number] = [58.395, 57.12, 57.375];
  const sam2 = writeSam2Pair(dir), evit = writeEfficientVitPair(dir);
  return [
    { family: 'sam', encoder: path.join(contractDir, 'sam_contract_encoder.onnx'), decoder: path.join(contractDir, 'sam_contract_decoder.onnx'), inputSize: 1024, mean: SAM_MEAN, std: SAM_STD },
    { family: 'sam2', ...sam2, inputSize: 1024, mean, std },
    { family: 'efficientvit-sam', ...evit, inputSize: 512, mean, std },
  ];
}

/**
 * Decoder time per prompt for each family at each image size, through the worker's samDecode
 * (everything but the thread hop) and bare: session.run of the same session on the same
 * embedding and prompt tensors. The two alternate prompt by prompt.
 */
export async function familyDecodeTimings(o: { dir: string; contractDir: string; sizes: [number, number][]; prompts: number }): Promise<FamilyDecodeTimings[]> {
  const results: FamilyDecodeTimings[] = [];
  for (const pair of familyPairs(o.dir, o.contractDir)) {
    for (const [W, H] of o.sizes) {
      const model = { encoder: pair.encoder, decoder: pair.decoder };
      const pre = { family: pair.family, inputSize: pair.inputSize, mean: pair.mean, std: pair.std };
      const region = { x: 0, y: 0, w: W, h: H };
      const frame = { region, width: W, height: H };
      const key = `bench-${pair.family}-${W}x${H}`;
      const data = new Uint8Array(W * H * 3).map((_, i) => (i * 7) % 251);
      const computed = await samCompute({ model, pre, key, diskFile: null, frame, source: { raw: { data, width: W, height: H, channels: 3 } } });
      samPut({ key, tensors: computed.tensors, frame });
      const dec = (await getSession(pair.decoder)).session;
      const { mw, mh } = maskFrame(region);
      const tessera: number[] = [], bareRun: number[] = [], overhead: number[] = [];
      let masks = 0;
      for (let i = 0; i < o.prompts + 5; i++) {
        // Points spread over the image, a background point every third prompt.
        const x = ((i * 97) % 89) * (W / 90) + 5, y = ((i * 61) % 83) * (H / 84) + 5;
        const points: SegmentPoint[] = [{ x, y, label: 1 }, ...(i % 3 === 0 ? [{ x: Math.min(W - 1, x + W / 20), y, label: 0 as const }] : [])];
        const t0 = performance.now();
        const r = await samDecode({ model, pre, key, diskFile: null, points });
        const ms = performance.now() - t0;
        if (!r.found) throw new Error(`${key}: the embedding was not found`);
        masks = r.masks.length;
        const { coords, labels } = pair.family === 'sam' ? promptTensors(points, undefined, region, pair.inputSize) : familyPromptTensors(pair.family, points, undefined, region, 1024);
        const feeds: Record<string, ort.Tensor> = {};
        for (const t of computed.tensors) if (dec.inputNames.includes(t.name)) feeds[t.name] = float32Tensor(t.data, t.dims);
        feeds['point_coords'] = float32Tensor(coords, [1, labels.length, 2]);
        feeds['point_labels'] = float32Tensor(labels, [1, labels.length]);
        if (dec.inputNames.includes('mask_input')) {
          feeds['mask_input'] = float32Tensor(new Float32Array(256 * 256), [1, 1, 256, 256]);
          feeds['has_mask_input'] = float32Tensor(new Float32Array([0]), [1]);
        }
        if (dec.inputNames.includes('orig_im_size')) feeds['orig_im_size'] = float32Tensor(new Float32Array([mh, mw]), [2]);
        const b0 = performance.now();
        const out = await dec.run(feeds);
        const bare = performance.now() - b0;
        for (const t of Object.values(out)) t.dispose();
        if (i >= 5) {
          tessera.push(ms);
          bareRun.push(bare);
          overhead.push(ms - bare);
        }
      }
      results.push({ family: pair.family, image: { width: W, height: H }, prompts: o.prompts, tessera: spread(tessera), bareRun: spread(bareRun), overhead: spread(overhead), masks });
    }
  }
  return results;
}

/** The table of familyDecodeTimings, with the 50 ms per prompt target (p95) checked per row. */
export function printFamilyTable(rows: FamilyDecodeTimings[]): void {
  const f = (x: number) => x.toFixed(1);
  console.log('\ndecode per prompt by family and image size (worker samDecode vs bare session.run), ms p50 / p95:\n');
  printTable(
    ['family', 'image', 'masks', 'Tessera', 'bare session.run', 'Tessera ÷ bare (p50)', 'overhead (Tessera − bare)', '< 50 ms (p95)'],
    rows.map((r) => [r.family, `${r.image.width}x${r.image.height}`, String(r.masks), `${f(r.tessera.p50)} / ${f(r.tessera.p95)}`, `${f(r.bareRun.p50)} / ${f(r.bareRun.p95)}`, `${f(r.tessera.p50 / r.bareRun.p50)}×`, `${f(r.overhead.p50)} / ${f(r.overhead.p95)}`, r.tessera.p95 < 50 ? 'yes' : 'NO']),
  );
}

export const FAMILY_SIZES: [number, number][] = [
  [640, 427],
  [1920, 1080],
  [4000, 3000],
];

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) {
  const { values } = parseArgs({ options: { encoder: { type: 'string' }, decoder: { type: 'string' }, prompts: { type: 'string', default: '200' }, families: { type: 'boolean', default: false }, json: { type: 'boolean', default: false } } });
  const pairDir = path.resolve(import.meta.dirname, '..', '..', 'shared', 'models', 'sam_contract');
  const encoder = values.encoder ?? path.join(pairDir, 'sam_contract_encoder.onnx');
  const decoder = values.decoder ?? path.join(pairDir, 'sam_contract_decoder.onnx');
  if (!fs.existsSync(encoder) || !fs.existsSync(decoder)) {
    console.log(`skipped: ${encoder} or ${decoder} is not present`);
    process.exit(0);
  }
  if (values.families) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-bench-fam-'));
    try {
      const rows = await familyDecodeTimings({ dir, contractDir: pairDir, sizes: FAMILY_SIZES, prompts: Number(values.prompts) });
      if (values.json) console.log(JSON.stringify(rows));
      else printFamilyTable(rows);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    process.exit(0);
  }
  const t = await samModelTimings({ encoder, decoder, prompts: Number(values.prompts) });
  if (values.json) console.log(JSON.stringify(t));
  else {
    const f = (x: Spread) => `p50 ${x.p50.toFixed(2)} ms, p95 ${x.p95.toFixed(2)} ms`;
    console.log(`image ${t.image.width}x${t.image.height}, provider ${t.provider}`);
    console.log(`encode per image (${t.encode.images}): Tessera ${f(t.encode.tessera)}; bare session.run ${f(t.encode.bareRun)}`);
    console.log(`decode per prompt (${t.prompts}): Tessera handler ${f(t.decode.tessera)}; reported decodeMs ${f(t.decode.reported)}; bare session.run ${f(t.decode.bareRun)}`);
  }
  process.exit(0);
}
