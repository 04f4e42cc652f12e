import type { AttributeValue, Geometry } from '../model';
import type { FormatProblem, InterchangeAnnotation } from './types';

/**
 * Pascal VOC annotation XML, as objects produced by fast-xml-parser (attributes without prefix,
 * text kept as strings, `#text` for the text of an element that also has attributes) and back
 * to XML text.
 *
 * Coordinates: the VOC devkit numbers pixels from 1 and its xmax/ymax are inclusive, so a box
 * over the whole 640-pixel-wide image reads xmin=1, xmax=640. The BCCD data follows it (its
 * smallest xmin is 1 and its largest xmax is the image width, on both sides of the image alike).
 * In Tessera's pixel-edge coordinates that box is x = xmin - 1, w = xmax - xmin + 1
 * (= xmax - x). Fractional values are read with the same formula. A box whose xmax is not
 * greater than xmin (or ymax not greater than ymin) is what a click without a drag leaves in
 * labelImg; it is reported as zero-area and skipped, so boxes one pixel wide or less cannot be
 * written losslessly (the writer writes them and the caller is told).
 *
 * Numbers are written as the shortest decimals that read back to the same double, so boxes read
 * from VOC text come back exactly; other boxes come back within an ulp.
 */

export const VOC_FLAG_ATTRIBUTES = ['truncated', 'difficult', 'occluded'] as const;

/** Strings of an element given as a plain string, `{ '#text': ... }` or missing. */
export function xmlText(node: unknown): string | undefined {
  if (typeof node === 'string') return node;
  if (typeof node === 'number' || typeof node === 'boolean') return String(node);
  if (node && typeof node === 'object' && !Array.isArray(node)) {
    const t = (node as Record<string, unknown>)['#text'];
    if (typeof t === 'string' || typeof t === 'number') return String(t);
    return '';
  }
  return undefined;
}

export function asArray(node: unknown): unknown[] {
  if (node === undefined || node === null) return [];
  return Array.isArray(node) ? node : [node];
}

export function asRecord(node: unknown): Record<string, unknown> | null {
  return node && typeof node === 'object' && !Array.isArray(node) ? (node as Record<string, unknown>) : null;
}

const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** A decimal number written as text; null for anything else (empty, NaN, hex, "1,5"). */
export function parseDecimal(text: string | undefined): number | null {
  if (text === undefined) return null;
  const s = text.trim();
  if (!DECIMAL.test(s)) return null;
  const n = Number(s);
  return Number.isFinite(n) ? n : null;
}

/**
 * An attribute value written as text by a format with no types (VOC <attributes>, CVAT without a
 * label spec): "true"/"false" become booleans and numbers written the way JavaScript writes them
 * become numbers, so "2.4" is 2.4 while "0003" stays a string.
 */
export function parseAttributeText(text: string): AttributeValue {
  if (text === 'true' || text === 'True') return true;
  if (text === 'false' || text === 'False') return false;
  const n = parseDecimal(text);
  if (n !== null && String(n) === text.trim() && text.trim() === text) return n;
  return text;
}

export function attributeText(v: AttributeValue): string {
  return v === null ? '' : String(v);
}

