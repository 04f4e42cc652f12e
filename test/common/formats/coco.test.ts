import { describe, expect, it } from 'vitest';
import {
  cocoAnnotationEntry,
  cocoAnnotationJson,
  cocoCategories,
  cocoHeader,
  COCO_BETWEEN,
  cocoFooter,
  cocoImageEntry,
  cocoToInterchange,
  ChunkedJsonReader,
  JsonSyntaxError,
  jsonSyntaxErrorOffset,
  lineColumn,
} from '../../../src-main/common/formats/coco';
import type { ExportImage } from '../../../src-main/common/formats/types';
import fs from 'node:fs';
import { safeRelativeKey } from '../../../src-main/common/formats/paths';
import { encodeMask, polygonToRle, rleArea, rleBBox, rleFromString, rleToString, validateGeometry } from '../../../src-main/common/geometry';
import { sharedPath } from '../../helpers/shared';

const FILE = 'annotations/instances_train.json';

/** A small valid document; tests mutate copies of it. */
function doc(): Record<string, unknown> {
  return {
    images: [
      { id: 1, file_name: 'a.jpg', width: 10, height: 8 },
      { id: 2, file_name: 'sub/b.jpg', width: 10, height: 8 },
      { id: 3, file_name: 'empty.jpg', width: 4, height: 4 },
    ],
    categories: [
      { id: 7, name: 'weed' },
      { id: 2, name: 'crop' },
      { id: 4, name: 'stone' },
    ],
    annotations: [
      { id: 10, image_id: 1, category_id: 2, bbox: [1.5, 2.25, 3, 4], area: 12, iscrowd: 0 },
      { id: 11, image_id: 1, category_id: 7, segmentation: [[1, 1, 5, 1, 5, 5], [6, 6, 9, 6, 9, 7.5, 6, 7.5]], bbox: [1, 1, 8, 6.5], iscrowd: 0 },
      { id: 12, image_id: 2, category_id: 4, segmentation: { size: [8, 10], counts: [10, 5, 65] }, iscrowd: 1 },
    ],
  };
}

function read(d: unknown, opts: Partial<Parameters<typeof cocoToInterchange>[1]> = {}) {
  return cocoToInterchange(d, { file: FILE, ...opts });
}

function errorsAt(ds: ReturnType<typeof read>) {
  return ds.problems.filter((p) => p.severity === 'error').map((p) => p.where);
}

