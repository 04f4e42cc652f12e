/**
 * Model manifests and detections: what pre-labeling needs to know about a model, and what every
 * decoder produces. Pure types shared by inference/ (the only code running onnxruntime-node),
 * the services, the CLI and the renderer.
 */

export const DECODER_FAMILIES = ['ultralytics', 'yolov5', 'yolox', 'end2end', 'rtdetr'] as const;
/**
 * - ultralytics: [1, 4+nc(+32), N] channels-first cx,cy,w,h in input pixels, class scores, no
 *   objectness; segmentation adds prototypes [1,32,h,w].
 * - yolov5: [1, N, 5+nc(+32)] rows cx,cy,w,h, objectness, class scores.
 * - yolox: [1, N, 5+nc] raw grid offsets for strides 8/16/32, objectness, class scores.
 * - end2end: [1, N, 6] x1,y1,x2,y2,score,class (NMS already applied; threshold only).
 * - rtdetr: boxes [1, N, 4] normalised cxcywh and logits [1, N, nc]; no NMS.
 */
export type DecoderFamily = (typeof DECODER_FAMILIES)[number];

export const MODEL_TASKS = ['detect', 'segment', 'classify', 'embed', 'semantic', 'obb', 'pose'] as const;
export type ModelTask = (typeof MODEL_TASKS)[number];

export interface ModelManifest {
  id: string;
  name: string;
  task: ModelTask;
  /**
   * The decoder of a detect, segment, obb or pose model (required there); classify, semantic and
   * embed models have none (optional, not used).
   */
  family?: DecoderFamily;
  /** Input tensor name; the first input when omitted. */
  input?: string;
  /** [height, width] of the network input, or 'dynamic' (then `defaultSize` is used). */
  size: [number, number] | 'dynamic';
  defaultSize?: [number, number];
  colour: 'rgb' | 'bgr';
  /** Pixel values are multiplied by this after conversion to float (1/255 or 1). */
  scale: number;
  mean?: [number, number, number];
  std?: [number, number, number];
  /** Letterbox padding value (0-255), or 'stretch' to resize without keeping the aspect ratio. */
  letterbox: number | 'stretch';
  /** Placement of the image in a letterbox; 'center' when omitted. */
  letterboxAlign?: LetterboxAlign;
  /** How the image is resized to the input; 'cv2-linear' (the reference's) when omitted. */
  resize?: ResizeMethod;
  /** Grid strides of a yolox head; [8, 16, 32] when omitted. */
  strides?: number[];
  /**
   * Class names in output order. In a manifest file it may be left out when `labels` names a
   * file; loading the manifest fills it from that file.
   */
  classes: string[];
  /** Score, IoU and count limits of the predictions; an embed manifest may leave them out (they are then unused defaults). */
  thresholds: { score: number; iou: number; maxDetections: number };
  licence?: string;
  /** Where the weights come from: a file path, or a URL downloaded on demand with its sha256. */
  file?: string;
  url?: string;
  sha256?: string;
  /** Free text for people: where the weights come from when there is no `url`, how to export them. */
  notes?: string;
  /**
   * How images deeper than 8 bits (16-bit PNG/TIFF, DICOM) are turned into the model input:
   * 'window' (default) through the image's display window, 'fixed' through `window` (the whole
   * 16-bit range without it), 'minmax' from the image's lowest to its highest sample.
   */
  highBitDepth?: HighBitDepthMode;
  /** The fixed window for `highBitDepth: 'fixed'`, in sample values (DICOM: modality values). */
  window?: { center: number; width: number };
  /** Input tensor layout; 'nchw' when omitted ('nhwc' for e.g. TensorFlow-exported segmenters). */
  layout?: 'nchw' | 'nhwc';
  /** The output tensor read by classify, semantic and embed models; the first output when omitted. */
  output?: string;
  /**
   * A labels file beside the manifest (JSON list of names, or text with one name per line),
   * read into `classes` when the manifest is loaded.
   */
  labels?: string;
  /** classify, embed: resize the short side to this, then centre-crop `size` (ImageNet: 256 then 224); a plain resize when omitted. */
  cropFrom?: number;
  /**
   * classify: 'softmax' over the classes (one label per image) or 'sigmoid' per class
   * (multi-label); semantic: 'softmax' (argmax over the classes) or 'sigmoid' (one class, score
   * above 0.5); 'none' when the outputs are already probabilities.
   */
  activation?: 'softmax' | 'sigmoid' | 'none';
  /** classify: how many of the best classes are stored as tags (above the score threshold); 5 when omitted. */
  topK?: number;
  /** Per-image input normalisation after `scale`: 'zscore' (zero mean, unit variance), as microscopy U-Nets expect. */
  normalize?: 'zscore';
  /** semantic: the class index that stores no mask (VOC's background is 0); every class stores one when omitted. */
  background?: number;
  /**
   * semantic: store instances instead of one mask per class: connected components, optionally
   * split by a distance-transform watershed, holes filled, pieces under `minArea` pixels dropped.
   */
  instances?: { split: 'none' | 'watershed'; minArea: number; fillHoles: boolean };
  /** pose: the keypoint names and skeleton of the model's class (COCO person when omitted). */
  keypoints?: { names: string[]; skeleton: [number, number][]; flipPairs?: [number, number][] };
  /** embed: how the `output` tensor becomes one vector per image (see EmbeddingSpec). */
  embedding?: EmbeddingSpec;
}