export function xmlEscape(s: string): string {
  return s.replace(/[&<>"']/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '"' ? '&quot;' : '&apos;'));
}

/** For attribute values: line breaks and tabs would be folded into spaces by any XML parser. */
export function xmlAttrEscape(s: string): string {
  return xmlEscape(s).replace(/\n/g, '&#10;').replace(/\r/g, '&#13;').replace(/\t/g, '&#9;');
}

/**
 * The shortest decimal d for which a reader computing `d - base` gets exactly `target` back,
 * so that writing and reading again reproduces the geometry to the bit (1 - 1 + 0.1 is not 0.1).
 * A difference cannot always hit every double; then the nearest is written (an ulp away). Values
 * that were themselves read as such a difference always come back exactly.
 */
export function decimalFor(target: number, base: number): string {
  const v = target + base;
  for (let p = 1; p <= 17; p++) {
    const d = Number(v.toPrecision(p));
    if (d - base === target) return String(d);
  }
  let best = v;
  for (const d of neighbours(v, 4)) {
    if (d - base === target) return String(d);
    if (Math.abs(d - base - target) < Math.abs(best - base - target)) best = d;
  }
  return String(best);
}

/** The doubles up to `n` steps either side of v. */
function neighbours(v: number, n: number): number[] {
  const buf = new DataView(new ArrayBuffer(8));
  const out: number[] = [];
  for (const dir of [1, -1]) {
    buf.setFloat64(0, v);
    for (let i = 0; i < n; i++) {
      const bits = buf.getBigInt64(0);
      // Stepping the bit pattern moves away from zero for positive numbers and towards it for negative ones.
      buf.setBigInt64(0, bits + BigInt(dir * (buf.getFloat64(0) >= 0 ? 1 : -1)));
      out.push(buf.getFloat64(0));
    }
  }
  return out.filter(Number.isFinite);
}

/** The devkit's 1-based inclusive corners to a box in pixel-edge coordinates. */
export function vocCornersToBox(xmin: number, ymin: number, xmax: number, ymax: number): Extract<Geometry, { kind: 'box' }> {
  const x = xmin - 1;
  const y = ymin - 1;
  return { kind: 'box', x, y, w: xmax - x, h: ymax - y };
}

/** The inverse of vocCornersToBox as the text written into <bndbox>. */
export function vocBoxToCorners(g: { x: number; y: number; w: number; h: number }): { xmin: string; ymin: string; xmax: string; ymax: string } {
  const xmin = decimalFor(g.x, 1);
  const ymin = decimalFor(g.y, 1);
  // The reader recomputes x from the written xmin; w is measured from that value.
  const x = Number(xmin) - 1;
  const y = Number(ymin) - 1;
  return { xmin, ymin, xmax: decimalFor(g.w, x), ymax: decimalFor(g.h, y) };
}

function flag(text: string | undefined): boolean | null {
  const s = text?.trim();
  if (s === '1' || s === 'true' || s === 'True') return true;
  if (s === '0' || s === 'false' || s === 'False') return false;
  return null;
}

export interface VocFile {
  /** <filename> and <folder> as written (unchecked: the caller resolves them against the disk). */
  filename: string | null;
  folder: string | null;
  width?: number;
  height?: number;
  annotations: InterchangeAnnotation[];
}

export interface VocReadResult {
  file: VocFile | null;
  problems: FormatProblem[];
  counters: Record<string, number>;
}

function bump(counters: Record<string, number>, key: string, by = 1): void {
  counters[key] = (counters[key] ?? 0) + by;
}

/** One parsed annotation XML (the whole document object) into boxes and problems. */
export function readVocDocument(doc: unknown, file: string): VocReadResult {
  const problems: FormatProblem[] = [];
  const counters: Record<string, number> = {};
  const root = asRecord(asRecord(doc)?.['annotation']);
  if (!root) {
    problems.push({ file, severity: 'error', message: 'not a Pascal VOC annotation: there is no <annotation> root element' });
    return { file: null, problems, counters };
  }
  const filename = xmlText(root['filename'])?.trim() || null;
  const folder = xmlText(root['folder'])?.trim() || null;
  const out: VocFile = { filename, folder, annotations: [] };

  const size = asRecord(root['size']);
  if (!size) {
    problems.push({ file, where: 'size', severity: 'warning', message: 'no <size>: the size is taken from the image file' });
  } else {
    const w = parseDecimal(xmlText(size['width']));
    const h = parseDecimal(xmlText(size['height']));
    if (w === null || h === null || !Number.isInteger(w) || !Number.isInteger(h) || w <= 0 || h <= 0) {
      problems.push({ file, where: 'size', severity: 'warning', message: `<size> is not a positive whole width and height (${xmlText(size['width'])} x ${xmlText(size['height'])}); the size is taken from the image file` });
    } else {
      out.width = w;
      out.height = h;
    }
  }

  asArray(root['object']).forEach((node, i) => {
    const where = `object[${i + 1}]`;
    const obj = asRecord(node);
    if (!obj) {
      problems.push({ file, where, severity: 'error', message: 'an <object> without content; skipped' });
      return;
    }
    const label = xmlText(obj['name'])?.trim();
    if (!label) {
      problems.push({ file, where, severity: 'error', message: 'an <object> without a <name>; skipped' });
      return;
    }
    const bb = asRecord(obj['bndbox']);
    if (!bb) {
      problems.push({ file, where, severity: 'error', message: `object "${label}" has no <bndbox>; skipped` });
      return;
    }
    const c = (['xmin', 'ymin', 'xmax', 'ymax'] as const).map((k) => parseDecimal(xmlText(bb[k])));
    if (c.some((v) => v === null)) {
      const raw = (['xmin', 'ymin', 'xmax', 'ymax'] as const).map((k) => `${k}=${JSON.stringify(xmlText(bb[k]) ?? null)}`).join(' ');
      problems.push({ file, where, severity: 'error', message: `object "${label}" has a <bndbox> coordinate that is not a number (${raw}); skipped` });
      return;
    }
    const [xmin, ymin, xmax, ymax] = c as number[];
    if (xmax! <= xmin! || ymax! <= ymin!) {
      problems.push({ file, where, severity: 'warning', message: `object "${label}" is a zero-area box (xmin ${xmin} xmax ${xmax}, ymin ${ymin} ymax ${ymax}); skipped` });
      bump(counters, 'zeroAreaBoxes');
      return;
    }
    const attributes: Record<string, AttributeValue> = {};
    const pose = xmlText(obj['pose'])?.trim();
    if (pose) attributes['pose'] = pose;
    for (const k of VOC_FLAG_ATTRIBUTES) {
      if (obj[k] === undefined) continue;
      const v = flag(xmlText(obj[k]));
      if (v === null) problems.push({ file, where: `${where}/${k}`, severity: 'warning', message: `<${k}> is ${JSON.stringify(xmlText(obj[k]))}, not 0 or 1; ignored` });
      else attributes[k] = v;
    }
    // Datumaro writes free attributes as <attributes><attribute><name/><value/></attribute>.
    for (const a of asArray(asRecord(obj['attributes'])?.['attribute'])) {
      const r = asRecord(a);
      const name = xmlText(r?.['name'])?.trim();
      if (!r || !name) continue;
      attributes[name] = parseAttributeText(xmlText(r['value']) ?? '');
    }
    const actions = asRecord(obj['actions']);
    if (actions) {
      for (const [k, v] of Object.entries(actions)) {
        const b = flag(xmlText(v));
        if (b !== null) attributes[`action:${k}`] = b;
      }
    }
    if (obj['part'] !== undefined) bump(counters, 'vocPartsIgnored', asArray(obj['part']).length);
    out.annotations.push({ label, geometry: vocCornersToBox(xmin!, ymin!, xmax!, ymax!), attributes });
  });
  return { file: out, problems, counters };
}

/**
 * Lines of an ImageSets list: the first column of each non-empty line (class lists add " 1"/"-1").
 * Lines starting with # are comments, as Datumaro writes and reads them.
 */
export function parseVocImageSet(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split(/\r?\n/)) {
    const id = line.trim().split(/\s+/)[0];
    if (id && !id.startsWith('#')) out.push(id);
  }
  return out;
}

export interface VocXmlImage {
  filename: string;
  folder: string | null;
  width: number;
  height: number;
  depth: number;
}

/**
 * One image's annotation XML. Only boxes are written (VOC holds nothing else); `skip` is told
 * about anything else and about boxes too thin to survive a read. truncated and difficult are
 * always written (0 unless the attribute is true) because the devkit's evaluation and the tools
 * built on it read them, so an object that had neither comes back with both false; pose and
 * occluded only when set. Other attributes go to Datumaro's <attributes> list.
 */
export function writeVocXml(image: VocXmlImage, annotations: readonly InterchangeAnnotation[], skip: (kind: string, message: string) => void): string {
  const lines: string[] = ['<annotation>'];
  if (image.folder !== null) lines.push(`\t<folder>${xmlEscape(image.folder)}</folder>`);
  lines.push(`\t<filename>${xmlEscape(image.filename)}</filename>`);
  lines.push('\t<size>', `\t\t<width>${image.width}</width>`, `\t\t<height>${image.height}</height>`, `\t\t<depth>${image.depth}</depth>`, '\t</size>');
  lines.push('\t<segmented>0</segmented>');
  for (const a of annotations) {
    const g = a.geometry;
    if (g.kind !== 'box') {
      skip(`unsupported:${g.kind}`, `Pascal VOC holds only boxes; a ${g.kind} annotation was left out`);
      continue;
    }
    const box = { x: Math.min(g.x, g.x + g.w), y: Math.min(g.y, g.y + g.h), w: Math.abs(g.w), h: Math.abs(g.h) };
    if (box.w <= 1 || box.h <= 1) skip('voc:thin-box', 'a box one pixel wide or less is written but reads back as zero-area in VOC’s inclusive coordinates');
    const c = vocBoxToCorners(box);
    lines.push('\t<object>', `\t\t<name>${xmlEscape(a.label)}</name>`);
    const pose = a.attributes['pose'];
    if (typeof pose === 'string' && pose !== '') lines.push(`\t\t<pose>${xmlEscape(pose)}</pose>`);
    for (const k of VOC_FLAG_ATTRIBUTES) {
      const v = a.attributes[k];
      if (k === 'occluded' && typeof v !== 'boolean') continue;
      lines.push(`\t\t<${k}>${v === true || v === 1 || v === '1' ? 1 : 0}</${k}>`);
    }
    lines.push('\t\t<bndbox>', `\t\t\t<xmin>${c.xmin}</xmin>`, `\t\t\t<ymin>${c.ymin}</ymin>`, `\t\t\t<xmax>${c.xmax}</xmax>`, `\t\t\t<ymax>${c.ymax}</ymax>`, '\t\t</bndbox>');
    const extra = Object.entries(a.attributes).filter(
      ([k, v]) => v !== null && !(k === 'pose' && typeof v === 'string') && !(VOC_FLAG_ATTRIBUTES as readonly string[]).includes(k),
    );
    if (extra.length) {
      lines.push('\t\t<attributes>');
      for (const [k, v] of extra) lines.push(`\t\t\t<attribute><name>${xmlEscape(k)}</name><value>${xmlEscape(attributeText(v))}</value></attribute>`);
      lines.push('\t\t</attributes>');
    }
    lines.push('\t</object>');
  }
  lines.push('</annotation>', '');
  return lines.join('\n');
}
