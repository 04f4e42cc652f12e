import { describe, expect, it } from 'vitest';
import { isAppError } from '../../../src-main/common/errors';
import { obbFromCorners } from '../../../src-main/common/formats/yolo';
import { geometryBBox, obbCorners } from '../../../src-main/common/geometry/shapes';
import { COCO_PERSON_KEYPOINTS } from '../../../src-main/common/keypoints';
import { letterboxGeometry } from '../../../src-main/common/inference/letterbox';
import { parseManifest, proposeManifest } from '../../../src-main/common/inference/manifest';
import { boxIou, makeCandidates, nms, pushCandidate } from '../../../src-main/common/inference/nms';
import { inputRotatedToImage, keypointsFromScores, probiou, regularizeRotated, rotatedNms, type RotatedBox } from '../../../src-main/common/inference/obbPose';
import { postprocess } from '../../../src-main/common/inference/postprocess';
import { mergeTiled, toImage } from '../../../src-main/common/inference/tiling';
import type { Detection, ModelIo, ModelManifest, OutputTensor } from '../../../src-main/common/inference/types';
import { pack, unpack } from '../../../src-main/inference/wire';

const manifest = (over: Partial<ModelManifest>): ModelManifest => ({
  id: 'm',
  name: 'm',
  task: 'obb',
  family: 'ultralytics',
  size: [640, 640],
  colour: 'rgb',
  scale: 1 / 255,
  letterbox: 114,
  classes: ['car', 'truck'],
  thresholds: { score: 0.25, iou: 0.45, maxDetections: 300 },
  file: 'm.onnx',
  ...over,
});

/** A channels-first output [1, rows, N]: column j holds candidate j's values top to bottom. */
function channelsFirst(columns: number[][], name = 'output0'): OutputTensor {
  const n = columns.length;
  const rows = columns[0]!.length;
  const data = new Float32Array(rows * n);
  columns.forEach((col, j) => col.forEach((v, r) => (data[r * n + j] = v)));
  return { name, dims: [1, rows, n], data };
}

/** OBB column: cx, cy, w, h, class scores, angle. */
const obbCol = (cx: number, cy: number, w: number, h: number, scores: number[], angle: number): number[] => [cx, cy, w, h, ...scores, angle];

/** A 1280x640 image letterboxed into 640x640: scale 0.5, 160 rows of padding above and below. */
const g = letterboxGeometry(1280, 640, 640, 640);
const toImageX = (x: number) => (x - g.padLeft) / g.scaleX;
const toImageY = (y: number) => (y - g.padTop) / g.scaleY;

/** Corners as a sorted list of rounded points, to compare boxes whatever corner comes first. */
const cornerSet = (flat: readonly number[]): string[] => {
  const pts: string[] = [];
  const f = (v: number) => (Math.abs(v) < 5e-4 ? 0 : v).toFixed(3);
  for (let i = 0; i < flat.length; i += 2) pts.push(`${f(flat[i]!)},${f(flat[i + 1]!)}`);
  return pts.sort();
};
const corners = (b: RotatedBox) => obbCorners({ kind: 'obb', ...b });

/** Ultralytics' xywhr2xyxyxyxy, written from its documented formula: w along (cos θ, sin θ), h along (−sin θ, cos θ). */
function ultralyticsCorners(b: RotatedBox): number[] {
  const c = Math.cos(b.angle), s = Math.sin(b.angle);
  const v1 = [(b.w / 2) * c, (b.w / 2) * s];
  const v2 = [(-b.h / 2) * s, (b.h / 2) * c];
  return [
    b.cx + v1[0]! + v2[0]!, b.cy + v1[1]! + v2[1]!,
    b.cx + v1[0]! - v2[0]!, b.cy + v1[1]! - v2[1]!,
    b.cx - v1[0]! - v2[0]!, b.cy - v1[1]! - v2[1]!,
    b.cx - v1[0]! + v2[0]!, b.cy - v1[1]! + v2[1]!,
  ];
}