describe('cocoToInterchange', () => {
  it('reads boxes, multi-part polygons and crowd RLE, classes in category-id order, images without annotations', () => {
    const ds = read(doc(), { split: 'train', keyPrefix: 'images/train' });
    expect(ds.problems).toEqual([]);
    expect(ds.classes).toEqual(['crop', 'stone', 'weed']);
    expect(ds.images.map((i) => i.file)).toEqual(['images/train/a.jpg', 'images/train/sub/b.jpg', 'images/train/empty.jpg']);
    expect(ds.images.every((i) => i.split === 'train')).toBe(true);
    const [a, b, empty] = ds.images;
    expect(empty!.annotations).toEqual([]);
    expect(a!.annotations.map((x) => [x.label, x.geometry.kind])).toEqual([
      ['crop', 'box'],
      ['weed', 'polygon'],
    ]);
    expect(a!.annotations[0]!.geometry).toEqual({ kind: 'box', x: 1.5, y: 2.25, w: 3, h: 4 });
    // Segmentation wins over bbox, and several parts stay one annotation.
    expect(a!.annotations[1]!.geometry).toEqual({ kind: 'polygon', parts: [[1, 1, 5, 1, 5, 5], [6, 6, 9, 6, 9, 7.5, 6, 7.5]] });
    expect(b!.annotations[0]).toMatchObject({ label: 'stone', crowd: true, geometry: { kind: 'mask', rle: { size: [8, 10], counts: [10, 5, 65] } } });
    expect(a!.annotations[0]!.crowd).toBe(false);
  });

  it('decodes compressed RLE strings to the same runs', () => {
    const mask = new Uint8Array(80);
    for (const i of [3, 4, 13, 14, 15, 40, 41, 79]) mask[i] = 1;
    const rle = encodeMask(mask, 10, 8);
    const d = doc();
    (d['annotations'] as Record<string, unknown>[])[2]!['segmentation'] = { size: [8, 10], counts: rleToString(rle) };
    (d['annotations'] as Record<string, unknown>[])[2]!['iscrowd'] = 0;
    const ds = read(d);
    expect(ds.problems).toEqual([]);
    expect(ds.images[1]!.annotations[0]!.geometry).toEqual({ kind: 'mask', rle });
    expect(ds.images[1]!.annotations[0]!.crowd).toBe(false);
  });

  it('keeps extra keys and score as attributes, stringifying structures and merging an attributes object', () => {
    const d = doc();
    Object.assign((d['annotations'] as Record<string, unknown>[])[0]!, {
      score: 0.875,
      occluded: true,
      note: 'left edge',
      level: 3,
      missing: null,
      meta: { a: [1, 2] },
      attributes: { x: 1, y: 'hello', occluded: false },
    });
    const ann = read(d).images[0]!.annotations[0]!;
    expect(ann.score).toBe(0.875);
    expect(ann.attributes).toEqual({ occluded: false, note: 'left edge', level: 3, missing: null, meta: '{"a":[1,2]}', x: 1, y: 'hello' });
    expect(read(doc()).images[0]!.annotations[0]!.attributes).toEqual({});
  });

  it('keeps an attribute named __proto__ as data, not as the prototype', () => {
    const d = JSON.parse('{"images":[{"id":1,"file_name":"a.jpg","width":4,"height":4}],"categories":[{"id":1,"name":"x"}],"annotations":[{"id":1,"image_id":1,"category_id":1,"bbox":[0,0,1,1],"__proto__":{"polluted":true}}]}');
    const attrs = read(d).images[0]!.annotations[0]!.attributes;
    expect(Object.getPrototypeOf(attrs)).toBe(Object.prototype);
    expect(Object.keys(attrs)).toEqual(['__proto__']);
    expect(JSON.stringify(attrs)).toBe('{"__proto__":"{\\"polluted\\":true}"}');
  });

  it('accepts string ids and sorts them after numeric ones', () => {
    const d = doc();
    (d['categories'] as unknown[]).push({ id: 'z', name: 'zeta' }, { id: 'b', name: 'beta' });
    expect(read(d).classes).toEqual(['crop', 'stone', 'weed', 'beta', 'zeta']);
  });

  it('refuses a results list and non-objects with one error', () => {
    for (const bad of [[{ image_id: 1, category_id: 1, bbox: [0, 0, 1, 1], score: 0.5 }], 'x', null, 3]) {
      const ds = read(bad);
      expect(ds.images).toEqual([]);
      expect(ds.problems).toHaveLength(1);
      expect(ds.problems[0]).toMatchObject({ file: FILE, where: '$', severity: 'error' });
    }
  });

  it('reads COCO results lists as scored annotations of the ground truth, with their own problems', () => {
    const small = rleToString({ size: [4, 4], counts: [5, 2, 9] });
    const results = [
      { image_id: 2, category_id: 7, bbox: [1, 1, 2, 2], score: 0.9 },
      { image_id: 3, category_id: 2, segmentation: { size: [4, 4], counts: small }, bbox: [1, 1, 1, 1], score: 0.4, id: 10 },
      { image_id: 2, category_id: 7, bbox: [1, 1, 2, 2] },
      { image_id: 99, category_id: 7, bbox: [1, 1, 2, 2], score: 0.1 },
    ];
    const ds = read(doc(), { results: [{ doc: results, file: 'det.json' }, { doc: { not: 'a list' }, file: 'other.json' }] });
    expect(ds.problems.map((p) => [p.file, p.where])).toEqual([
      ['det.json', '[2].score'],
      ['det.json', '[3].image_id'],
      ['other.json', '$'],
    ]);
    expect(ds.problems[1]!.message).toContain(`ground truth ${FILE}`);
    expect(ds.images[1]!.annotations.map((a) => [a.label, a.geometry.kind, a.score])).toEqual([
      ['stone', 'mask', undefined],
      ['weed', 'box', 0.9],
    ]);
    // A result's id is its own (here equal to a ground-truth id), not a duplicate.
    expect(ds.images[2]!.annotations).toEqual([{ label: 'crop', geometry: { kind: 'mask', rle: { size: [4, 4], counts: [5, 2, 9] } }, attributes: {}, crowd: false, score: 0.4 }]);
  });

  type Mutate = (d: Record<string, unknown>) => void;
  const ann = (d: Record<string, unknown>, i: number) => (d['annotations'] as Record<string, unknown>[])[i]!;
  const img = (d: Record<string, unknown>, i: number) => (d['images'] as Record<string, unknown>[])[i]!;
  // [name, mutation, JSON path of the error, images kept, annotations kept]
  const cases: [string, Mutate, string, number, number][] = [
    ['missing images', (d) => delete d['images'], 'images', 0, 0],
    ['annotations not a list', (d) => (d['annotations'] = { a: 1 }), 'annotations', 3, 0],
    ['categories missing', (d) => delete d['categories'], 'annotations[0].category_id', 3, 0],
    ['image without id', (d) => delete img(d, 2)['id'], 'images[2].id', 2, 3],
    ['duplicate image id', (d) => (img(d, 2)['id'] = 1), 'images[2].id', 2, 3],
    ['file_name climbing out', (d) => (img(d, 0)['file_name'] = '../../etc/passwd'), 'images[0].file_name', 2, 1],
    ['absolute file_name', (d) => (img(d, 0)['file_name'] = '/etc/passwd'), 'images[0].file_name', 2, 1],
    ['windows drive file_name', (d) => (img(d, 0)['file_name'] = 'C:\\x\\a.jpg'), 'images[0].file_name', 2, 1],
    ['file_name not a string', (d) => (img(d, 1)['file_name'] = 5), 'images[1].file_name', 2, 2],
    ['same file twice', (d) => (img(d, 1)['file_name'] = './a.jpg'), 'images[1].file_name', 2, 2],
    ['negative width', (d) => (img(d, 0)['width'] = -10), 'images[0].width', 2, 1],
    ['NaN height', (d) => (img(d, 0)['height'] = NaN), 'images[0].height', 2, 1],
    ['fractional width', (d) => (img(d, 1)['width'] = 9.5), 'images[1].width', 2, 2],
    ['duplicate category id', (d) => (d['categories'] as unknown[]).push({ id: 2, name: 'again' }), 'categories[3].id', 3, 3],
    ['category without name', (d) => (d['categories'] as unknown[]).push({ id: 9 }), 'categories[3].name', 3, 3],
    ['unknown category id', (d) => (ann(d, 0)['category_id'] = 3), 'annotations[0].category_id', 3, 2],
    ['unknown image id', (d) => (ann(d, 1)['image_id'] = 99), 'annotations[1].image_id', 3, 2],
    ['string image id of a numeric image', (d) => (ann(d, 1)['image_id'] = '1'), 'annotations[1].image_id', 3, 2],
    ['duplicate annotation id', (d) => (ann(d, 2)['id'] = 10), 'annotations[2].id', 3, 2],
    ['float annotation id', (d) => (ann(d, 2)['id'] = 1.5), 'annotations[2].id', 3, 2],
    ['annotation not an object', (d) => (d['annotations'] as unknown[]).push(7), 'annotations[3]', 3, 3],
    ['bbox with NaN', (d) => (ann(d, 0)['bbox'] = [0, NaN, 1, 1]), 'annotations[0].bbox', 3, 2],
    ['bbox of three numbers', (d) => (ann(d, 0)['bbox'] = [0, 1, 1]), 'annotations[0].bbox', 3, 2],
    ['bbox with a string', (d) => (ann(d, 0)['bbox'] = [0, '1', 1, 1]), 'annotations[0].bbox', 3, 2],
    ['negative bbox size', (d) => (ann(d, 0)['bbox'] = [0, 0, -3, 4]), 'annotations[0].bbox', 3, 2],
    ['zero-area bbox', (d) => (ann(d, 0)['bbox'] = [0, 0, 0, 4]), 'annotations[0].bbox', 3, 2],
    ['no geometry', (d) => delete ann(d, 0)['bbox'], 'annotations[0]', 3, 2],
    ['segmentation a number', (d) => (ann(d, 1)['segmentation'] = 4), 'annotations[1].segmentation', 3, 2],
    ['odd polygon', (d) => (ann(d, 1)['segmentation'] = [[1, 1, 5, 1, 5]]), 'annotations[1].segmentation[0]', 3, 2],
    ['polygon of two points', (d) => (ann(d, 1)['segmentation'] = [[1, 1, 5, 1]]), 'annotations[1].segmentation[0]', 3, 2],
    ['polygon with null', (d) => (ann(d, 1)['segmentation'] = [[1, 1, 5, null, 5, 5]]), 'annotations[1].segmentation[0]', 3, 2],
    ['collinear polygon', (d) => (ann(d, 1)['segmentation'] = [[0, 0, 1, 1, 2, 2]]), 'annotations[1].segmentation', 3, 2],
    ['RLE counts not covering the image', (d) => (ann(d, 2)['segmentation'] = { size: [8, 10], counts: [10, 5, 60] }), 'annotations[2].segmentation', 3, 2],
    ['RLE with negative run', (d) => (ann(d, 2)['segmentation'] = { size: [8, 10], counts: [10, -5, 75] }), 'annotations[2].segmentation', 3, 2],
    ['RLE without size', (d) => (ann(d, 2)['segmentation'] = { counts: [80] }), 'annotations[2].segmentation', 3, 2],
    ['RLE string with bad character', (d) => (ann(d, 2)['segmentation'] = { size: [8, 10], counts: 'ab~~' }), 'annotations[2].segmentation', 3, 2],
    ['RLE string ending inside a count', (d) => (ann(d, 2)['segmentation'] = { size: [8, 10], counts: 'a' }), 'annotations[2].segmentation', 3, 2],
    ['RLE of another size than its image', (d) => (ann(d, 2)['segmentation'] = { size: [10, 8], counts: [10, 5, 65] }), 'annotations[2].segmentation', 3, 2],
    ['empty mask', (d) => (ann(d, 2)['segmentation'] = { size: [8, 10], counts: [80] }), 'annotations[2].segmentation', 3, 2],
    ['iscrowd a string', (d) => (ann(d, 0)['iscrowd'] = 'yes'), 'annotations[0].iscrowd', 3, 2],
    ['score a string', (d) => (ann(d, 0)['score'] = 'high'), 'annotations[0].score', 3, 2],
  ];

  it.each(cases)('%s: an error at its JSON path, the item skipped, the rest kept', (_name, mutate, where, images, annotations) => {
    const d = doc();
    mutate(d);
    const ds = read(d);
    const errors = ds.problems.filter((p) => p.severity === 'error');
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.every((p) => p.file === FILE && p.message.length > 0)).toBe(true);
    expect(errorsAt(ds)).toContain(where);
    expect(ds.images).toHaveLength(images);
    expect(ds.images.reduce((n, i) => n + i.annotations.length, 0)).toBe(annotations);
  });

  it('skips only the bad part of a multi-part polygon', () => {
    const d = doc();
    ann(d, 1)['segmentation'] = [[1, 1, 5, 1, 5, 5], [6, 6, 9]];
    const ds = read(d);
    expect(errorsAt(ds)).toEqual(['annotations[1].segmentation[1]']);
    expect(ds.images[0]!.annotations[1]!.geometry).toEqual({ kind: 'polygon', parts: [[1, 1, 5, 1, 5, 5]] });
  });

  it('skips the annotations of a refused image silently but counts them', () => {
    const d = doc();
    img(d, 0)['file_name'] = '../../etc/passwd';
    const ds = read(d);
    expect(ds.problems).toHaveLength(1);
    expect(ds.problems[0]!.message).toContain('../../etc/passwd');
    expect(ds.counters['annotationsOfSkippedImages']).toBe(2);
  });

  it('warns about a bad bbox or area it does not use, and about images without size', () => {
    const d = doc();
    ann(d, 1)['bbox'] = 'nope';
    ann(d, 1)['area'] = -1;
    delete img(d, 2)['width'];
    delete img(d, 2)['height'];
    const ds = read(d);
    expect(ds.problems.every((p) => p.severity === 'warning')).toBe(true);
    expect(ds.problems.map((p) => p.where)).toEqual(['images[2]', 'annotations[1].area', 'annotations[1].bbox']);
    expect(ds.images[2]!.width).toBeUndefined();
    expect(ds.images[0]!.annotations).toHaveLength(2);
  });
});

