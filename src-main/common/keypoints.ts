import type { KeypointSchema } from './model';

/**
 * Keypoint schemas of classes (pose skeletons): checks, the text form the class panel edits,
 * and the COCO person preset. Indexes are 0-based here and everywhere in Tessera; COCO files
 * number keypoints from 1 and are converted where they are read and written.
 */

/** More points than any pose format uses (COCO-WholeBody has 133), still cheap to draw. */
export const MAX_KEYPOINTS = 200;
export const MAX_KEYPOINT_NAME = 100;

/** COCO's person keypoints, skeleton and left/right pairs, 0-based. */
export const COCO_PERSON_KEYPOINTS: KeypointSchema = {
  names: [
    'nose',
    'left_eye',
    'right_eye',
    'left_ear',
    'right_ear',
    'left_shoulder',
    'right_shoulder',
    'left_elbow',
    'right_elbow',
    'left_wrist',
    'right_wrist',
    'left_hip',
    'right_hip',
    'left_knee',
    'right_knee',
    'left_ankle',
    'right_ankle',
  ],
  // person_keypoints_val2017.json's skeleton, each index less one.
  skeleton: [
    [15, 13],
    [13, 11],
    [16, 14],
    [14, 12],
    [11, 12],
    [5, 11],
    [6, 12],
    [5, 6],
    [5, 7],
    [6, 8],
    [7, 9],
    [8, 10],
    [1, 2],
    [0, 1],
    [0, 2],
    [1, 3],
    [2, 4],
    [3, 5],
    [4, 6],
  ],
  flipPairs: [
    [1, 2],
    [3, 4],
    [5, 6],
    [7, 8],
    [9, 10],
    [11, 12],
    [13, 14],
    [15, 16],
  ],
};

/** Why a schema cannot be stored, or null: names unique and non-empty, edges within range. */
export function keypointSchemaProblem(s: KeypointSchema): string | null {
  if (s.names.length === 0) return 'a keypoint schema needs at least one keypoint';
  if (s.names.length > MAX_KEYPOINTS) return `a keypoint schema may have at most ${MAX_KEYPOINTS} keypoints, not ${s.names.length}`;
  const seen = new Map<string, number>();
  for (const [i, n] of s.names.entries()) {
    if (n.trim() === '') return `keypoint ${i + 1} has an empty name`;
    if (n !== n.trim()) return `keypoint name "${n}" has spaces at its ends`;
    if (n.length > MAX_KEYPOINT_NAME) return `keypoint ${i + 1}'s name is longer than ${MAX_KEYPOINT_NAME} characters`;
    const j = seen.get(n);
    if (j !== undefined) return `keypoint name "${n}" is used twice (keypoints ${j + 1} and ${i + 1})`;
    seen.set(n, i);
  }
  for (const [what, pairs] of [
    ['skeleton edge', s.skeleton],
    ['flip pair', s.flipPairs ?? []],
  ] as const) {
    for (const [a, b] of pairs) {
      for (const k of [a, b]) {
        if (!Number.isInteger(k) || k < 0 || k >= s.names.length) return `${what} [${a}, ${b}] names keypoint index ${k}, outside 0..${s.names.length - 1}`;
      }
      if (a === b) return `${what} [${a}, ${b}] joins a keypoint to itself`;
    }
  }
  return null;
}

/** Whether a flat [x, y, v, ...] list has one triple per keypoint of the schema. */
export function keypointsFit(points: readonly number[], schema: KeypointSchema): boolean {
  return points.length === schema.names.length * 3;
}

/** The class panel's text form: names one per line; edges "a-b" per line (names). */
export function schemaToText(s: KeypointSchema): { names: string; edges: string } {
  return {
    names: s.names.join('\n'),
    edges: s.skeleton.map(([a, b]) => `${s.names[a]}-${s.names[b]}`).join('\n'),
  };
}

/**
 * Parses the class panel's text form. Names: one per line, blank lines ignored. Edges: one
 * "a-b" pair per line (or separated by commas), each end a keypoint name or its number counted
 * from 1 as the editor shows it; a name wins over a number. A name holding "-" is written as is
 * when the split at another "-" would not give two known ends.
 */
export function schemaFromText(namesText: string, edgesText: string): { schema: KeypointSchema } | { problem: string } {
  const names = namesText
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '');
  const index = (token: string): number | null => {
    const t = token.trim();
    const byName = names.indexOf(t);
    if (byName >= 0) return byName;
    if (/^\d+$/.test(t)) {
      const n = Number(t);
      if (n >= 1 && n <= names.length) return n - 1;
    }
    return null;
  };
  const skeleton: [number, number][] = [];
  const items = edgesText
    .split(/[\r\n,]+/)
    .map((l) => l.trim())
    .filter((l) => l !== '');
  for (const item of items) {
    let edge: [number, number] | null = null;
    for (let at = item.indexOf('-'); at >= 0 && !edge; at = item.indexOf('-', at + 1)) {
      const a = index(item.slice(0, at));
      const b = index(item.slice(at + 1));
      if (a !== null && b !== null) edge = [a, b];
    }
    if (!edge) return { problem: `edge "${item}" must be two keypoints, by name or number (1..${names.length}), joined by "-"` };
    skeleton.push(edge);
  }
  const schema: KeypointSchema = { names, skeleton };
  const problem = keypointSchemaProblem(schema);
  return problem ? { problem } : { schema };
}
