import { describe, expect, it } from 'vitest';
import { decodeMask, encodeMask, rleArea } from '../../../src-main/common/geometry';
import { cvatMaskToRle, cvatSubsetToSplit, readCvatImage, readCvatMeta, rleToCvatMask, writeCvatImage, writeCvatMeta, type CvatAttributeKinds } from '../../../src-main/common/formats/cvat';

// The mask of CVAT's XML format documentation: a 13x15 disc at left 707, top 888.
const DOC_RLE = '3, 5, 7, 7, 5, 9, 3, 11, 2, 11, 2, 12, 1, 12, 1, 26, 1, 12, 1, 12, 2, 11, 3, 9, 5, 7, 7, 5, 3';

describe('CVAT mask code', () => {
  it('reads row-major runs inside the box, starting with unset pixels', () => {
    const r = cvatMaskToRle(DOC_RLE, 707, 888, 13, 15, 1600, 1200);
    if (typeof r === 'string') throw new Error(r);
    expect(r.clipped).toBe(0);
    const m = decodeMask(r.rle);
    const row = (y: number) => [...m.subarray((888 + y) * 1600 + 707, (888 + y) * 1600 + 720)].join('');
    expect(row(0)).toBe('0001111100000');
    expect(row(1)).toBe('0011111110000');
    expect(row(7)).toBe('1111111111111');
    expect(row(14)).toBe('0000011111000');
    const ones = DOC_RLE.split(',').map(Number).filter((_, i) => i % 2 === 1).reduce((a, b) => a + b, 0);
    expect(rleArea(r.rle)).toBe(ones);
  });

  it('writes back the same code over the tight box and refuses runs that do not fill it', () => {
    const r = cvatMaskToRle(DOC_RLE, 707, 888, 13, 15, 1600, 1200);
    if (typeof r === 'string') throw new Error(r);
    expect(rleToCvatMask(r.rle)).toEqual({ rle: DOC_RLE, left: 707, top: 888, width: 13, height: 15 });
    expect(cvatMaskToRle('1, 2', 0, 0, 2, 2, 4, 4)).toMatch(/cover 3 pixels/);
    expect(cvatMaskToRle('1, x, 2', 0, 0, 2, 2, 4, 4)).toMatch(/not a whole number/);
    const clipped = cvatMaskToRle('0, 4', 3, 3, 2, 2, 4, 4);
    expect(typeof clipped !== 'string' && [clipped.clipped, rleArea(clipped.rle)]).toEqual([3, 1]);
    expect(rleToCvatMask(encodeMask(new Uint8Array(4), 2, 2))).toBeNull();
  });
});

const meta = readCvatMeta({
  meta: {
    task: [
      {
        labels: {
          label: [
            { name: 'car', attributes: { attribute: [{ name: 'parked', input_type: 'checkbox' }, { name: 'speed', input_type: 'number' }, { name: 'code', input_type: 'text' }] } },
            { name: 'person', attributes: '' },
          ],
        },
      },
    ],
  },
});

