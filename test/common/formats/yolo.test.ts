import { describe, expect, it } from 'vitest';
import type { Geometry } from '../../../src-main/common/model';
import { obbCorners, ringSignedArea, validateGeometry } from '../../../src-main/common/geometry';
import {
  formatYoloNumber,
  inferYoloTask,
  joinPolygonParts,
  obbFromCorners,
  parseYoloLabels,
  serialiseYoloLabels,
  type YoloTask,
} from '../../../src-main/common/formats/yolo';
import { mulberry32 } from '../../../src-main/common/random';

const CLASSES = ['crop', 'weed', 'rock'];
const parse = (text: string, task: YoloTask, width = 200, height = 100) => parseYoloLabels(text, { width, height, classes: CLASSES, task });

function closeTo(a: number, b: number, rel = 1e-6): boolean {
  return Math.abs(a - b) <= rel * Math.max(1, Math.abs(a), Math.abs(b));
}

/** Whether `got` is `want` walked from the same first corner, in the given direction. */
function sameCorners(got: number[], want: number[], reversed: boolean): boolean {
  for (let k = 0; k < 4; k++) {
    const j = reversed ? (4 - k) % 4 : k;
    if (!closeTo(got[2 * k]!, want[2 * j]!) || !closeTo(got[2 * k + 1]!, want[2 * j + 1]!)) return false;
  }
  return true;
}

describe('parseYoloLabels: detect', () => {
  it('reads boxes in pixels from centre/size fractions, without a final newline, with CRLF and blank lines', () => {
    const r = parse('0 0.5 0.5 0.2 0.4\r\n\r\n   \n2 0.25 0.75 0.5 0.5', 'detect');
    expect(r.problems).toEqual([]);
    expect(r.annotations.map((a) => a.label)).toEqual(['crop', 'rock']);
    expect(r.annotations[0]!.geometry).toEqual({ kind: 'box', x: 80, y: 30, w: 40, h: 40 });
    expect(r.annotations[1]!.geometry).toEqual({ kind: 'box', x: 0, y: 50, w: 100, h: 50 });
    expect(r.annotations[0]!.score).toBeUndefined();
  });

  it('reads a sixth value as the confidence of a prediction', () => {
    const r = parse('1 0.5 0.5 0.1 0.1 0.875\n', 'detect');
    expect(r.annotations[0]!.score).toBe(0.875);
    expect(r.annotations[0]!.label).toBe('weed');
  });

  it('clamps values slightly outside [0, 1] and counts each one', () => {
    const r = parse('0 1.02 0.5 0.1 -0.01\n0 0.5 0.5 0.1 0.1', 'detect');
    // A negative height is refused before anything is clamped: a refused line counts nothing.
    expect(r.clamped).toBe(0);
    expect(r.annotations).toHaveLength(1);
    expect(r.problems).toHaveLength(1);
    expect(r.problems[0]!.where).toBe('line 1');
    const r2 = parse('0 1.02 -0.001 0.1 0.2', 'detect');
    expect(r2.clamped).toBe(2);
    expect(r2.annotations[0]!.geometry).toEqual({ kind: 'box', x: 190, y: -10, w: 20, h: 20 });
  });

  it('refuses bad lines with a line number and keeps the good ones', () => {
    const text = [
      '0 0.5 0.5 0.1 0.1', // 1 ok
      '7 0.5 0.5 0.1 0.1', // 2 unknown class
      '0 NaN 0.5 0.1 0.1', // 3 NaN
      '0 0.5 0.5 0.1', // 4 too few values
      '0 350 200 40 40', // 5 pixels, far outside
      '-1 0.5 0.5 0.1 0.1', // 6 negative class
      'x 0.5 0.5 0.1 0.1', // 7 not a class
      '0 0.5 0.5 0 0.1', // 8 zero width
      '0 0.5 0.5 0.1 0.1 1.5', // 9 confidence out of range
      '0 0.5 0.5abc 0.1 0.1', // 10 trailing garbage
      '1 0.2 0.2 0.1 0.1', // 11 ok
    ].join('\n');
    const r = parse(text, 'detect');
    expect(r.annotations.map((a) => a.label)).toEqual(['crop', 'weed']);
    expect(r.problems.map((p) => p.where)).toEqual(['line 2', 'line 3', 'line 4', 'line 5', 'line 6', 'line 7', 'line 8', 'line 9', 'line 10']);
    expect(r.problems.every((p) => p.severity === 'error')).toBe(true);
    expect(r.problems[0]!.message).toMatch(/unknown class index 7/);
    expect(r.problems[2]!.message).toMatch(/5 values/);
    expect(r.problems[3]!.message).toMatch(/far outside/);
  });
});