describe('rotated boxes: regularisation and probiou', () => {
  it('names every box with its angle in [0, π/2), swapping w and h past π/2, without moving its corners', () => {
    const cases: [RotatedBox, RotatedBox][] = [
      [{ cx: 10, cy: 20, w: 40, h: 10, angle: 0.3 }, { cx: 10, cy: 20, w: 40, h: 10, angle: 0.3 }],
      [{ cx: 10, cy: 20, w: 40, h: 10, angle: 0.3 + Math.PI }, { cx: 10, cy: 20, w: 40, h: 10, angle: 0.3 }],
      [{ cx: 10, cy: 20, w: 40, h: 10, angle: 2.0 }, { cx: 10, cy: 20, w: 10, h: 40, angle: 2.0 - Math.PI / 2 }],
      // The head's range starts at -π/4: -0.5 is the box turned by π/2 - 0.5 with w and h swapped.
      [{ cx: 10, cy: 20, w: 40, h: 10, angle: -0.5 }, { cx: 10, cy: 20, w: 10, h: 40, angle: Math.PI / 2 - 0.5 }],
      [{ cx: 10, cy: 20, w: 40, h: 10, angle: Math.PI / 2 }, { cx: 10, cy: 20, w: 10, h: 40, angle: 0 }],
      [{ cx: 10, cy: 20, w: 40, h: 10, angle: -Math.PI }, { cx: 10, cy: 20, w: 40, h: 10, angle: 0 }],
    ];
    for (const [raw, want] of cases) {
      const r = regularizeRotated(raw);
      expect(r.w).toBeCloseTo(want.w, 9);
      expect(r.h).toBeCloseTo(want.h, 9);
      expect(r.angle).toBeCloseTo(want.angle, 9);
      expect(r.angle >= 0 && r.angle < Math.PI / 2).toBe(true);
      expect(cornerSet(corners(r))).toEqual(cornerSet(corners(raw)));
    }
  });

  it('stores Ultralytics xywhr as the app\'s obb: the same corners as xywhr2xyxyxyxy, and as the YOLO-OBB reader makes of them', () => {
    for (const b of [{ cx: 300, cy: 200, w: 120, h: 30, angle: 0.4 }, { cx: 50, cy: 80, w: 20, h: 60, angle: 1.2 }]) {
      expect(cornerSet(corners(b))).toEqual(cornerSet(ultralyticsCorners(b)));
      const read = obbFromCorners(ultralyticsCorners(b)).geometry;
      expect(cornerSet(obbCorners(read))).toEqual(cornerSet(ultralyticsCorners(b)));
    }
  });

  it('probiou: 1 for the same box under any of its names, 0 far apart, low for thin boxes crossing', () => {
    const a: RotatedBox = { cx: 100, cy: 100, w: 200, h: 50, angle: 0.3 };
    expect(probiou(a, a)).toBeGreaterThan(0.999);
    expect(probiou(a, { ...a, angle: a.angle + Math.PI })).toBeGreaterThan(0.999);
    expect(probiou(a, { ...a, w: a.h, h: a.w, angle: a.angle + Math.PI / 2 })).toBeGreaterThan(0.999);
    expect(probiou(a, { ...a, w: a.h, h: a.w, angle: a.angle - Math.PI / 2 })).toBeGreaterThan(0.999);
    expect(probiou(a, { ...a, cx: 2000 })).toBeLessThan(1e-3);
    const x: RotatedBox = { cx: 300, cy: 300, w: 300, h: 12, angle: Math.PI / 4 };
    expect(probiou(x, { ...x, angle: (3 * Math.PI) / 4 })).toBeLessThan(0.1);
    // Symmetric, and a small shift of a thin box keeps it the same object.
    expect(probiou(x, { ...x, cx: 302 })).toBeCloseTo(probiou({ ...x, cx: 302 }, x), 12);
    expect(probiou(x, { ...x, cx: 302 })).toBeGreaterThan(0.8);
  });

  it('rotatedNms is class-aware, best first, and capped at maxDetections', () => {
    const b: RotatedBox = { cx: 0, cy: 0, w: 10, h: 4, angle: 0.2 };
    const boxes = [b, { ...b, angle: b.angle + Math.PI }, b, { ...b, cx: 100 }];
    expect(rotatedNms(boxes, [0.5, 0.9, 0.8, 0.3], [0, 0, 1, 0], 0.45, 10)).toEqual([1, 2, 3]);
    expect(rotatedNms(boxes, [0.5, 0.9, 0.8, 0.3], [0, 0, 1, 0], 0.45, 2)).toEqual([1, 2]);
  });
});

