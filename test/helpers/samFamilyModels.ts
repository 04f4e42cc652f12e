import fs from 'node:fs';
import path from 'node:path';
import { FLOAT, INT64, onnxModel, type Initializer, type Node, type ValueInfo } from './onnxModel';

/**
 * Tiny encoder/decoder pairs following the EfficientViT-SAM and SAM 2 ONNX contracts (names,
 * shapes, dtypes, coordinate frames) with a geometric behaviour instead of a learned one, like
 * ../shared/models/sam_contract does for Segment Anything:
 *
 * - the encoders average-pool their input and spread the channel mean over each output's shape,
 *   so an embedding shows what the encoder was given (padding, stretching, normalisation);
 * - the decoders return two low-resolution masks [1,2,256,256] over the 1024×1024 prompt frame
 *   (each cell 4 units wide, its centre at (i + 0.5)·4): a disk of radius 32 around every
 *   foreground point (label 1) with predicted IoU 0.3, and one of radius 64 with IoU 0.9. Other
 *   labels draw nothing. The embeddings (and the SAM 2 decoder's mask_input, has_mask_input)
 *   are taken in, times zero, so a missing or misshapen one fails the run.
 */

export const FAMILY_RADII = { small: 32, large: 64 };

const scalar = (name: string, v: number, type: typeof FLOAT | typeof INT64 = FLOAT): Initializer => ({ name, type, dims: [], values: [v] });

/** The decoder's nodes from point_coords/point_labels to `masks` [1,2,256,256], adding `extra` (zeros) to them. */
function diskNodes(extra: string[]): { nodes: Node[]; initializers: Initializer[] } {
  const nodes: Node[] = [
    { op: 'Gather', inputs: ['point_coords', 'i0'], outputs: ['px'], int: { axis: 2 } },
    { op: 'Gather', inputs: ['point_coords', 'i1'], outputs: ['py'], int: { axis: 2 } },
    { op: 'Unsqueeze', inputs: ['px', 'axes23'], outputs: ['px4'] },
    { op: 'Unsqueeze', inputs: ['py', 'axes23'], outputs: ['py4'] },
    { op: 'Range', inputs: ['zero', 'cells', 'one'], outputs: ['idx'] },
    { op: 'Add', inputs: ['idx', 'half'], outputs: ['idxc'] },
    { op: 'Mul', inputs: ['idxc', 'four'], outputs: ['centres'] },
    { op: 'Reshape', inputs: ['centres', 'rowShape'], outputs: ['gx'] },
    { op: 'Reshape', inputs: ['centres', 'colShape'], outputs: ['gy'] },
    { op: 'Sub', inputs: ['gx', 'px4'], outputs: ['dx'] },
    { op: 'Sub', inputs: ['gy', 'py4'], outputs: ['dy'] },
    { op: 'Mul', inputs: ['dx', 'dx'], outputs: ['dx2'] },
    { op: 'Mul', inputs: ['dy', 'dy'], outputs: ['dy2'] },
    { op: 'Add', inputs: ['dx2', 'dy2'], outputs: ['d2'] },
    { op: 'Equal', inputs: ['point_labels', 'one'], outputs: ['isFg'] },
    { op: 'Cast', inputs: ['isFg'], outputs: ['fg2'], int: { to: FLOAT } },
    { op: 'Unsqueeze', inputs: ['fg2', 'axes23'], outputs: ['fg'] },
    { op: 'Sub', inputs: ['fg', 'one'], outputs: ['notFg'] },
    { op: 'Mul', inputs: ['notFg', 'big'], outputs: ['away'] },
  ];
  for (const [tag, r2] of [['s', 'r2small'], ['l', 'r2large']] as const) {
    nodes.push(
      { op: 'Sub', inputs: [r2, 'd2'], outputs: [`logit_${tag}`] },
      { op: 'Mul', inputs: [`logit_${tag}`, 'fg'], outputs: [`kept_${tag}`] },
      { op: 'Add', inputs: [`kept_${tag}`, 'away'], outputs: [`each_${tag}`] },
      { op: 'ReduceMax', inputs: [`each_${tag}`], outputs: [`mask_${tag}`], ints: { axes: [1] } },
    );
  }
  nodes.push({ op: 'Concat', inputs: ['mask_s', 'mask_l'], outputs: ['masks0'], int: { axis: 1 } });
  let acc = 'masks0';
  extra.forEach((name, i) => {
    nodes.push(
      { op: 'ReduceMean', inputs: [name], outputs: [`mean_${i}`] },
      { op: 'Mul', inputs: [`mean_${i}`, 'zero'], outputs: [`nil_${i}`] },
      { op: 'Add', inputs: [acc, `nil_${i}`], outputs: [i === extra.length - 1 ? 'masks' : `acc_${i}`] },
    );
    acc = `acc_${i}`;
  });
  nodes.push({ op: 'Identity', inputs: ['iou'], outputs: ['iou_predictions'] });
  const initializers: Initializer[] = [
    scalar('i0', 0, INT64),
    scalar('i1', 1, INT64),
    { name: 'axes23', type: INT64, dims: [2], values: [2, 3] },
    scalar('zero', 0),
    scalar('one', 1),
    scalar('half', 0.5),
    scalar('four', 4),
    scalar('cells', 256),
    scalar('big', 1e4),
    scalar('r2small', FAMILY_RADII.small ** 2),
    scalar('r2large', FAMILY_RADII.large ** 2),
    { name: 'rowShape', type: INT64, dims: [4], values: [1, 1, 1, 256] },
    { name: 'colShape', type: INT64, dims: [4], values: [1, 1, 256, 1] },
    { name: 'iou', type: FLOAT, dims: [1, 2], values: [0.3, 0.9] },
  ];
  return { nodes, initializers };
}