describe('parseYoloLabels: segment', () => {
  it('reads a polygon line and an even count as a polygon with a trailing confidence', () => {
    const r = parse('2 0.1 0.1 0.4 0.1 0.4 0.5\n0 0 0 1 0 1 1 0 1 0.5', 'segment');
    expect(r.problems).toEqual([]);
    expect(r.annotations[0]!.geometry).toEqual({ kind: 'polygon', parts: [[20, 10, 80, 10, 80, 50]] });
    expect(r.annotations[1]!.geometry).toEqual({ kind: 'polygon', parts: [[0, 0, 200, 0, 200, 100, 0, 100]] });
    expect(r.annotations[1]!.score).toBe(0.5);
  });

  it('refuses lines with fewer than three points and zero-area polygons', () => {
    const r = parse('0 0.1 0.1 0.2 0.2\n0 0.1 0.1 0.2 0.2 0.3 0.3', 'segment');
    expect(r.annotations).toEqual([]);
    expect(r.problems.map((p) => p.where)).toEqual(['line 1', 'line 2']);
  });
});

describe('obbFromCorners', () => {
  const cases: { name: string; g: Extract<Geometry, { kind: 'obb' }> }[] = [
    { name: 'axis aligned', g: { kind: 'obb', cx: 50, cy: 40, w: 30, h: 10, angle: 0 } },
    { name: '30 degrees', g: { kind: 'obb', cx: 7.5, cy: 4, w: 3, h: 5, angle: Math.PI / 6 } },
    { name: 'negative angle', g: { kind: 'obb', cx: 100, cy: 200, w: 12.25, h: 80, angle: -1.2 } },
    { name: 'upside down', g: { kind: 'obb', cx: 0.5, cy: 0.25, w: 0.1, h: 0.3, angle: 3 } },
  ];
  for (const { name, g } of cases) {
    it(`reproduces clockwise corners in order (${name})`, () => {
      const corners = obbCorners(g);
      // Every starting corner: obbCorners of the result starts where the file starts.
      for (let s = 0; s < 4; s++) {
        const rotated = [...corners.slice(2 * s), ...corners.slice(0, 2 * s)];
        const { geometry, fitted } = obbFromCorners(rotated);
        expect(fitted).toBe(false);
        expect(geometry.w).toBeGreaterThan(0);
        expect(geometry.h).toBeGreaterThan(0);
        expect(sameCorners(obbCorners(geometry), rotated, false)).toBe(true);
      }
    });
    it(`reproduces counter-clockwise corners from the same first corner, walking back (${name})`, () => {
      const c = obbCorners(g);
      const ccw = [c[0]!, c[1]!, c[6]!, c[7]!, c[4]!, c[5]!, c[2]!, c[3]!];
      const { geometry } = obbFromCorners(ccw);
      expect(geometry.w).toBeGreaterThan(0);
      expect(geometry.h).toBeGreaterThan(0);
      expect(sameCorners(obbCorners(geometry), ccw, true)).toBe(true);
    });
  }

  it('fits and flags corners that are not a rectangle', () => {
    const r = obbFromCorners([0, 0, 10, 0, 12, 5, 0, 5]);
    expect(r.fitted).toBe(true);
    expect(r.geometry.cx).toBeCloseTo(5.5, 9);
    expect(r.geometry.cy).toBeCloseTo(2.5, 9);
  });
});