describe('readCvatImage', () => {
  it('reads the label spec in order', () => {
    expect(meta.labels).toEqual(['car', 'person']);
    expect([...meta.specs.get('car')!]).toEqual([
      ['parked', 'checkbox'],
      ['speed', 'number'],
      ['code', 'text'],
    ]);
  });

  it('reads boxes, rotated boxes, polygons, points, polylines, masks and tags with typed attributes', () => {
    const r = readCvatImage(
      {
        id: '0',
        name: 'a.jpg',
        width: '20',
        height: '10',
        subset: 'Validation',
        box: [
          { label: 'car', xtl: '1.5', ytl: '2', xbr: '4', ybr: '6', occluded: '1', z_order: '2', attribute: [{ name: 'parked', '#text': 'true' }, { name: 'speed', '#text': '2.50' }, { name: 'code', '#text': '0003' }] },
          { label: 'car', xtl: '0', ytl: '0', xbr: '4', ybr: '2', rotation: '90' },
        ],
        polygon: [{ label: 'person', points: '1,2;3,4;6,5', source: 'manual', attribute: [{ name: 'free', '#text': '12' }] }],
        points: [{ label: 'person', points: '1,2;3.5,4' }],
        polyline: [{ label: 'person', points: '1,2;3,4' }, { label: 'person', points: '1,2' }],
        ellipse: [{ label: 'person', cx: '5', cy: '5', rx: '2', ry: '1' }],
        mask: [{ label: 'person', rle: '0, 2, 2', left: '18', top: '8', width: '2', height: '2' }],
        tag: [{ label: 'day' }],
      },
      'annotations.xml',
      meta,
      0,
    );
    expect([r.name, r.width, r.height, r.subset, r.tags]).toEqual(['a.jpg', 20, 10, 'Validation', ['day']]);
    expect(r.annotations.map((a) => [a.label, a.geometry.kind])).toEqual([
      ['car', 'box'],
      ['car', 'obb'],
      ['person', 'polygon'],
      ['person', 'point'],
      ['person', 'point'],
      ['person', 'polyline'],
      ['person', 'mask'],
    ]);
    expect(r.annotations[0]).toEqual({ label: 'car', geometry: { kind: 'box', x: 1.5, y: 2, w: 2.5, h: 4 }, attributes: { occluded: true, z_order: 2, parked: true, speed: 2.5, code: '0003' } });
    expect(r.annotations[1]!.geometry).toEqual({ kind: 'obb', cx: 2, cy: 1, w: 4, h: 2, angle: Math.PI / 2 });
    expect(r.annotations[2]!.attributes).toEqual({ source: 'manual', free: 12 });
    expect(r.annotations[4]!.geometry).toEqual({ kind: 'point', x: 3.5, y: 4 });
    expect(r.annotations[5]!.geometry).toEqual({ kind: 'polyline', points: [1, 2, 3, 4] });
    const m = decodeMask((r.annotations[6]!.geometry as { rle: { size: [number, number]; counts: number[] } }).rle);
    expect([m[8 * 20 + 18], m[8 * 20 + 19], m[9 * 20 + 18], m[9 * 20 + 19]]).toEqual([1, 1, 0, 0]);
    expect(r.problems).toEqual([
      expect.objectContaining({ where: 'image[name=a.jpg]/polyline[2]', severity: 'error', message: expect.stringMatching(/polyline "person" needs at least 2 points/) }),
      expect.objectContaining({ where: 'image[name=a.jpg]', severity: 'warning', message: expect.stringMatching(/1 <ellipse> shape skipped/) }),
    ]);
    expect(r.counters).toEqual({ unsupportedShapes: 1 });
    expect(cvatSubsetToSplit(r.subset)).toBe('val');
  });

  it('joins polygons and masks of one label sharing a group_id', () => {
    const r = readCvatImage(
      {
        name: 'a.jpg',
        width: '10',
        height: '10',
        polygon: [
          { label: 'tree', points: '0,0;2,0;2,2', group_id: '3' },
          { label: 'tree', points: '5,5;7,5;7,7', group_id: '3' },
          { label: 'bush', points: '5,5;7,5;7,7', group_id: '3' },
        ],
      },
      'x.xml',
      meta,
      0,
    );
    expect(r.annotations.map((a) => [a.label, (a.geometry as { parts: number[][] }).parts.length, a.attributes['group_id']])).toEqual([
      ['tree', 2, 3],
      ['bush', 1, 3],
    ]);
  });

  it('reports bad shapes and sizes, naming the image and the element', () => {
    const r = readCvatImage(
      {
        name: 'b.jpg',
        width: 'NaN',
        box: [
          { label: 'car', xtl: 'NaN', ytl: '0', xbr: '1', ybr: '1' },
          { label: 'car', xtl: '3', ytl: '0', xbr: '3', ybr: '1' },
          { label: '', xtl: '0', ytl: '0', xbr: '1', ybr: '1' },
        ],
        polygon: [{ label: 'car', points: '1,2;3' }],
        mask: [{ label: 'car', rle: '1', left: '0', top: '0', width: '1', height: '1' }],
      },
      'annotations.xml',
      meta,
      4,
    );
    expect(r.annotations).toEqual([]);
    expect(r.problems.map((p) => [p.where, p.severity])).toEqual([
      ['image[name=b.jpg]', 'warning'],
      ['image[name=b.jpg]/box[1]', 'error'],
      ['image[name=b.jpg]/box[2]', 'warning'],
      ['image[name=b.jpg]/box[3]', 'error'],
      ['image[name=b.jpg]/polygon[1]', 'error'],
      ['image[name=b.jpg]/mask[1]', 'error'],
    ]);
    expect(r.counters).toEqual({ zeroAreaBoxes: 1 });
    expect(readCvatImage({ width: '1' }, 'f.xml', meta, 2).problems[0]).toMatchObject({ where: 'image[3]', severity: 'error' });
  });
});