/** Average-pools the image by `k` and spreads the channel mean over `shape`. */
function spread(input: string, k: number, output: string, shape: number[]): { nodes: Node[]; initializers: Initializer[] } {
  return {
    nodes: [
      { op: 'AveragePool', inputs: [input], outputs: [`${output}_pool`], ints: { kernel_shape: [k, k], strides: [k, k] } },
      { op: 'ReduceMean', inputs: [`${output}_pool`], outputs: [`${output}_mean`], ints: { axes: [1] } },
      { op: 'Expand', inputs: [`${output}_mean`, `${output}_shape`], outputs: [output] },
    ],
    initializers: [{ name: `${output}_shape`, type: INT64, dims: [4], values: shape }],
  };
}

function write(file: string, g: { inputs: ValueInfo[]; outputs: ValueInfo[]; parts: { nodes: Node[]; initializers: Initializer[] }[] }): string {
  fs.writeFileSync(file, onnxModel({ inputs: g.inputs, outputs: g.outputs, nodes: g.parts.flatMap((p) => p.nodes), initializers: g.parts.flatMap((p) => p.initializers) }));
  return file;
}

/** SAM 2 as samexporter exports it: encoder `image` [1,3,1024,1024] → three feature maps; decoder with mask input. */
export function writeSam2Pair(dir: string): { encoder: string; decoder: string } {
  const encoder = write(path.join(dir, 'sam2_test.encoder.onnx'), {
    inputs: [{ name: 'image', type: FLOAT, dims: [1, 3, 1024, 1024] }],
    outputs: [
      { name: 'high_res_feats_0', type: FLOAT, dims: [1, 32, 256, 256] },
      { name: 'high_res_feats_1', type: FLOAT, dims: [1, 64, 128, 128] },
      { name: 'image_embed', type: FLOAT, dims: [1, 256, 64, 64] },
    ],
    parts: [spread('image', 4, 'high_res_feats_0', [1, 32, 256, 256]), spread('image', 8, 'high_res_feats_1', [1, 64, 128, 128]), spread('image', 16, 'image_embed', [1, 256, 64, 64])],
  });
  const decoder = write(path.join(dir, 'sam2_test.decoder.onnx'), {
    inputs: [
      { name: 'image_embed', type: FLOAT, dims: [1, 256, 64, 64] },
      { name: 'high_res_feats_0', type: FLOAT, dims: [1, 32, 256, 256] },
      { name: 'high_res_feats_1', type: FLOAT, dims: [1, 64, 128, 128] },
      { name: 'point_coords', type: FLOAT, dims: ['num_labels', 'num_points', 2] },
      { name: 'point_labels', type: FLOAT, dims: ['num_labels', 'num_points'] },
      { name: 'mask_input', type: FLOAT, dims: ['num_labels', 1, 256, 256] },
      { name: 'has_mask_input', type: FLOAT, dims: ['num_labels'] },
    ],
    outputs: [
      { name: 'masks', type: FLOAT, dims: ['num_labels', 'num_masks', 256, 256] },
      { name: 'iou_predictions', type: FLOAT, dims: ['num_labels', 'num_masks'] },
    ],
    parts: [diskNodes(['image_embed', 'high_res_feats_0', 'high_res_feats_1', 'mask_input', 'has_mask_input'])],
  });
  return { encoder, decoder };
}