describe('parseYoloLabels: obb', () => {
  it('reads corners into a rotated box, keeps a corner slightly outside the image and counts it', () => {
    // The datumaro fixture's second box on its 15x10 image: one corner at y = -0.009808.
    const r = parse('1 0.557735 0.090192 0.357735 0.609808 0.242265 0.509808 0.442265 -0.009808', 'obb', 15, 10);
    expect(r.problems).toEqual([]);
    expect(r.obbCornersOutside).toBe(1);
    expect(r.clamped).toBe(0);
    const g = r.annotations[0]!.geometry;
    expect(g.kind).toBe('obb');
    if (g.kind !== 'obb') return;
    // Six-decimal corners are a rectangle only up to rounding; the fit stays within 1e-6 relative.
    const file = [0.557735, 0.090192, 0.357735, 0.609808, 0.242265, 0.509808, 0.442265, -0.009808].map((v, i) => v * (i & 1 ? 10 : 15));
    expect(sameCorners(obbCorners(g), file, false)).toBe(true);
    expect(g.w).toBeGreaterThan(0);
    expect(g.h).toBeGreaterThan(0);
  });

  it('warns about a quadrilateral that is not a rectangle and reads a tenth value as confidence', () => {
    const r = parse('0 0.1 0.1 0.5 0.1 0.6 0.5 0.1 0.5 0.9', 'obb');
    expect(r.annotations[0]!.score).toBe(0.9);
    expect(r.problems).toEqual([expect.objectContaining({ severity: 'warning', where: 'line 1', message: expect.stringMatching(/not a rectangle/) })]);
  });

  it('refuses a detection line in an OBB file', () => {
    const r = parse('0 0.5 0.5 0.1 0.1', 'obb');
    expect(r.annotations).toEqual([]);
    expect(r.problems[0]!.message).toMatch(/9 values/);
  });
});

describe('inferYoloTask', () => {
  const rect = '0 0.1 0.1 0.3 0.1 0.3 0.4 0.1 0.4';
  const quad = '0 0.1 0.1 0.3 0.1 0.35 0.4 0.1 0.4';
  it.each([
    ['all five values', ['0 0.5 0.5 0.1 0.1', '1 0.5 0.5 0.1 0.1 0.9'], 'detect'],
    ['all rectangles of nine values', [rect, `${rect}\n${rect}`], 'obb'],
    ['nine values that are not rectangles', [rect, quad], 'segment'],
    ['mixed detect and polygons', ['0 0.5 0.5 0.1 0.1', '0 0.1 0.1 0.2 0.1 0.2 0.2'], 'segment'],
    ['no lines at all', [''], 'detect'],
    ['detection with a few malformed lines', ['0 0.5 0.5 0.1 0.1\n0 0.5 0.5 0.1\n1 0.2 0.2 0.1 0.1', '0 0.1 0.1 0.2 0.1 0.2 0.2'], 'detect'],
    ['rectangles with one stray detection line', [rect, rect, '0 0.5 0.5 0.1 0.1'], 'obb'],
  ] as const)('%s → %s', (_name, texts, want) => {
    expect(inferYoloTask(texts.map((text) => ({ text, width: 64, height: 48 })))).toBe(want);
  });
});

describe('formatYoloNumber', () => {
  it.each([
    [0, '0'],
    [-0, '0'],
    [1, '1'],
    [0.5, '0.5'],
    [1 / 3, '0.3333333333'],
    [0.1 + 0.2, '0.3'],
    [1e-9, '0.000000001'],
    [-0.009808, '-0.009808'],
  ])('%s → %s', (v, s) => {
    expect(formatYoloNumber(v)).toBe(s);
  });
});

