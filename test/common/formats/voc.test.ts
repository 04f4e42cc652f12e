import { describe, expect, it } from 'vitest';
import { decimalFor, parseAttributeText, parseDecimal, parseVocImageSet, readVocDocument, vocBoxToCorners, vocCornersToBox, writeVocXml, xmlAttrEscape } from '../../../src-main/common/formats/voc';

describe('VOC coordinates (1-based, inclusive xmax/ymax)', () => {
  it.each([
    // xmin ymin xmax ymax -> x y w h
    [[1, 1, 640, 480], { x: 0, y: 0, w: 640, h: 480 }],
    [[260, 177, 491, 376], { x: 259, y: 176, w: 232, h: 200 }],
    [[1, 2, 2, 3], { x: 0, y: 1, w: 2, h: 2 }],
    [[5.5, 6, 7.5, 8], { x: 4.5, y: 5, w: 3, h: 3 }],
  ])('%j is %j', (c, box) => {
    expect(vocCornersToBox(c[0]!, c[1]!, c[2]!, c[3]!)).toEqual({ kind: 'box', ...box });
    const back = vocBoxToCorners(box);
    expect([back.xmin, back.ymin, back.xmax, back.ymax].map(Number)).toEqual(c);
  });

  it('gives back exactly the corners it read, in their shortest spelling', () => {
    let seed = 7;
    const rnd = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const dec = (): string => (rnd() * 900).toFixed(Math.floor(rnd() * 4));
    for (let i = 0; i < 2000; i++) {
      const c = [dec(), dec(), dec(), dec()].map(Number);
      const [xmin, ymin] = [Math.min(c[0]!, c[1]!), Math.min(c[2]!, c[3]!)];
      const [xmax, ymax] = [Math.max(c[0]!, c[1]!) + 1, Math.max(c[2]!, c[3]!) + 1];
      const box = vocCornersToBox(xmin, ymin, xmax, ymax);
      const text = vocBoxToCorners(box);
      expect([text.xmin, text.ymin, text.xmax, text.ymax].map(Number)).toEqual([xmin, ymin, xmax, ymax]);
      expect(vocCornersToBox(Number(text.xmin), Number(text.ymin), Number(text.xmax), Number(text.ymax))).toEqual(box);
    }
    // 0.1 - 1 + 1 is 0.09999999999999998 in binary floating point; the writer still says 0.1.
    expect(decimalFor(0.1 - 1, 1)).toBe('0.1');
  });

  it('comes within an ulp for boxes that did not come from VOC text', () => {
    let seed = 11;
    const rnd = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let i = 0; i < 2000; i++) {
      const box = { x: rnd() * 1000 - 1, y: rnd() * 100, w: 0.5 + rnd() * 300, h: 0.5 + rnd() * 3000 };
      const c = vocBoxToCorners(box);
      const again = vocCornersToBox(Number(c.xmin), Number(c.ymin), Number(c.xmax), Number(c.ymax));
      for (const k of ['x', 'y', 'w', 'h'] as const) expect(Math.abs(again[k] - box[k])).toBeLessThan(1e-12 * Math.max(1, Math.abs(box[k]) + 1000));
    }
  });
});

describe('text values', () => {
  it('parses only decimal numbers', () => {
    expect([' 12 ', '1.5', '-3e2', '.5'].map(parseDecimal)).toEqual([12, 1.5, -300, 0.5]);
    expect(['', 'NaN', 'Infinity', '0x10', '1,5', '1e999', undefined].map(parseDecimal)).toEqual([null, null, null, null, null, null, null]);
  });

  it('types untyped attribute text without turning codes into numbers', () => {
    expect(['true', 'False', '2.4', '0003', '-1', '1.0', 'abc', ''].map(parseAttributeText)).toEqual([true, false, 2.4, '0003', -1, '1.0', 'abc', '']);
  });

  it('reads image set lists with class columns, blank lines and comments', () => {
    expect(parseVocImageSet('\n# a comment\n2007_000001\r\n2007_000002  -1\n  \n')).toEqual(['2007_000001', '2007_000002']);
  });

  it('escapes attribute values so line breaks survive', () => {
    expect(xmlAttrEscape('a "b" & <c>\nd')).toBe('a &quot;b&quot; &amp; &lt;c&gt;&#10;d');
  });
});

