import type { SamFamily, SamManifest } from '../segment';
import { SAM_MEAN, SAM_STD } from './samManifest';
import type { Dims, ModelIo } from './types';

/**
 * Which SAM-family contract an encoder/decoder pair follows, read from the names and shapes of
 * their inputs and outputs alone (no session, no weights), and what is missing when none fits.
 *
 * - sam (Segment Anything, MobileSAM, SlimSAM exports): the encoder takes one float image, either
 *   [1,3,S,S] already normalised and padded, or [H,W,3] RGB 0-255 resized so its longest side is S
 *   with the normalisation and padding inside the model (samexporter's `--use-preprocess`, the
 *   files X-AnyLabeling and AnyLabeling publish), and returns the embedding [1,256,64,64]. The
 *   decoder is Segment Anything's ONNX export: `image_embeddings`, `point_coords`, `point_labels`,
 *   `mask_input`, `has_mask_input`, `orig_im_size` → `masks`, `iou_predictions`, `low_res_masks`.
 * - efficientvit-sam (mit-han-lab/efficientvit's `export_encoder.py`/`export_decoder.py`): encoder
 *   `input_image` [B,3,512,512] (L0-L2) or [B,3,1024,1024] (XL0-XL1) → `image_embeddings`
 *   [B,256,64,64]; decoder `image_embeddings`, `point_coords`, `point_labels` → `masks`
 *   [B,M,256,256] low-resolution logits and `iou_predictions` [B,M]. Prompts stay in the 1024
 *   frame whatever the encoder's input size; there is no mask input and no `orig_im_size`.
 * - sam2 (SAM 2 / 2.1 as samexporter exports it, the files X-AnyLabeling publishes): encoder
 *   `image` [1,3,1024,1024] (stretched to the square, ImageNet normalisation) → `high_res_feats_0`
 *   [1,32,256,256], `high_res_feats_1` [1,64,128,128], `image_embed` [1,256,64,64]; decoder
 *   `image_embed`, `high_res_feats_0`, `high_res_feats_1`, `point_coords`, `point_labels`,
 *   `mask_input`, `has_mask_input` (and `orig_im_size` in some exports) → `masks`,
 *   `iou_predictions`.
 */

/** How to feed a pair that fits a family: the tensor names and layouts the runner needs. */
export interface SamPairLayout {
  family: SamFamily;
  encoder: {
    input: string;
    /** 'nchw': [1,3,S,S] normalised and padded by the caller; 'hwc': [H,W,3] RGB 0-255, the model normalises and pads. */
    layout: 'nchw' | 'hwc';
    /** Encoder outputs by the decoder input each one feeds (`image_embeddings`, `image_embed`, `high_res_feats_0`...). */
    feeds: Record<string, string>;
  };
  decoder: {
    /** Whether the decoder takes `mask_input`/`has_mask_input` (refinement with the previous low-resolution mask). */
    maskInput: boolean;
    /** Whether the decoder takes `orig_im_size` and then returns `masks` at the image's size. */
    origImSize: boolean;
    /** The decoder output holding the 256x256 logits to feed back as `mask_input`, or null. */
    lowResMasks: string | null;
  };
  /** Side of the square the prompt coordinates are expressed in (1024 for every published export). */
  promptFrame: number;
}

export interface SamPairFinding {
  family: SamFamily | null;
  proposed: SamManifest | null;
  layout: SamPairLayout | null;
  /** Why nothing fits (family null), or what was assumed (family set). */
  problems: string[];
}

type Want = readonly (number | null)[];
type Tensor = ModelIo['inputs'][number];

const fmt = (d: Dims | Want): string => `[${d.map((x) => (x === null ? '?' : x)).join(',')}]`;
const fixed = (x: number | string | undefined): number | null => (typeof x === 'number' && x > 0 ? x : null);
const byName = (list: readonly Tensor[], name: string): Tensor | undefined => list.find((t) => t.name === name);

/** True when `dims` can be `want`: same rank, and each fixed size equal where `want` names one. */
function fits(dims: Dims, want: Want): boolean {
  if (dims.length !== want.length) return false;
  return want.every((w, i) => w === null || fixed(dims[i]) === null || fixed(dims[i]) === w);
}

const EMBEDDING: Want = [1, 256, 64, 64];
const HIGH_RES_0: Want = [1, 32, 256, 256];
const HIGH_RES_1: Want = [1, 64, 128, 128];

interface Spec {
  family: SamFamily;
  /** Decoder inputs fed from the encoder's outputs, with the shape both sides must have. */
  embeddings: Record<string, Want>;
  prompts: Record<string, Want>;
  optionalInputs: Record<string, Want>;
  outputs: Record<string, Want>;
}