describe('Ultralytics OBB decoder', () => {
  const m = manifest({});
  const run = (cols: number[][], over: Partial<ModelManifest> = {}) => postprocess([channelsFirst(cols)], { ...m, ...over }, g, 'obb.onnx');

  it('undoes the letterbox, regularises the angle and keeps the axis-aligned box around it', () => {
    const dets = run([
      obbCol(320, 320, 200, 50, [0.9, 0.1], 0.3),
      obbCol(100, 300, 60, 20, [0.05, 0.8], 2.0),
      obbCol(500, 250, 40, 40, [0.2, 0.1], 0.5), // below the score threshold
    ]);
    expect(dets).toHaveLength(2);
    const [a, b] = dets as [Detection, Detection];
    expect([a.classIndex, +a.score.toFixed(3)]).toEqual([0, 0.9]);
    expect(a.obb!.cx).toBeCloseTo(640, 3);
    expect(a.obb!.cy).toBeCloseTo(320, 3);
    expect(a.obb!.w).toBeCloseTo(400, 3);
    expect(a.obb!.h).toBeCloseTo(100, 3);
    expect(a.obb!.angle).toBeCloseTo(0.3, 6);
    // θ = 2.0 lies past π/2: w and h swap and the angle drops by π/2; the corners stay.
    expect([b.classIndex, b.obb!.w, b.obb!.h].map((v) => +v.toFixed(3))).toEqual([1, 40, 120]);
    expect(b.obb!.angle).toBeCloseTo(2.0 - Math.PI / 2, 6);
    const unregularised = { cx: toImageX(100), cy: toImageY(300), w: 120, h: 40, angle: 2.0 };
    expect(cornerSet(corners(b.obb!))).toEqual(cornerSet(corners(unregularised)));
    const xs = corners(a.obb!).filter((_, i) => i % 2 === 0);
    expect(a.box.x).toBeCloseTo(Math.min(...xs), 3);
    expect(a.box.w).toBeCloseTo(Math.max(...xs) - Math.min(...xs), 3);
  });

  it('suppresses the same box given at θ + π and with w and h swapped at θ ± π/2', () => {
    const dets = run([
      obbCol(320, 320, 200, 50, [0.9, 0], 0.3),
      obbCol(320, 320, 200, 50, [0.8, 0], 0.3 + Math.PI),
      obbCol(321, 320, 50, 200, [0.7, 0], 0.3 + Math.PI / 2),
      obbCol(320, 319, 50, 200, [0.6, 0], 0.3 - Math.PI / 2),
      obbCol(320, 320, 200, 50, [0, 0.5], 0.3), // another class: kept
    ]);
    expect(dets.map((d) => [d.classIndex, +d.score.toFixed(2)])).toEqual([
      [0, 0.9],
      [1, 0.5],
    ]);
  });

  it('keeps thin boxes crossing each other whose axis-aligned boxes coincide, and drops a near copy', () => {
    const cols = [obbCol(300, 300, 300, 12, [0.9, 0], Math.PI / 4), obbCol(300, 300, 300, 12, [0.8, 0], (3 * Math.PI) / 4), obbCol(302, 300, 300, 12, [0.7, 0], Math.PI / 4)];
    const dets = run(cols);
    expect(dets.map((d) => +d.score.toFixed(2))).toEqual([0.9, 0.8]);
    // The boxes around the two crossing ones are one box: axis-aligned NMS would have kept one.
    const [p, q] = dets as [Detection, Detection];
    const flat = [p.box.x, p.box.y, p.box.x + p.box.w, p.box.y + p.box.h, q.box.x, q.box.y, q.box.x + q.box.w, q.box.y + q.box.h];
    expect(boxIou(flat, 0, flat, 4)).toBeGreaterThan(0.99);
    const c = makeCandidates(2);
    pushCandidate(c, flat[0]!, flat[1]!, flat[2]!, flat[3]!, 0.9, 0, 0);
    pushCandidate(c, flat[4]!, flat[5]!, flat[6]!, flat[7]!, 0.8, 0, 1);
    expect(nms(c, 0.45, 10)).toEqual([0]);
  });

  it('refuses an output that is not an obb head, saying what it looks like', () => {
    const detectShaped = channelsFirst([[320, 320, 10, 10, 0.9, 0.1]]);
    let err: unknown;
    try {
      postprocess([detectShaped], m, g, 'yolo11n.onnx');
    } catch (e) {
      err = e;
    }
    expect(isAppError(err) && err.code).toBe('INVALID_ARGUMENT');
    expect((err as Error).message).toBe('yolo11n.onnx: output "output0" does not fit an ultralytics obb head with 2 classes (cx, cy, w, h, class scores, angle): expected [1, 7, N], got [1, 6, 1] (no angle row: a detect model?)');
  });

  it('maps a rotated box through a stretched input keeping its w side and its area', () => {
    const s = letterboxGeometry(1280, 640, 640, 640, 'stretch'); // x halved, y unchanged
    const axis = inputRotatedToImage(s, { cx: 100, cy: 100, w: 40, h: 20, angle: 0 });
    expect([axis.cx, axis.cy, axis.w, axis.h, axis.angle]).toEqual([200, 100, 80, 20, 0]);
    const diag = inputRotatedToImage(s, { cx: 100, cy: 100, w: 40, h: 40, angle: Math.PI / 4 });
    expect(diag.w * diag.h).toBeCloseTo(40 * 40 * 2, 6);
    expect(diag.angle).toBeCloseTo(Math.atan2(1, 2), 6);
  });
});

