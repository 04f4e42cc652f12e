import { describe, expect, it } from 'vitest';
import { inspectSamPair } from '../../../src-main/common/inference/samFamily';
import { parseSamManifest, SAM_MEAN, SAM_STD } from '../../../src-main/common/inference/samManifest';
import type { ModelIo } from '../../../src-main/common/inference/types';

/*
 * The I/O below is what the published exports declare: Segment Anything's decoder export and
 * samexporter's MobileSAM encoder (X-AnyLabeling's v0.2.0 files), mit-han-lab/efficientvit's
 * export_encoder.py/export_decoder.py, and samexporter's SAM 2.1 export (X-AnyLabeling's v2.5.0
 * files). Symbolic dims keep the names the exporters gave them.
 */

const samDecoder: ModelIo = {
  inputs: [
    { name: 'image_embeddings', dims: [1, 256, 64, 64] },
    { name: 'point_coords', dims: [1, 'num_points', 2] },
    { name: 'point_labels', dims: [1, 'num_points'] },
    { name: 'mask_input', dims: [1, 1, 256, 256] },
    { name: 'has_mask_input', dims: [1] },
    { name: 'orig_im_size', dims: [2] },
  ],
  outputs: [
    { name: 'masks', dims: ['Resizemasks_dim_0', 'Resizemasks_dim_1', 'Resizemasks_dim_2', 'Resizemasks_dim_3'] },
    { name: 'iou_predictions', dims: ['Unsqueezeiou_predictions_dim_0', 1] },
    { name: 'low_res_masks', dims: ['Unsqueezelow_res_masks_dim_0', 1, 'Unsqueezelow_res_masks_dim_2', 'Unsqueezelow_res_masks_dim_3'] },
  ],
};

const mobileSamEncoder: ModelIo = {
  inputs: [{ name: 'input_image', dims: ['image_height', 'image_width', 3] }],
  outputs: [{ name: 'image_embeddings', dims: ['Addimage_embeddings_dim_0', 256, 64, 64] }],
};

const nchwSamEncoder: ModelIo = {
  inputs: [{ name: 'input_image', dims: [1, 3, 1024, 1024] }],
  outputs: [{ name: 'image_embeddings', dims: [1, 256, 64, 64] }],
};

const evitEncoder: ModelIo = {
  inputs: [{ name: 'input_image', dims: ['batch_size', 3, 512, 512] }],
  outputs: [{ name: 'image_embeddings', dims: ['batch_size', 256, 64, 64] }],
};

const evitDecoder: ModelIo = {
  inputs: [
    { name: 'image_embeddings', dims: [1, 256, 64, 64] },
    { name: 'point_coords', dims: ['batch_size', 'num_points', 2] },
    { name: 'point_labels', dims: ['batch_size', 'num_points'] },
  ],
  outputs: [
    { name: 'masks', dims: ['batch_size', 4, 256, 256] },
    { name: 'iou_predictions', dims: ['batch_size', 4] },
  ],
};

const sam2Encoder: ModelIo = {
  inputs: [{ name: 'image', dims: [1, 3, 1024, 1024] }],
  outputs: [
    { name: 'high_res_feats_0', dims: ['Reshapehigh_res_feats_0_dim_0', 'Reshapehigh_res_feats_0_dim_1', 'Reshapehigh_res_feats_0_dim_2', 'Reshapehigh_res_feats_0_dim_3'] },
    { name: 'high_res_feats_1', dims: ['Reshapehigh_res_feats_1_dim_0', 'Reshapehigh_res_feats_1_dim_1', 'Reshapehigh_res_feats_1_dim_2', 'Reshapehigh_res_feats_1_dim_3'] },
    { name: 'image_embed', dims: ['Reshapeimage_embed_dim_0', 'Reshapeimage_embed_dim_1', 'Reshapeimage_embed_dim_2', 'Reshapeimage_embed_dim_3'] },
  ],
};