describe('mutated COCO documents', () => {
  const file = sharedPath('datasets/coco_tinycoco/annotations/instances_train2017.json');

  /** Every container path of a value, so a mutation can land anywhere in the document. */
  function paths(v: unknown, at: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
    if (typeof v === 'object' && v !== null) {
      out.push(at);
      for (const [k, x] of Object.entries(v)) paths(x, [...at, Array.isArray(v) ? Number(k) : k], out);
    } else out.push(at);
    return out;
  }

  it.skipIf(!file)('1,000 mutations of tinycoco: no throw, every problem names the file, everything kept is valid and inside the root', () => {
    const full = JSON.parse(fs.readFileSync(file!, 'utf8'));
    // Three images with their annotations keep each case fast; every shape kind is among them.
    const ids = new Set([full.images[0].id, full.images[1].id, 296649]);
    const small = {
      images: full.images.filter((i: { id: number }) => ids.has(i.id)),
      annotations: full.annotations
        .filter((a: { image_id: number }) => ids.has(a.image_id))
        .sort((a: { iscrowd: number }, b: { iscrowd: number }) => b.iscrowd - a.iscrowd)
        .slice(0, 40),
      categories: full.categories,
    };
    expect(small.annotations.filter((a: { iscrowd: number }) => a.iscrowd)).toHaveLength(1);
    expect(small.annotations.filter((a: { segmentation: unknown[] }) => a.segmentation.length > 1).length).toBeGreaterThan(0);
    const text = JSON.stringify(small);
    const targets = paths(small);
    const values: unknown[] = [undefined, null, NaN, -1, 0, 1.5, 1e308, -1e308, 2 ** 53, '', 'x', '../../etc/passwd', '/etc/passwd', 'C:\\x.jpg', [], [1], [1, 2, 3], {}, { counts: 'zz', size: [1, 1] }, true];
    let seed = 7;
    const rand = (n: number) => {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      return seed % n;
    };
    let problems = 0;
    let kept = 0;
    for (let k = 0; k < 1000; k++) {
      const d = JSON.parse(text);
      for (let m = 0; m <= rand(3); m++) {
        const p = targets[rand(targets.length)]!;
        if (p.length === 0) continue;
        let parent = d;
        for (const key of p.slice(0, -1)) parent = parent?.[key];
        if (typeof parent !== 'object' || parent === null) continue;
        const v = values[rand(values.length)];
        if (v === undefined) delete parent[p[p.length - 1]!];
        else parent[p[p.length - 1]!] = v;
      }
      const ds = cocoToInterchange(d, { file: FILE, keyPrefix: 'images' });
      problems += ds.problems.length;
      for (const pr of ds.problems) {
        expect(pr.file).toBe(FILE);
        expect(typeof pr.where).toBe('string');
      }
      for (const im of ds.images) {
        if (safeRelativeKey(im.file) !== im.file || !im.file.startsWith('images/')) throw new Error(`case ${k}: key ${im.file}`);
        for (const a of im.annotations) {
          kept++;
          if (!ds.classes.includes(a.label)) throw new Error(`case ${k}: label ${a.label} is not a class`);
          const size = im.width !== undefined && im.height !== undefined ? { width: im.width, height: im.height } : a.geometry.kind === 'mask' ? { width: a.geometry.rle.size[1], height: a.geometry.rle.size[0] } : { width: 1, height: 1 };
          const invalid = validateGeometry(a.geometry, size);
          if (invalid) throw new Error(`case ${k}: kept an invalid ${a.geometry.kind}: ${invalid}`);
        }
      }
    }
    expect(problems).toBeGreaterThan(500);
    expect(kept).toBeGreaterThan(10_000);
  });
});