const SPECS: Spec[] = [
  {
    family: 'sam',
    embeddings: { image_embeddings: EMBEDDING },
    prompts: { point_coords: [1, null, 2], point_labels: [1, null], mask_input: [1, 1, 256, 256], has_mask_input: [1], orig_im_size: [2] },
    optionalInputs: {},
    outputs: { masks: [1, null, null, null], iou_predictions: [1, null], low_res_masks: [1, null, 256, 256] },
  },
  {
    family: 'efficientvit-sam',
    embeddings: { image_embeddings: [null, 256, 64, 64] },
    prompts: { point_coords: [null, null, 2], point_labels: [null, null] },
    optionalInputs: {},
    outputs: { masks: [null, null, 256, 256], iou_predictions: [null, null] },
  },
  {
    family: 'sam2',
    embeddings: { image_embed: EMBEDDING, high_res_feats_0: HIGH_RES_0, high_res_feats_1: HIGH_RES_1 },
    prompts: { point_coords: [null, null, 2], point_labels: [null, null], mask_input: [null, 1, 256, 256], has_mask_input: [null] },
    optionalInputs: { orig_im_size: [2] },
    outputs: { masks: [null, null, null, null], iou_predictions: [null, null] },
  },
];

/** Names only a decoder has: an "encoder" taking them was given in the decoder's place. */
const PROMPT_NAMES = ['point_coords', 'point_labels', 'mask_input', 'has_mask_input', 'orig_im_size'];

interface Attempt {
  spec: Spec;
  problems: string[];
  /** How much of the spec the pair has: the family with the most is the one the pair was meant to be. */
  score: number;
  layout: SamPairLayout | null;
  inputSize: number;
  notes: string[];
}

function tryFamily(spec: Spec, enc: ModelIo, dec: ModelIo): Attempt {
  const problems: string[] = [];
  const notes: string[] = [];
  let score = 0;

  // The decoder: every input and output of the family, by name and shape.
  const decInputs = { ...spec.embeddings, ...spec.prompts };
  for (const [name, want] of Object.entries(decInputs)) {
    const t = byName(dec.inputs, name);
    if (!t) {
      problems.push(`decoder: no input "${name}"`);
      continue;
    }
    score += 2;
    if (!fits(t.dims, want)) problems.push(`decoder input ${name} is ${fmt(t.dims)}, expected ${fmt(want)}`);
  }
  for (const [name, want] of Object.entries(spec.optionalInputs)) {
    const t = byName(dec.inputs, name);
    if (t && !fits(t.dims, want)) problems.push(`decoder input ${name} is ${fmt(t.dims)}, expected ${fmt(want)}`);
  }
  const known = new Set([...Object.keys(decInputs), ...Object.keys(spec.optionalInputs)]);
  for (const t of dec.inputs) {
    if (!known.has(t.name)) {
      problems.push(`decoder: unexpected input "${t.name}" ${fmt(t.dims)} (a ${spec.family} decoder takes ${[...known].join(', ')})`);
      score -= 1;
    }
  }
  for (const [name, want] of Object.entries(spec.outputs)) {
    const t = byName(dec.outputs, name);
    if (!t) {
      problems.push(`decoder: no output "${name}"`);
      continue;
    }
    score += 1;
    if (!fits(t.dims, want)) problems.push(`decoder output ${name} is ${fmt(t.dims)}, expected ${fmt(want)}`);
  }

  // The encoder: one image input, and the outputs the decoder's embedding inputs need.
  let layout: SamPairLayout['encoder']['layout'] | null = null;
  // Segment Anything and SAM 2 work at 1024; an input with fixed sizes says otherwise (EfficientViT-SAM L0-L2: 512).
  let inputSize = 1024;
  const image = enc.inputs[0];
  if (enc.inputs.length !== 1 || !image) {
    problems.push(`encoder: expected one image input, found ${enc.inputs.length} (${enc.inputs.map((t) => `${t.name} ${fmt(t.dims)}`).join(', ') || 'none'})`);
  } else if (fits(image.dims, [null, 3, null, null])) {
    layout = 'nchw';
    score += 1;
    const h = fixed(image.dims[2]), w = fixed(image.dims[3]);
    if (h !== null && w !== null && h !== w) problems.push(`encoder input ${image.name} is ${fmt(image.dims)}, expected a square [1,3,S,S]`);
    else if (h !== null || w !== null) inputSize = (h ?? w)!;
    else notes.push(`encoder input ${image.name} is ${fmt(image.dims)} (size not fixed): assuming ${inputSize}`);
    if (fixed(image.dims[0]) !== null && fixed(image.dims[0]) !== 1) problems.push(`encoder input ${image.name} is ${fmt(image.dims)}, expected a batch of 1`);
  } else if (spec.family === 'sam' && fits(image.dims, [null, null, 3])) {
    layout = 'hwc';
    score += 1;
  } else {
    const shapes = spec.family === 'sam' ? '[1,3,S,S] or [H,W,3]' : '[1,3,S,S]';
    problems.push(`encoder input ${image.name} is ${fmt(image.dims)}, expected an image ${shapes}`);
  }
  if (inputSize < 64 || inputSize > 4096) problems.push(`encoder input ${image?.name ?? ''} is ${fmt(image?.dims ?? [])}, expected a side between 64 and 4096`);
  if (spec.family === 'efficientvit-sam' && layout === 'nchw' && inputSize !== 512 && inputSize !== 1024) {
    notes.push(`encoder input ${image!.name} is ${fmt(image!.dims)}: EfficientViT-SAM's exports are 512 (L0-L2) or 1024 (XL0-XL1)`);
  }

  const feeds: Record<string, string> = {};
  const embeddingNames = Object.keys(spec.embeddings);
  for (const [name, decWant] of Object.entries(spec.embeddings)) {
    // A single-output encoder feeds the decoder's one embedding input whatever its output is called.
    const out = byName(enc.outputs, name) ?? (embeddingNames.length === 1 && enc.outputs.length === 1 ? enc.outputs[0] : undefined);
    if (!out) {
      problems.push(`encoder: no output "${name}" ${fmt(decWant)} (its outputs: ${enc.outputs.map((t) => `${t.name} ${fmt(t.dims)}`).join(', ') || 'none'})`);
      continue;
    }
    score += 1;
    // The decoder's own input says what it takes when its sizes are fixed; the family's default otherwise.
    const decInput = byName(dec.inputs, name);
    const want: Want = decInput && decInput.dims.length === decWant.length ? decWant.map((w, i) => fixed(decInput.dims[i]) ?? w) : decWant;
    if (!fits(out.dims, want)) problems.push(`encoder output ${out.name} is ${fmt(out.dims)}, expected ${fmt(want)}`);
    else feeds[name] = out.name;
  }

  const ok = problems.length === 0 && layout !== null;
  return {
    spec,
    problems,
    score,
    inputSize,
    notes,
    layout: ok
      ? {
          family: spec.family,
          encoder: { input: image!.name, layout: layout!, feeds },
          decoder: {
            maskInput: Boolean(byName(dec.inputs, 'mask_input')),
            origImSize: Boolean(byName(dec.inputs, 'orig_im_size')),
            lowResMasks: byName(dec.outputs, 'low_res_masks')?.name ?? (spec.family === 'sam' ? null : 'masks'),
          },
          promptFrame: 1024,
        }
      : null,
  };
}