const sam2Decoder: ModelIo = {
  inputs: [
    { name: 'image_embed', dims: [1, 256, 64, 64] },
    { name: 'high_res_feats_0', dims: [1, 32, 256, 256] },
    { name: 'high_res_feats_1', dims: [1, 64, 128, 128] },
    { name: 'point_coords', dims: ['num_labels', 'num_points', 2] },
    { name: 'point_labels', dims: ['num_labels', 'num_points'] },
    { name: 'mask_input', dims: ['num_labels', 1, 256, 256] },
    { name: 'has_mask_input', dims: ['num_labels'] },
  ],
  outputs: [
    { name: 'masks', dims: ['Clipmasks_dim_0', 'Clipmasks_dim_1', 'Clipmasks_dim_2', 'Clipmasks_dim_3'] },
    { name: 'iou_predictions', dims: ['Sliceiou_predictions_dim_0', 3] },
  ],
};

const files = (encoder: string, decoder: string) => ({ encoder: `/m/${encoder}`, decoder: `/m/${decoder}` });

describe('SAM family of an encoder/decoder pair', () => {
  it('recognises a Segment Anything pair whose encoder normalises and pads itself (MobileSAM, samexporter --use-preprocess)', () => {
    const r = inspectSamPair(mobileSamEncoder, samDecoder, files('mobile_sam.encoder.onnx', 'sam_vit_h_4b8939.decoder.onnx'));
    expect(r.problems).toEqual([]);
    expect(r.family).toBe('sam');
    expect(r.layout).toEqual({
      family: 'sam',
      encoder: { input: 'input_image', layout: 'hwc', feeds: { image_embeddings: 'image_embeddings' } },
      decoder: { maskInput: true, origImSize: true, lowResMasks: 'low_res_masks' },
      promptFrame: 1024,
    });
    // The proposal is a valid manifest as it stands, pointing at the two files.
    const m = parseSamManifest(r.proposed, 'proposal');
    expect(m).toEqual({
      id: 'mobile_sam',
      name: 'mobile_sam',
      task: 'interactive',
      family: 'sam',
      encoder: { file: '/m/mobile_sam.encoder.onnx' },
      decoder: { file: '/m/sam_vit_h_4b8939.decoder.onnx' },
      inputSize: 1024,
      mean: SAM_MEAN,
      std: SAM_STD,
    });
  });

  it('recognises a Segment Anything pair with a [1,3,S,S] encoder and takes S as the input size', () => {
    const enc: ModelIo = { ...nchwSamEncoder, inputs: [{ name: 'x', dims: [1, 3, 1024, 1024] }] };
    const r = inspectSamPair(enc, samDecoder, files('sam_vit_b_encoder.onnx', 'sam_vit_b_decoder.onnx'));
    expect(r.family).toBe('sam');
    expect(r.layout?.encoder).toEqual({ input: 'x', layout: 'nchw', feeds: { image_embeddings: 'image_embeddings' } });
    expect(r.proposed).toMatchObject({ id: 'sam_vit_b', inputSize: 1024 });
  });

  it('assumes 1024 for an encoder whose input size is not fixed, and says so', () => {
    const enc: ModelIo = { ...nchwSamEncoder, inputs: [{ name: 'input_image', dims: ['batch', 3, 'height', 'width'] }] };
    const r = inspectSamPair(enc, samDecoder, files('My_Model-Encoder.onnx', 'dec.onnx'));
    expect(r.family).toBe('sam');
    expect(r.proposed).toMatchObject({ id: 'my_model', name: 'My_Model', inputSize: 1024 });
    expect(r.problems).toEqual(['encoder input input_image is [batch,3,height,width] (size not fixed): assuming 1024']);
  });

  it('recognises the official EfficientViT-SAM export: 512 input, no mask input, low-resolution masks', () => {
    const r = inspectSamPair(evitEncoder, evitDecoder, files('l0_encoder.onnx', 'l0_decoder.onnx'));
    expect(r.problems).toEqual([]);
    expect(r.family).toBe('efficientvit-sam');
    expect(r.proposed).toMatchObject({ id: 'l0', family: 'efficientvit-sam', inputSize: 512 });
    expect(r.layout).toMatchObject({ decoder: { maskInput: false, origImSize: false, lowResMasks: 'masks' }, promptFrame: 1024 });
  });

  it('recognises a SAM 2 pair and maps each encoder output to the decoder input it feeds', () => {
    const r = inspectSamPair(sam2Encoder, sam2Decoder, files('sam2.1_hiera_tiny.encoder.onnx', 'sam2.1_hiera_tiny.decoder.onnx'));
    expect(r.problems).toEqual([]);
    expect(r.family).toBe('sam2');
    expect(r.proposed).toMatchObject({ id: 'sam2.1_hiera_tiny', family: 'sam2', inputSize: 1024 });
    expect(r.layout?.encoder.feeds).toEqual({ image_embed: 'image_embed', high_res_feats_0: 'high_res_feats_0', high_res_feats_1: 'high_res_feats_1' });
    // Exports that also take orig_im_size still fit.
    const withSize: ModelIo = { ...sam2Decoder, inputs: [...sam2Decoder.inputs, { name: 'orig_im_size', dims: [2] }] };
    expect(inspectSamPair(sam2Encoder, withSize, files('e.onnx', 'd.onnx')).layout?.decoder.origImSize).toBe(true);
  });

  it('names the missing decoder input of a pair that is otherwise Segment Anything', () => {
    const dec: ModelIo = { ...samDecoder, inputs: samDecoder.inputs.filter((t) => t.name !== 'point_labels') };
    const r = inspectSamPair(nchwSamEncoder, dec, files('enc.onnx', 'dec.onnx'));
    expect(r.family).toBeNull();
    expect(r.proposed).toBeNull();
    expect(r.problems[0]).toMatch(/closest to the sam family/);
    expect(r.problems.slice(1)).toEqual(['decoder: no input "point_labels"']);
  });

  it('names an embedding of the wrong shape', () => {
    const enc: ModelIo = { ...nchwSamEncoder, outputs: [{ name: 'image_embeddings', dims: [1, 128, 32, 32] }] };
    const r = inspectSamPair(enc, samDecoder, files('enc.onnx', 'dec.onnx'));
    expect(r.family).toBeNull();
    expect(r.problems.slice(1)).toEqual(['encoder output image_embeddings is [1,128,32,32], expected [1,256,64,64]']);
  });

  it('says when the encoder and the decoder are swapped', () => {
    const r = inspectSamPair(samDecoder, nchwSamEncoder, files('dec.onnx', 'enc.onnx'));
    expect(r.family).toBeNull();
    expect(r.problems).toEqual(['encoder and decoder are swapped: /m/dec.onnx takes the prompts (point_coords, point_labels, mask_input, has_mask_input, orig_im_size) and /m/enc.onnx takes the image']);
  });

  it('names the high-resolution features a SAM 2 decoder needs from its encoder', () => {
    const r = inspectSamPair(nchwSamEncoder, sam2Decoder, files('enc.onnx', 'dec.onnx'));
    expect(r.family).toBeNull();
    expect(r.problems[0]).toMatch(/closest to the sam2 family/);
    expect(r.problems.slice(1)).toEqual([
      'encoder: no output "image_embed" [1,256,64,64] (its outputs: image_embeddings [1,256,64,64])',
      'encoder: no output "high_res_feats_0" [1,32,256,256] (its outputs: image_embeddings [1,256,64,64])',
      'encoder: no output "high_res_feats_1" [1,64,128,128] (its outputs: image_embeddings [1,256,64,64])',
    ]);
  });

  it('refuses an encoder whose input is not an image', () => {
    const enc: ModelIo = { inputs: [{ name: 'tokens', dims: [1, 77] }], outputs: nchwSamEncoder.outputs };
    const r = inspectSamPair(enc, samDecoder, files('enc.onnx', 'dec.onnx'));
    expect(r.family).toBeNull();
    expect(r.problems.slice(1)).toEqual(['encoder input tokens is [1,77], expected an image [1,3,S,S] or [H,W,3]']);
  });

  it('says a pair of detectors is not a SAM-family pair at all', () => {
    const yolo: ModelIo = { inputs: [{ name: 'images', dims: [1, 3, 320, 320] }], outputs: [{ name: 'output0', dims: [1, 84, 2100] }] };
    const r = inspectSamPair(yolo, yolo, files('yolov8n.onnx', 'yolov8n.onnx'));
    expect(r.family).toBeNull();
    expect(r.problems[0]).toMatch(/not a SAM-family pair/);
    expect(r.problems).toContain('decoder: no input "point_coords"');
  });
});