describe('writeCvatImage and writeCvatMeta', () => {
  it('writes shapes with CVAT attributes, groups multi-part polygons and declares attribute types', () => {
    const seen: CvatAttributeKinds = new Map();
    const rle = encodeMask(Uint8Array.from([0, 1, 1, 1]), 2, 2);
    const skipped: string[] = [];
    const xml = writeCvatImage(
      { id: 0, name: 'a "b".jpg', width: 2, height: 2, split: 'train', tags: ['day'] },
      [
        { label: 'car', geometry: { kind: 'box', x: 0.1, y: 0, w: 1.2, h: 1 }, attributes: { occluded: true, z_order: 1, parked: false, speed: 1.5, note: 'a<b' } },
        { label: 'car', geometry: { kind: 'polygon', parts: [[0, 0, 1, 0, 1, 1], [0, 1, 1, 1, 1, 2]] }, attributes: { speed: 3 } },
        { label: 'dot', geometry: { kind: 'point', x: 1, y: 1 }, attributes: {} },
        { label: 'blob', geometry: { kind: 'mask', rle }, attributes: {} },
        { label: 'o', geometry: { kind: 'obb', cx: 1, cy: 1, w: 1, h: 1, angle: 1 }, attributes: {} },
        { label: 'lane', geometry: { kind: 'polyline', points: [0, 0, 1.5, 1, 2, 0] }, attributes: {} },
      ],
      (k) => skipped.push(k),
      seen,
    );
    expect(xml).toContain('<image id="0" name="a &quot;b&quot;.jpg" width="2" height="2" subset="Train">');
    expect(xml).toContain('<box label="car" occluded="1" z_order="1" xtl="0.1" ytl="0" xbr="1.3" ybr="1">');
    expect(xml).toContain('<attribute name="note">a&lt;b</attribute>');
    expect(xml.match(/<polygon label="car" group_id="1" points=/g)).toHaveLength(2);
    expect(xml).toContain('<points label="dot" points="1,1"/>');
    // Row-major inside the tight box x 0..1, y 0..1: pixels (0,0)=0, (1,0)=1, (0,1)=1, (1,1)=1.
    expect(xml).toContain('<mask label="blob" rle="1, 3" left="0" top="0" width="2" height="2"/>');
    expect(xml).toContain('<tag label="day" source="manual"/>');
    expect(xml).toContain('<polyline label="lane" points="0,0;1.5,1;2,0"/>');
    expect(skipped).toEqual(['unsupported:obb']);
    const head = writeCvatMeta([{ name: 'car', color: '#ff0000' }, { name: 'dot' }], seen, 1);
    expect(head).toMatch(/<name>parked<\/name>\s*<mutable>False<\/mutable>\s*<input_type>checkbox<\/input_type>/);
    expect(head).toMatch(/<name>speed<\/name>[^]*?<input_type>number<\/input_type>\s*<default_value>1.5<\/default_value>\s*<values>1.5\n3\n0.1<\/values>/);
    expect(head).toMatch(/<name>note<\/name>[^]*?<input_type>text<\/input_type>/);
    expect(head.indexOf('<name>car</name>')).toBeLessThan(head.indexOf('<name>dot</name>'));
  });
});