export const EMBEDDING_POOLINGS = ['none', 'mean', 'max', 'cls'] as const;
export type EmbeddingPooling = (typeof EMBEDDING_POOLINGS)[number];

/**
 * How an embed model's output becomes a vector. The output is read per batch item as:
 * - [B, D] or [B, D, 1, 1]: the vector itself (any pooling);
 * - [B, C, H, W] (a feature map, channels first): pooled over H and W, C values;
 * - [B, T, C] (tokens, as transformer encoders give): pooled over T, C values; 'cls' takes the
 *   first token (CLIP's and DINOv2's class token).
 * 'none' accepts only an output that already is a vector. `l2` scales each vector to unit length,
 * so that a dot product is the cosine similarity.
 */
export interface EmbeddingSpec {
  pooling: EmbeddingPooling;
  l2: boolean;
}

export const HIGH_BIT_DEPTH_MODES = ['window', 'fixed', 'minmax'] as const;
export type HighBitDepthMode = (typeof HIGH_BIT_DEPTH_MODES)[number];

/** One detection in image pixels of the oriented image. */
export interface Detection {
  classIndex: number;
  score: number;
  box: { x: number; y: number; w: number; h: number };
  /** Instance mask for segmentation models, COCO RLE over the whole image. */
  mask?: { size: [number, number]; counts: number[] };
  /**
   * Rotated box of an `obb` model, stored as the `obb` geometry (angle in radians, in [0, π/2));
   * `box` is the axis-aligned box around it.
   */
  obb?: { cx: number; cy: number; w: number; h: number; angle: number };
  /** Keypoints of a `pose` model: `[x, y, score, ...]` in image pixels, the score the model's 0..1 visibility. */
  keypoints?: number[];
  /** classify: a label of the whole image, stored as an image tag; `box` is then the whole image. */
  tag?: true;
}

/** 8-bit pixels already decoded (and windowed, for deeper images), row-major, interleaved. */
export interface RawPixels {
  data: Uint8Array;
  width: number;
  height: number;
  channels: 1 | 3 | 4;
}

/** The execution providers Tessera may try, in the user's preference order. */
export const PROVIDERS = ['cuda', 'dml', 'coreml', 'webgpu', 'cpu'] as const;
export type Provider = (typeof PROVIDERS)[number];

/**
 * How onnxruntime runs a model on the CPU: intra-op threads, and whether its idle threads spin
 * waiting for work. Spinning answers a little sooner when the cores are free, and slows every run
 * several times over when another process (the app's own UI, say) wants a core.
 */
export interface ThreadSettings {
  threads: number;
  spinning: boolean;
}

/** The most intra-op threads a run may ask for. */
export const MAX_THREADS = 256;

/**
 * Where the resized image sits inside a letterboxed input. Ultralytics centres it; YOLOX's
 * reference preprocessing puts it in the top-left corner and pads only right and bottom.
 */
export type LetterboxAlign = 'center' | 'topleft';

/**
 * How an image is resized to the network input:
 * - 'cv2-linear': OpenCV's `cv2.resize(..., interpolation=cv2.INTER_LINEAR)` on the full-size
 *   decoded pixels, as stored (no ICC colour conversion, like `cv2.imread`): the preprocessing
 *   Ultralytics, YOLOX and RT-DETR validate their models with, within one grey level.
 * - 'vips-linear': libvips' linear reduce, which antialiases when shrinking and lets JPEGs be
 *   decoded at a reduced size: faster on large photos, not the reference's pixels.
 */
export const RESIZE_METHODS = ['cv2-linear', 'vips-linear'] as const;
export type ResizeMethod = (typeof RESIZE_METHODS)[number];

/** Per-run changes to a manifest's default thresholds. */
export interface DetectOverrides {
  score?: number;
  iou?: number;
  maxDetections?: number;
  /** The input is one tile of a larger image: pose keypoints outside it are not clamped to it. */
  tile?: boolean;
}

/** A tensor's dimensions as the model declares them: a number, or a symbolic name when dynamic. */
export type Dims = readonly (number | string)[];

export interface ModelIo {
  inputs: { name: string; dims: Dims }[];
  outputs: { name: string; dims: Dims }[];
}

/** One model output after a run, in the layout onnxruntime returns (row-major, batch first). */
export interface OutputTensor {
  name: string;
  dims: readonly number[];
  data: Float32Array;
}

export interface DetectTimings {
  preMs: number;
  runMs: number;
  postMs: number;
}