describe('Ultralytics pose decoder', () => {
  const pm = manifest({ task: 'pose', classes: ['person'] });
  /** Pose column: box, one class score, then the keypoints' x, y, score. */
  const poseCol = (cx: number, cy: number, w: number, h: number, score: number, kps: number[][]): number[] => [cx, cy, w, h, score, ...kps.flat()];
  const kps17 = (dx: number) => Array.from({ length: 17 }, (_, k) => [300 + dx + k, 200 + 5 * k, k % 2 === 0 ? 0.9 : 0.3]);

  it('decodes 17 COCO keypoints per person through the letterbox, clipped to the image, after box NMS', () => {
    const a = kps17(0);
    a[0] = [300, 100, 0.95]; // in the top padding: clipped to y = 0
    const dets = postprocess([channelsFirst([poseCol(320, 300, 100, 200, 0.9, a), poseCol(322, 300, 100, 200, 0.8, kps17(1)), poseCol(500, 300, 50, 100, 0.6, kps17(200))])], pm, g, 'pose.onnx');
    expect(dets.map((d) => +d.score.toFixed(2))).toEqual([0.9, 0.6]);
    const k = dets[0]!.keypoints!;
    expect(k).toHaveLength(51);
    expect(k.slice(0, 3).map((v) => +v.toFixed(3))).toEqual([600, 0, 0.95]);
    expect(k.slice(3, 6).map((v) => +v.toFixed(3))).toEqual([toImageX(301), toImageY(205), 0.3]);
    expect(dets[0]!.box).toEqual({ x: toImageX(270), y: toImageY(200), w: 200, h: 400 });
  });

  it('reads the manifest\'s own keypoints, and heads exported without scores (x, y only)', () => {
    const three = manifest({ task: 'pose', classes: ['cow'], keypoints: { names: ['head', 'hip', 'tail'], skeleton: [[0, 1], [1, 2]] } });
    const withScores = postprocess([channelsFirst([poseCol(320, 320, 100, 100, 0.9, [[300, 300, 0.9], [320, 320, 0.1], [340, 340, 0.6]])])], three, g, 'cow.onnx');
    expect(withScores[0]!.keypoints!.map((v) => +v.toFixed(3))).toEqual([600, 280, 0.9, 640, 320, 0.1, 680, 360, 0.6]);
    const xyOnly = postprocess([channelsFirst([poseCol(320, 320, 100, 100, 0.9, [[300, 300], [320, 320], [340, 340]])])], three, g, 'cow.onnx');
    expect(xyOnly[0]!.keypoints!.map((v) => +v.toFixed(3))).toEqual([600, 280, 1, 640, 320, 1, 680, 360, 1]);
  });

  it('refuses an output with another keypoint count than the manifest\'s, saying how many it holds', () => {
    const five = channelsFirst([poseCol(320, 320, 100, 100, 0.9, Array.from({ length: 5 }, () => [1, 2, 0.5]))]);
    expect(() => postprocess([five], pm, g, 'pose.onnx')).toThrow(
      'pose.onnx: output "output0" does not fit an ultralytics pose head with 1 classes and 17 keypoints (cx, cy, w, h, class scores, x, y, score per keypoint): expected [1, 56, N], got [1, 20, 1]',
    );
  });

  it('turns keypoint scores into COCO visibility: 2 from 0.5, 1 from 0.25, else 0 at (0, 0)', () => {
    expect(keypointsFromScores([10, 20, 0.5, 11, 21, 0.49, 12, 22, 0.25, 13, 23, 0.2])).toEqual([10, 20, 2, 11, 21, 1, 12, 22, 1, 0, 0, 0]);
  });
});