describe('serialiseYoloLabels', () => {
  it('writes boxes that read back to the same pixels within 1e-6 relative', () => {
    const boxes: Geometry[] = [
      { kind: 'box', x: 10.123456789, y: 3.3333333, w: 100.5, h: 0.25 },
      { kind: 'box', x: 0, y: 0, w: 640, h: 480 },
      { kind: 'box', x: 333.3, y: 1.7e-3, w: 1e-3, h: 77.77 },
    ];
    const s = serialiseYoloLabels(boxes.map((geometry, i) => ({ classIndex: i % 3, geometry })), 'detect', 640, 480);
    expect(s.lines).toBe(3);
    expect(s.text.endsWith('\n')).toBe(true);
    const back = parseYoloLabels(s.text, { width: 640, height: 480, classes: CLASSES, task: 'detect' });
    expect(back.problems).toEqual([]);
    back.annotations.forEach((a, i) => {
      const want = boxes[i] as Extract<Geometry, { kind: 'box' }>;
      const got = a.geometry as Extract<Geometry, { kind: 'box' }>;
      for (const k of ['x', 'y', 'w', 'h'] as const) expect(closeTo(got[k], want[k]), `${k}: ${got[k]} vs ${want[k]}`).toBe(true);
    });
  });

  it('writes rotated boxes as their corners, in obbCorners order, and reads them back', () => {
    const g: Geometry = { kind: 'obb', cx: 300.25, cy: 120.5, w: 80.125, h: 33.3, angle: 0.7 };
    const s = serialiseYoloLabels([{ classIndex: 1, geometry: g }], 'obb', 640, 480);
    expect(s.text.trim().split(' ')).toHaveLength(9);
    const back = parseYoloLabels(s.text, { width: 640, height: 480, classes: CLASSES, task: 'obb' }).annotations[0]!.geometry;
    if (back.kind !== 'obb') throw new Error(back.kind);
    for (const k of ['cx', 'cy', 'w', 'h', 'angle'] as const) expect(closeTo(back[k], g[k])).toBe(true);
  });

  it('joins a multi-part polygon into one line enclosing the same area', () => {
    const parts = [
      [10, 10, 50, 10, 50, 50, 10, 50],
      [100, 100, 140, 100, 120, 130],
    ];
    const joined = joinPolygonParts(parts);
    expect(ringSignedArea(joined)).toBeCloseTo(ringSignedArea(parts[0]!) + ringSignedArea(parts[1]!), 9);
    const s = serialiseYoloLabels([{ classIndex: 0, geometry: { kind: 'polygon', parts } }], 'segment', 200, 200);
    expect(s.lines).toBe(1);
    expect(s.notes.joinedParts).toBe(1);
  });

  it('clamps boxes and polygons into the image and counts it, skips kinds the task cannot hold', () => {
    const s = serialiseYoloLabels(
      [
        { classIndex: 0, geometry: { kind: 'polygon', parts: [[-5, 0, 100, 0, 100, 120]] } },
        { classIndex: 0, geometry: { kind: 'box', x: 1, y: 1, w: 2, h: 2 } },
      ],
      'segment',
      100,
      100,
    );
    expect(s.notes).toEqual({ wrongKind: { box: 1 }, clamped: 2, joinedParts: 0 });
    expect(s.text).toBe('0 0 0 1 0 1 1\n');
  });

  it('writes nothing at all for no annotations', () => {
    expect(serialiseYoloLabels([], 'detect', 10, 10)).toEqual({ text: '', lines: 0, notes: { wrongKind: {}, clamped: 0, joinedParts: 0 } });
  });
});

describe('parseYoloLabels on mutated lines', () => {
  it('never throws, keeps only storable geometry and gives every problem its line', () => {
    // Seeded so a failure can be replayed.
    const rnd = mulberry32(12345);
    const tokens = ['0', '1', '2', '3', '-1', 'NaN', 'Infinity', '1e400', '', '0.5', '1.2', '-0.3', '2', '0x10', '1e-3', '.5', '5.', 'abc', '0.999999'];
    const base = ['0 0.5 0.5 0.2 0.2', '1 0.1 0.1 0.4 0.1 0.4 0.5', '2 0.1 0.1 0.3 0.1 0.3 0.4 0.1 0.4'];
    for (let i = 0; i < 1500; i++) {
      const fields = base[i % 3]!.split(' ');
      const edits = 1 + Math.floor(rnd() * 3);
      for (let e = 0; e < edits; e++) {
        const at = Math.floor(rnd() * (fields.length + 1));
        const op = rnd();
        if (op < 0.5) fields[Math.min(at, fields.length - 1)] = tokens[Math.floor(rnd() * tokens.length)]!;
        else if (op < 0.75) fields.splice(at, 1);
        else fields.splice(at, 0, String(rnd() * 2 - 0.5));
      }
      const text = fields.join(rnd() < 0.5 ? ' ' : '\t');
      for (const task of ['detect', 'segment', 'obb'] as const) {
        const r = parseYoloLabels(text, { width: 64, height: 32, classes: CLASSES, task });
        expect(r.annotations.length + r.problems.filter((p) => p.severity === 'error').length, text).toBeLessThanOrEqual(1);
        for (const a of r.annotations) expect(validateGeometry(a.geometry, { width: 64, height: 32 }), text).toBeNull();
        for (const p of r.problems) expect(p.where).toBe('line 1');
      }
    }
  });
});