const size = { width: '640', height: '480', depth: '3' };
const box = (xmin: string, ymin: string, xmax: string, ymax: string) => ({ xmin, ymin, xmax, ymax });

describe('readVocDocument', () => {
  it('keeps pose, truncated, difficult and occluded as attributes', () => {
    const r = readVocDocument(
      { annotation: { filename: 'a.jpg', folder: 'JPEGImages', size, object: [{ name: 'RBC', pose: 'Unspecified', truncated: '1', difficult: '0', occluded: 'true', bndbox: box('1', '1', '10', '10') }] } },
      'Annotations/a.xml',
    );
    expect(r.problems).toEqual([]);
    expect(r.file).toEqual({
      filename: 'a.jpg',
      folder: 'JPEGImages',
      width: 640,
      height: 480,
      annotations: [{ label: 'RBC', geometry: { kind: 'box', x: 0, y: 0, w: 10, h: 10 }, attributes: { pose: 'Unspecified', truncated: true, difficult: false, occluded: true } }],
    });
  });

  it('reports each bad object with its position and keeps the rest', () => {
    const r = readVocDocument(
      {
        annotation: {
          filename: 'a.jpg',
          size: { width: '0', height: 'x' },
          object: [
            { name: 'a', bndbox: box('1', '1', 'NaN', '5') },
            { name: '', bndbox: box('1', '1', '5', '5') },
            { name: 'c', bndbox: box('5', '1', '4', '5') },
            { name: 'd' },
            { name: 'e', truncated: 'maybe', bndbox: box('1', '1', '5', '5') },
          ],
        },
      },
      'x.xml',
    );
    expect(r.problems.map((p) => [p.where, p.severity])).toEqual([
      ['size', 'warning'],
      ['object[1]', 'error'],
      ['object[2]', 'error'],
      ['object[3]', 'warning'],
      ['object[4]', 'error'],
      ['object[5]/truncated', 'warning'],
    ]);
    expect(r.problems.every((p) => p.file === 'x.xml')).toBe(true);
    expect(r.counters).toEqual({ zeroAreaBoxes: 1 });
    expect(r.file!.width).toBeUndefined();
    expect(r.file!.annotations.map((a) => a.label)).toEqual(['e']);
  });

  it('refuses a document that is not an <annotation>', () => {
    expect(readVocDocument({ annotations: {} }, 'c.xml').problems[0]).toMatchObject({ file: 'c.xml', severity: 'error' });
    expect(readVocDocument('text', 'c.xml').file).toBeNull();
  });
});

describe('writeVocXml', () => {
  it('writes boxes with the devkit fields, free attributes and escaping, and skips other kinds', () => {
    const skipped: string[] = [];
    const xml = writeVocXml(
      { filename: 'a<1>.jpg', folder: 'JPEGImages', width: 20, height: 10, depth: 1 },
      [
        { label: 'cat', geometry: { kind: 'box', x: 0, y: 1, w: 3, h: 3 }, attributes: { truncated: true, grade: 2, note: 'x&y' } },
        { label: 'cat', geometry: { kind: 'point', x: 1, y: 1 }, attributes: {} },
      ],
      (k) => skipped.push(k),
    );
    expect(xml).toContain('<filename>a&lt;1&gt;.jpg</filename>');
    expect(xml).toContain('<depth>1</depth>');
    expect(xml).toContain('<truncated>1</truncated>');
    expect(xml).toContain('<difficult>0</difficult>');
    expect(xml).not.toContain('<occluded>');
    expect(xml).not.toContain('<pose>');
    expect(xml).toMatch(/<xmin>1<\/xmin>\s*<ymin>2<\/ymin>\s*<xmax>3<\/xmax>\s*<ymax>4<\/ymax>/);
    expect(xml).toContain('<attribute><name>grade</name><value>2</value></attribute>');
    expect(xml).toContain('<value>x&amp;y</value>');
    expect(xml.match(/<object>/g)).toHaveLength(1);
    expect(skipped).toEqual(['unsupported:point']);
  });

  it('tells the caller about boxes too thin for inclusive coordinates', () => {
    const skipped: string[] = [];
    writeVocXml({ filename: 'a.jpg', folder: null, width: 5, height: 5, depth: 3 }, [{ label: 'x', geometry: { kind: 'box', x: 0, y: 0, w: 1, h: 3 }, attributes: {} }], (k) => skipped.push(k));
    expect(skipped).toEqual(['voc:thin-box']);
  });
});