/** A manifest id and display name from the encoder's file name (`mobile_sam.encoder.onnx` → `mobile_sam`). */
function idFromFile(file: string): { id: string; name: string } {
  const base = file.split(/[\\/]/).pop() ?? file;
  const stem = base.replace(/\.onnx$/i, '').replace(/[._-]?(image[._-]?)?encoder([._-]?quant)?$/i, '') || 'sam';
  const id = stem.toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[^a-z0-9]+/, '') || 'sam';
  return { id, name: stem };
}

/**
 * Decides the family of an encoder/decoder pair from their inputs and outputs, and proposes a
 * manifest for it; for a pair that fits none, says precisely what the closest family misses.
 * `files` name the two files in the proposal and in the problems.
 */
export function inspectSamPair(encoder: ModelIo, decoder: ModelIo, files: { encoder: string; decoder: string }): SamPairFinding {
  // A decoder given as the encoder (or both given the wrong way round) is named as such, not as a list of missing tensors.
  const encTakesPrompts = encoder.inputs.filter((t) => PROMPT_NAMES.includes(t.name)).map((t) => t.name);
  if (encTakesPrompts.length > 0) {
    const decIsImage = decoder.inputs.length === 1 && (fits(decoder.inputs[0]!.dims, [null, 3, null, null]) || fits(decoder.inputs[0]!.dims, [null, null, 3]));
    const problem = decIsImage
      ? `encoder and decoder are swapped: ${files.encoder} takes the prompts (${encTakesPrompts.join(', ')}) and ${files.decoder} takes the image`
      : `encoder: ${files.encoder} takes prompts (${encTakesPrompts.join(', ')}): it is a decoder, not an image encoder`;
    return { family: null, proposed: null, layout: null, problems: [problem] };
  }

  const attempts = SPECS.map((s) => tryFamily(s, encoder, decoder));
  const fit = attempts.find((a) => a.layout !== null);
  if (fit) {
    const { id, name } = idFromFile(files.encoder);
    const proposed: SamManifest = {
      id,
      name,
      task: 'interactive',
      family: fit.spec.family,
      encoder: { file: files.encoder },
      decoder: { file: files.decoder },
      inputSize: fit.inputSize,
      mean: [...SAM_MEAN],
      std: [...SAM_STD],
    };
    return { family: fit.spec.family, proposed, layout: fit.layout, problems: fit.notes };
  }
  const closest = attempts.reduce((best, a) => (a.score > best.score ? a : best));
  const anySam = closest.score > 2;
  const head = anySam
    ? `${files.encoder} + ${files.decoder}: closest to the ${closest.spec.family} family, but`
    : `${files.encoder} + ${files.decoder}: not a SAM-family pair (a decoder takes image_embeddings or image_embed, point_coords and point_labels)`;
  return { family: null, proposed: null, layout: null, problems: [head, ...closest.problems] };
}