describe('rotated boxes and keypoints between threads and tiles', () => {
  const obbDet: Detection = { classIndex: 1, score: 0.5, box: { x: 1, y: 2, w: 3, h: 4 }, obb: { cx: 2.5, cy: 4, w: 3, h: 2, angle: 0.25 } };
  const kpDet: Detection = { classIndex: 0, score: 0.75, box: { x: 1, y: 2, w: 30, h: 40 }, keypoints: [5, 6, 0.9, 7, 8, 0.1] };

  it('pack and unpack keep them', () => {
    expect(unpack(pack([obbDet, { ...obbDet, score: 0.25 }]).packed)).toEqual([obbDet, { ...obbDet, score: 0.25 }]);
    expect(unpack(pack([kpDet]).packed)).toEqual([kpDet]);
    expect(unpack(pack([{ classIndex: 0, score: 0.5, box: { x: 0, y: 0, w: 1, h: 1 } }]).packed)[0]).toEqual({ classIndex: 0, score: 0.5, box: { x: 0, y: 0, w: 1, h: 1 } });
  });

  it('tiles merge whole rotated boxes by probiou: thin boxes crossing stay two, the same box seen by two tiles is one', () => {
    const left = { x: 0, y: 0, w: 600, h: 600 };
    const right = { x: 400, y: 0, w: 600, h: 600 };
    const thin = (w: number, h: number, angle: number, score: number): Detection => {
      const obb = { cx: 500, cy: 300, w, h, angle };
      return { classIndex: 0, score, box: geometryBBox({ kind: 'obb', ...obb }), obb };
    };
    const merged = mergeTiled(
      [
        { detection: thin(150, 8, Math.PI / 4, 0.9), tile: left },
        { detection: thin(8, 150, (3 * Math.PI) / 4, 0.8), tile: right }, // the same box under another name
        { detection: thin(8, 150, Math.PI / 4, 0.7), tile: right }, // crossing it
        { detection: thin(150, 8, Math.PI / 4, 0.6), tile: right },
      ],
      { width: 1000, height: 600, iou: 0.45 },
    );
    expect(merged.map((d) => d.score)).toEqual([0.9, 0.7]);
  });

  it('a tile\'s detections move into image pixels and survive the merge', () => {
    const tile = { x: 100, y: 50, w: 200, h: 200 };
    const moved = toImage(obbDet, tile, 1000, 1000);
    expect(moved.obb).toEqual({ cx: 102.5, cy: 54, w: 3, h: 2, angle: 0.25 });
    const kp = toImage(kpDet, tile, 1000, 1000);
    expect(kp.keypoints).toEqual([105, 56, 0.9, 107, 58, 0.1]);
    const merged = mergeTiled([{ detection: moved, tile: { x: 0, y: 0, w: 1000, h: 1000 } }, { detection: kp, tile: { x: 0, y: 0, w: 1000, h: 1000 } }], { width: 1000, height: 1000, iou: 0.5 });
    expect(merged.map((d) => [d.obb, d.keypoints])).toEqual([
      [undefined, kp.keypoints],
      [moved.obb, undefined],
    ]);
  });
});