/** The chunked reader's result for `text` fed `size` bytes at a time, or the error it threw. */
function chunked(text: string, size: number): unknown {
  const bytes = new TextEncoder().encode(text);
  const reader = new ChunkedJsonReader();
  try {
    for (let i = 0; i < bytes.length; i += size) reader.push(bytes.subarray(i, i + size));
    return reader.end();
  } catch (e) {
    if (e instanceof JsonSyntaxError) return e;
    throw e;
  }
}

describe('JSON syntax errors', () => {
  it('locates the first error', () => {
    const cases: [string, number][] = [
      ['{"a":1}', -1],
      [' [1, 2.5e3, -0, "x\\u00e9", true, null, {}] ', -1],
      ['{"a":}', 5],
      ['{"a":1', 6],
      ['[1,2,,]', 5],
      ['{"a" 1}', 5],
      ['{"a":1}}', 7],
      ['[01]', 2],
      ['"tab\there"', 4],
      ['', 0],
      ['{"a":[1,2]\n,"b":tru}', 16],
    ];
    for (const [text, at] of cases) expect([text, jsonSyntaxErrorOffset(text)]).toEqual([text, at]);
    expect(lineColumn('{"a":[1,2]\n,"b":tru}', 16)).toEqual({ line: 2, column: 6 });
    expect(chunked('{"a":[1,2]\n,"b":tru}', 5)).toMatchObject({ offset: 16, line: 2, column: 6, found: 'tru' });
    expect(chunked('{"images":[{"id":1},\n {"id":2,,}]}', 3)).toMatchObject({ offset: 30, line: 2, column: 10, found: ',}' });
    expect(chunked('{"a":1', 2)).toMatchObject({ offset: 6, found: null });
    expect((chunked('{"a":1', 2) as JsonSyntaxError).message).toBe('is not valid JSON: unexpected end of file at line 1, column 7 (offset 6)');
  });

  it('reads documents in chunks of any size exactly as JSON.parse does', () => {
    const texts = [
      JSON.stringify(doc(), null, 2),
      '\uFEFF{"a": [1, "x\\"]}", {"b": [true, null]}], "b": -1.5e-3, "c": "é\\u00e9", "__proto__": [1], "d": []}',
      '[]',
      ' [ {"a": 1} , 2 , "s" ] ',
      '"just a string"',
      '12.5 ',
      'null',
      '{}',
    ];
    const file = sharedPath('datasets/coco_tinycoco/annotations/instances_train2017.json');
    if (file) texts.push(fs.readFileSync(file, 'utf8'));
    for (const text of texts) {
      const want = JSON.parse(text.replace(/^\uFEFF/, ''));
      for (const size of [1, 2, 7, 4096, 1 << 20]) expect(chunked(text, size)).toEqual(want);
    }
    const proto = chunked('{"__proto__": {"x": 1}}', 4) as Record<string, unknown>;
    expect(Object.getPrototypeOf(proto)).toBe(Object.prototype);
    expect(Object.keys(proto)).toEqual(['__proto__']);
  });

  it('agrees with JSON.parse on 500 mutated documents', () => {
    const base = JSON.stringify(doc());
    let seed = 12345;
    const rand = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % n;
    };
    const alphabet = '{}[]":,. -+eE0123456789tfnul\\ax';
    let invalid = 0;
    for (let k = 0; k < 500; k++) {
      let s = base;
      for (let m = 0; m <= rand(3); m++) {
        const p = rand(s.length + 1);
        const op = rand(3);
        if (op === 0) s = s.slice(0, p) + s.slice(p + 1);
        else if (op === 1) s = s.slice(0, p) + alphabet[rand(alphabet.length)] + s.slice(p);
        else s = s.slice(0, p);
      }
      let valid = true;
      try {
        JSON.parse(s);
      } catch {
        valid = false;
        invalid++;
      }
      const at = jsonSyntaxErrorOffset(s);
      expect([s, at === -1]).toEqual([s, valid]);
      // The chunked reader agrees on validity, on the value and on where the error is.
      const r = chunked(s, 1 + rand(64));
      if (valid) expect(r).toEqual(JSON.parse(s));
      else {
        expect(at).toBeLessThanOrEqual(s.length);
        expect(r).toBeInstanceOf(JsonSyntaxError);
        expect([s, (r as JsonSyntaxError).offset]).toEqual([s, at]);
      }
    }
    expect(invalid).toBeGreaterThan(200);
  });
});