/** EfficientViT-SAM as its export_encoder.py / export_decoder.py make it, with the L0-L2 encoder size (512). */
export function writeEfficientVitPair(dir: string, inputSize = 512): { encoder: string; decoder: string } {
  const k = inputSize / 64;
  const encoder = write(path.join(dir, 'evit_test.encoder.onnx'), {
    inputs: [{ name: 'input_image', type: FLOAT, dims: ['batch_size', 3, inputSize, inputSize] }],
    outputs: [{ name: 'image_embeddings', type: FLOAT, dims: ['batch_size', 256, 64, 64] }],
    parts: [spread('input_image', k, 'image_embeddings', [1, 256, 64, 64])],
  });
  const decoder = write(path.join(dir, 'evit_test.decoder.onnx'), {
    inputs: [
      { name: 'image_embeddings', type: FLOAT, dims: [1, 256, 64, 64] },
      { name: 'point_coords', type: FLOAT, dims: ['batch_size', 'num_points', 2] },
      { name: 'point_labels', type: FLOAT, dims: ['batch_size', 'num_points'] },
    ],
    outputs: [
      { name: 'masks', type: FLOAT, dims: ['batch_size', 'num_masks', 256, 256] },
      { name: 'iou_predictions', type: FLOAT, dims: ['batch_size', 'num_masks'] },
    ],
    parts: [diskNodes(['image_embeddings'])],
  });
  return { encoder, decoder };
}

/** A manifest (as the app reads them) for a pair written above. */
export function familyManifest(id: string, family: 'sam2' | 'efficientvit-sam', files: { encoder: string; decoder: string }, inputSize: number): Record<string, unknown> {
  return {
    id,
    name: id,
    task: 'interactive',
    family,
    encoder: { file: files.encoder },
    decoder: { file: files.decoder },
    inputSize,
    mean: [123.675, 116.28, 103.53],
    std: [58.395, 57.12, 57.375],
  };
}

/**
 * A decoder of the Segment Anything contract that returns three masks whatever the prompt: the
 * whole image, nothing, the whole image, with predicted IoU 0.2, 0.9 and 0.5.
 */
export function threeMaskDecoder(): Uint8Array {
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
      { name: 'masks', type: FLOAT, dims: [1, 3, 'H', 'W'] },
      { name: 'iou_predictions', type: FLOAT, dims: [1, 3] },
      { name: 'low_res_masks', type: FLOAT, dims: [1, 3, 256, 256] },
    ],
    nodes: [
      { op: 'Cast', inputs: ['orig_im_size'], outputs: ['hw'], int: { to: INT64 } },
      { op: 'Concat', inputs: ['lead', 'hw'], outputs: ['shape'], int: { axis: 0 } },
      { op: 'Expand', inputs: ['c', 'shape'], outputs: ['masks'] },
      { op: 'Expand', inputs: ['c', 'lowShape'], outputs: ['low_res_masks'] },
      { op: 'Identity', inputs: ['iou'], outputs: ['iou_predictions'] },
    ],
    initializers: [
      { name: 'lead', type: INT64, dims: [2], values: [1, 3] },
      { name: 'lowShape', type: INT64, dims: [4], values: [1, 3, 256, 256] },
      { name: 'c', type: FLOAT, dims: [1, 3, 1, 1], values: [1, -1, 2] },
      { name: 'iou', type: FLOAT, dims: [1, 3], values: [0.2, 0.9, 0.5] },
    ],
  });
}