describe('manifests of obb and pose models', () => {
  const good = { id: 'p', name: 'p', task: 'pose', family: 'ultralytics', size: [640, 640], colour: 'rgb', scale: 1 / 255, letterbox: 114, classes: ['person'], thresholds: { score: 0.25, iou: 0.45, maxDetections: 300 }, file: 'p.onnx' };

  it('need the ultralytics family and a sound keypoint schema', () => {
    expect(parseManifest(good, 'p.json').task).toBe('pose');
    expect(() => parseManifest({ ...good, task: 'obb', family: 'yolov5' }, 'o.json')).toThrow('o.json: invalid model manifest: family: obb models are read as Ultralytics heads: family must be "ultralytics"');
    expect(() => parseManifest({ ...good, keypoints: { names: ['a', 'b'], skeleton: [[0, 2]] } }, 'p.json')).toThrow('keypoints: skeleton edge [0, 2] names keypoint index 2, outside 0..1');
  });

  const io = (out: (number | string)[]): ModelIo => ({ inputs: [{ name: 'images', dims: [1, 3, 1024, 1024] }], outputs: [{ name: 'output0', dims: out }] });
  const dota = `{${['plane', 'ship', 'storage tank', 'baseball diamond', 'tennis court', 'basketball court', 'ground track field', 'harbor', 'bridge', 'large vehicle', 'small vehicle', 'helicopter', 'roundabout', 'soccer ball field', 'swimming pool'].map((n, i) => `${i}: '${n}'`).join(', ')}}`;

  it('inspection proposes obb from the metadata task, or from one row left over after the names', () => {
    const byTask = proposeManifest(io([1, 20, 21504]), { task: 'obb', names: dota }, 'yolo11n-obb.onnx');
    expect(byTask.manifest).toMatchObject({ task: 'obb', family: 'ultralytics' });
    expect(byTask.manifest!.classes).toHaveLength(15);
    expect(byTask.problems).toEqual([]);
    expect(proposeManifest(io([1, 20, 21504]), { names: dota }, 'x.onnx').manifest!.task).toBe('obb');
    // Without metadata the angle row cannot be told from a 16th class.
    expect(proposeManifest(io([1, 20, 21504]), {}, 'x.onnx').manifest).toMatchObject({ task: 'detect' });
  });

  it('inspection proposes pose from kpt_shape, COCO person for 17 keypoints, placeholder names otherwise', () => {
    const coco = proposeManifest(io([1, 56, 8400]), { task: 'pose', kpt_shape: '[17, 3]', names: "{0: 'person'}" }, 'yolo11n-pose.onnx');
    expect(coco.manifest).toMatchObject({ task: 'pose', classes: ['person'] });
    expect(coco.manifest!.keypoints).toBeUndefined();
    expect(coco.problems).toEqual([]);
    const dog = proposeManifest(io([1, 4 + 1 + 24 * 3, 8400]), { task: 'pose', kpt_shape: '[24, 3]', names: "{0: 'dog'}" }, 'dog-pose.onnx');
    expect(dog.manifest!.keypoints!.names).toHaveLength(24);
    expect(dog.problems.join('\n')).toMatch(/keypoint names unknown for 24 keypoints/);
    expect(proposeManifest(io([1, 56, 8400]), { names: "{0: 'person'}" }, 'x.onnx').manifest).toMatchObject({ task: 'pose', classes: ['person'] });
    const parsed = parseManifest(JSON.parse(JSON.stringify(coco.manifest)), 'p.json');
    expect(postprocess([channelsFirst([[320, 320, 10, 10, 0.9, ...Array.from({ length: 51 }, () => 1)]])], parsed, g, 'p.onnx')[0]!.keypoints).toHaveLength(COCO_PERSON_KEYPOINTS.names.length * 3);
  });
});