describe('COCO entries written', () => {
  const image: ExportImage = { id: 42, file: 'images/train/a.jpg', source: '/x/a.jpg', width: 10, height: 8, split: 'train', tags: [], annotations: [] };
  const base = { label: 'c', attributes: {}, id: 7, classIndex: 2 };

  it('numbers categories from 1 in class order', () => {
    expect(cocoCategories([{ index: 1, name: 'b', color: '#000' }, { index: 0, name: 'a', color: '#fff' }])).toEqual([
      { id: 1, name: 'a', supercategory: '' },
      { id: 2, name: 'b', supercategory: '' },
    ]);
  });

  it('pieces concatenate to a valid document with images first and categories last', () => {
    const text = cocoHeader() + JSON.stringify(cocoImageEntry({ ...image, tags: ['dry'] }, 'a.jpg')) + COCO_BETWEEN + cocoFooter([{ index: 0, name: 'a', color: '#fff' }]);
    const parsed = JSON.parse(text);
    expect(Object.keys(parsed)).toEqual(['info', 'licenses', 'images', 'annotations', 'categories']);
    expect(parsed.categories).toEqual([{ id: 1, name: 'a', supercategory: '' }]);
    expect(parsed.images).toEqual([{ id: 42, file_name: 'a.jpg', width: 10, height: 8, tags: ['dry'] }]);
  });

  it('writes as JSON text exactly what JSON.stringify writes for the entry, or skips the same', () => {
    const rle = { size: [8, 10] as [number, number], counts: [10, 5, 65] };
    const anns: ExportImage['annotations'] = [
      { ...base, geometry: { kind: 'box', x: 1.25, y: 2, w: 3.5, h: 2 } },
      { ...base, geometry: { kind: 'box', x: -0, y: 2, w: -3.5, h: 1 / 3 }, score: 0.25 },
      { ...base, geometry: { kind: 'box', x: 1, y: 2, w: 0, h: 2 } },
      { ...base, geometry: { kind: 'box', x: Number.NaN, y: 2, w: 1, h: 2 } },
      { ...base, geometry: { kind: 'polygon', parts: [[1.5, 1, 6, 1.2, 5, 5.5], [7, 6, 9, 6, 9, 7.5, 7, 7.5]] }, score: Number.NaN },
      { ...base, geometry: { kind: 'polygon', parts: [[1e-7, 1, 6, 1.2, 5, 1e21]] } },
      { ...base, geometry: { kind: 'polygon', parts: [[1, 1, 2, 2]] } },
      { ...base, geometry: { kind: 'mask', rle }, crowd: true },
      { ...base, geometry: { kind: 'mask', rle } },
      { ...base, geometry: { kind: 'point', x: 1, y: 2 } },
      // Attributes: plain, named like COCO keys, and integer-like (which JSON.stringify puts first).
      { ...base, geometry: { kind: 'box', x: 1, y: 2, w: 3, h: 4 }, attributes: { note: 'a "b"', occluded: true } },
      { ...base, geometry: { kind: 'box', x: 1, y: 2, w: 3, h: 4 }, attributes: { area: 3, bbox: 'x', '7': 'seven' }, score: 0.5 },
    ];
    // Polygons with their stored text, whose coordinates are copied; text that is not plain
    // numbers (here spaced out) is not copied but formatted.
    const parts = [[0.1 + 0.2, 1, 6, 1e-7, 5, 5.5], [7, 6, 9, -0, 9, 7.5, 7, 7.5]];
    anns.push({ ...base, geometry: { kind: 'polygon', parts }, geometryJson: JSON.stringify({ kind: 'polygon', parts }) });
    anns.push({ ...base, geometry: { kind: 'polygon', parts }, geometryJson: JSON.stringify({ kind: 'polygon', parts }, null, 1) });
    for (const mode of ['polygon', 'rle'] as const) {
      for (const ann of anns) {
        const r = cocoAnnotationEntry(ann, image, mode);
        const j = cocoAnnotationJson(ann, image, mode, 11);
        if ('skip' in r) expect(j).toEqual(r);
        else expect(j).toEqual({ json: JSON.stringify({ ...r.entry, category_id: 11 }) });
      }
    }
  });

  it('writes a box as bbox with w*h area', () => {
    const r = cocoAnnotationEntry({ ...base, geometry: { kind: 'box', x: 1.25, y: 2, w: 3.5, h: 2 } }, image, 'polygon');
    expect(r).toEqual({ entry: { id: 7, image_id: 42, category_id: 3, segmentation: [], area: 7, bbox: [1.25, 2, 3.5, 2], iscrowd: 0 } });
  });

  it('writes polygons with the pycocotools area and the vertex extent, or as RLE', () => {
    const parts = [[1.5, 1, 6, 1.2, 5, 5.5], [7, 6, 9, 6, 9, 7.5, 7, 7.5]];
    const rle = polygonToRle(parts, 8, 10);
    const r = cocoAnnotationEntry({ ...base, geometry: { kind: 'polygon', parts } }, image, 'polygon');
    if (!('entry' in r)) throw new Error('skipped');
    expect(r.entry.segmentation).toEqual(parts);
    expect(r.entry.area).toBe(rleArea(rle));
    expect(r.entry.bbox).toEqual([1.5, 1, 7.5, 6.5]);
    const asRle = cocoAnnotationEntry({ ...base, geometry: { kind: 'polygon', parts } }, image, 'rle');
    if (!('entry' in asRle)) throw new Error('skipped');
    const seg = asRle.entry.segmentation as { size: [number, number]; counts: string };
    expect(typeof seg.counts).toBe('string');
    expect(rleFromString(seg.counts, seg.size)).toEqual(rle);
    const b = rleBBox(rle);
    expect(asRle.entry.bbox).toEqual([b.x, b.y, b.w, b.h]);
  });

  it('writes masks compressed, crowd masks as a counts list', () => {
    const rle = { size: [8, 10] as [number, number], counts: [10, 5, 65] };
    const plain = cocoAnnotationEntry({ ...base, geometry: { kind: 'mask', rle } }, image, 'polygon');
    const crowd = cocoAnnotationEntry({ ...base, crowd: true, geometry: { kind: 'mask', rle } }, image, 'polygon');
    if (!('entry' in plain) || !('entry' in crowd)) throw new Error('skipped');
    expect(plain.entry.segmentation).toEqual({ size: [8, 10], counts: rleToString(rle) });
    expect(plain.entry.iscrowd).toBe(0);
    expect(crowd.entry.segmentation).toEqual({ size: [8, 10], counts: [10, 5, 65] });
    expect(crowd.entry.iscrowd).toBe(1);
    expect(crowd.entry.area).toBe(5);
    expect(crowd.entry.bbox).toEqual([1, 2, 1, 5]);
  });

  it('writes attributes as keys, those named like COCO keys in an attributes object, and the score', () => {
    const r = cocoAnnotationEntry({ ...base, score: 0.5, attributes: { occluded: true, area: 'big', note: null }, geometry: { kind: 'box', x: 0, y: 0, w: 1, h: 1 } }, image, 'polygon');
    if (!('entry' in r)) throw new Error('skipped');
    expect(r.entry).toMatchObject({ occluded: true, note: null, area: 1, score: 0.5, attributes: { area: 'big' } });
  });

  it('skips what COCO cannot hold, saying why', () => {
    expect(cocoAnnotationEntry({ ...base, geometry: { kind: 'point', x: 1, y: 1 } }, image, 'polygon')).toMatchObject({ skip: { kind: 'unsupported:point' } });
    expect(cocoAnnotationEntry({ ...base, geometry: { kind: 'mask', rle: { size: [4, 4], counts: [3, 13] } } }, image, 'polygon')).toMatchObject({ skip: { kind: 'invalid:mask' } });
    expect(cocoAnnotationEntry({ ...base, geometry: { kind: 'box', x: NaN, y: 0, w: 1, h: 1 } }, image, 'polygon')).toMatchObject({ skip: { kind: 'invalid:box' } });
  });
});