describe('rotated boxes and keypoints of objects crossing tiles', () => {
  // Three tiles of 600 px across a 1400x600 image, 200 px overlaps.
  const tiles = [
    { x: 0, y: 0, w: 600, h: 600 },
    { x: 400, y: 0, w: 600, h: 600 },
    { x: 800, y: 0, w: 600, h: 600 },
  ];
  const opts = { width: 1400, height: 600, iou: 0.45 };

  it('a long rotated box cut by two tile edges is stored whole: the pieces\' corners spanned along the first piece\'s axes', () => {
    // A crop row from x 100 to 1300 at a slight tilt; each tile sees the part inside it.
    const angle = 0.05;
    const along = (x0: number, x1: number) => {
      const c = Math.cos(angle), s = Math.sin(angle);
      const u0 = (x0 - 700) / c, u1 = (x1 - 700) / c;
      const um = (u0 + u1) / 2;
      return { cx: 700 + um * c, cy: 300 + um * s, w: u1 - u0, h: 20, angle };
    };
    const piece = (x0: number, x1: number, score: number, tile: (typeof tiles)[number]) => {
      const obb = along(x0, x1);
      return { detection: { classIndex: 0, score, box: geometryBBox({ kind: 'obb', ...obb }), obb }, tile };
    };
    const merged = mergeTiled([piece(100, 600, 0.9, tiles[0]!), piece(400, 1000, 0.8, tiles[1]!), piece(800, 1300, 0.7, tiles[2]!)], opts);
    expect(merged).toHaveLength(1);
    const o = merged[0]!.obb!;
    const whole = along(100, 1300);
    expect(o.angle).toBeCloseTo(angle, 9);
    expect(o.w).toBeCloseTo(whole.w, 1);
    expect(o.h).toBeCloseTo(20, 1);
    expect(o.cx).toBeCloseTo(whole.cx, 1);
    expect(o.cy).toBeCloseTo(whole.cy, 1);
  });

  const tm = manifest({ task: 'pose', classes: ['cow'], keypoints: { names: ['head', 'hip', 'tail'], skeleton: [[0, 1], [1, 2]] } });
  /** A 600x600 tile run at 640: scale 640/600, no padding. */
  const tg = letterboxGeometry(600, 600, 640, 640);
  const s = tg.scaleX;
  const poseCol = (cx: number, cy: number, w: number, h: number, score: number, kps: number[][]): number[] => [cx, cy, w, h, score, ...kps.flat()];

  it('a tile\'s keypoint outside it is unscored rather than clamped onto the tile edge; whole images still clamp', () => {
    // Box from tile x 450 to 600 (cut at the right edge); the tail at tile x 700, outside the tile.
    const col = poseCol(525 * s, 300 * s, 150 * s, 100 * s, 0.9, [[480 * s, 300 * s, 0.9], [560 * s, 300 * s, 0.8], [700 * s, 300 * s, 0.85]]);
    const tile = tiles[0]!;
    const inTile = postprocess([channelsFirst([col])], tm, tg, 'cow.onnx', { tile: true });
    const placed = toImage(inTile[0]!, tile, 1400, 600);
    expect(placed.keypoints!.map((v) => +v.toFixed(3))).toEqual([480, 300, 0.9, 560, 300, 0.8, 700, 300, 0]);
    expect(keypointsFromScores(placed.keypoints!).slice(6)).toEqual([0, 0, 0]);
    const whole = postprocess([channelsFirst([col])], tm, tg, 'cow.onnx');
    expect(whole[0]!.keypoints!.map((v) => +v.toFixed(3)).slice(6)).toEqual([600, 300, 0.85]);
  });

  it('fused pose pieces take each keypoint from the tile where it lies farthest from a cut edge', () => {
    // A cow from x 450 to 750 crossing the edge at 600 (tile 0) and 400 (tile 1).
    const det = (kps: number[], score: number): Detection => ({ classIndex: 0, score, box: { x: 450, y: 250, w: 150, h: 100 }, keypoints: kps });
    const left = { detection: det([480, 300, 0.9, 590, 300, 0.6, 600, 300, 0], 0.9), tile: tiles[0]! };
    const right = { detection: { ...det([460, 300, 0.4, 600, 300, 0.95, 720, 300, 0.8], 0.8), box: { x: 400, y: 250, w: 350, h: 100 } }, tile: tiles[1]! };
    const merged = mergeTiled([left, right], opts);
    expect(merged).toHaveLength(1);
    // Head: 480 is 120 px from tile 0's edge at 600, 460 only 60 px from tile 1's at 400.
    // Hip: 590 is 10 px inside tile 0, 600 is 200 px inside tile 1. Tail: only tile 1 scored it.
    expect(merged[0]!.keypoints).toEqual([480, 300, 0.9, 600, 300, 0.95, 720, 300, 0.8]);
  });
});
