import type { AttributeValue, Geometry, Split } from '../model';
import { encodeMask, decodeMask, rleBBox, type Rle } from '../geometry';
import type { FormatProblem } from './types';
import { joinGroups, MAX_MASK_IMAGE_PIXELS, type GroupMember } from './labelme';
import { asArray, asRecord, attributeText, decimalFor, parseAttributeText, parseDecimal, xmlAttrEscape, xmlEscape, xmlText } from './voc';

/**
 * "CVAT for images 1.1" XML, as fast-xml-parser objects (attributes unprefixed, values as
 * strings, `#text` beside attributes) and back to XML text.
 *
 * Coordinates are CVAT's canvas coordinates, which are Tessera's: pixel edges, origin at the top
 * left corner (a box xtl=0 xbr=10 covers pixels 0..9). A `rotation` on a box (degrees, clockwise
 * on screen) makes it an oriented box. Masks are CVAT's own run-length code: within the box
 * left/top/width/height, pixels in rows (row-major), runs alternating starting with unset
 * pixels, written as "3, 5, 7".
 *
 * Kept as annotation attributes: `occluded` (boolean), `z_order`, `group_id` (numbers), `source`
 * (string), and every <attribute>, typed by the label's spec in <meta> (checkbox → boolean,
 * number → number, others → text) or, without a spec, by parseAttributeText. Polygons and masks
 * of one label sharing a group_id are one instance (as Datumaro exports them to COCO), joined.
 * <points> gives one point annotation per point; <polyline> an open polyline; <tag> an image tag.
 * <ellipse>, <cuboid>, <skeleton> and video <track>s are reported and skipped.
 */

export const CVAT_XML_ATTRIBUTES = ['occluded', 'z_order', 'group_id', 'source'] as const;
const UNSUPPORTED = ['ellipse', 'cuboid', 'skeleton'] as const;
/** Elements fast-xml-parser must always give as arrays. */
export const CVAT_ARRAYS: ReadonlySet<string> = new Set(['image', 'box', 'polygon', 'polyline', 'points', 'mask', 'tag', 'attribute', 'label', 'ellipse', 'cuboid', 'skeleton', 'track', 'task']);

export type CvatInputType = 'checkbox' | 'number' | 'text' | 'select' | 'radio';

export interface CvatMeta {
  /** Label names in the order of <labels>. */
  labels: string[];
  /** Attribute input types per label, then per attribute name. */
  specs: Map<string, Map<string, string>>;
}

/** The <meta> of an <annotations> document: a task's, a job's or a project's labels. */
export function readCvatMeta(root: Record<string, unknown>): CvatMeta {
  const meta = asRecord(root['meta']);
  const holders = [asRecord(meta?.['project']), asRecord(meta?.['job']), ...asArray(meta?.['task']).map(asRecord)];
  const out: CvatMeta = { labels: [], specs: new Map() };
  for (const h of holders) {
    for (const l of asArray(asRecord(h?.['labels'])?.['label'])) {
      const r = asRecord(l);
      const name = xmlText(r?.['name'])?.trim();
      if (!r || !name || out.specs.has(name)) continue;
      out.labels.push(name);
      const spec = new Map<string, string>();
      for (const a of asArray(asRecord(r['attributes'])?.['attribute'])) {
        const ar = asRecord(a);
        const an = xmlText(ar?.['name'])?.trim();
        if (ar && an) spec.set(an, xmlText(ar['input_type'])?.trim() ?? 'text');
      }
      out.specs.set(name, spec);
    }
  }
  return out;
}

/** Subset names CVAT users give to the three splits; anything else has no split. */
export function cvatSubsetToSplit(subset: string | undefined): Split | undefined {
  const s = subset?.trim().toLowerCase();
  if (s === 'train' || s === 'training') return 'train';
  if (s === 'val' || s === 'valid' || s === 'validation') return 'val';
  if (s === 'test' || s === 'testing') return 'test';
  return undefined;
}

export const SPLIT_TO_CVAT_SUBSET: Record<Split, string> = { train: 'Train', val: 'Validation', test: 'Test' };

function parsePoints(text: string | undefined): number[] | null {
  if (text === undefined) return null;
  const out: number[] = [];
  for (const pair of text.split(';')) {
    if (pair.trim() === '') continue;
    const xy = pair.split(',');
    if (xy.length !== 2) return null;
    const x = parseDecimal(xy[0]);
    const y = parseDecimal(xy[1]);
    if (x === null || y === null) return null;
    out.push(x, y);
  }
  return out;
}

/** CVAT's mask code (row-major runs inside a box) to a full-image COCO RLE; a string says what is wrong. */
export function cvatMaskToRle(rle: string, left: number, top: number, width: number, height: number, imageWidth: number, imageHeight: number): { rle: Rle; clipped: number } | string {
  if (width * height > MAX_MASK_IMAGE_PIXELS || imageWidth * imageHeight > MAX_MASK_IMAGE_PIXELS) return `masks over ${MAX_MASK_IMAGE_PIXELS} pixels are not supported`;
  const counts: number[] = [];
  for (const t of rle.split(',')) {
    const n = parseDecimal(t);
    if (n === null || !Number.isInteger(n) || n < 0) return `rle has a run that is not a whole number (${JSON.stringify(t.trim())})`;
    counts.push(n);
  }
  const total = counts.reduce((a, b) => a + b, 0);
  if (total !== width * height) return `rle runs cover ${total} pixels, not the ${width}x${height} of the mask's box`;
  const full = new Uint8Array(imageWidth * imageHeight);
  let p = 0;
  let clipped = 0;
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i]!;
    if (i & 1) {
      for (let k = p; k < p + c; k++) {
        const x = left + (k % width);
        const y = top + Math.floor(k / width);
        if (x < 0 || y < 0 || x >= imageWidth || y >= imageHeight) clipped++;
        else full[y * imageWidth + x] = 1;
      }
    }
    p += c;
  }
  return { rle: encodeMask(full, imageWidth, imageHeight), clipped };
}

/** A full-image COCO RLE as CVAT's mask code over the box of its set pixels; null when empty. */
export function rleToCvatMask(rle: Rle): { rle: string; left: number; top: number; width: number; height: number } | null {
  const bb = rleBBox(rle);
  if (bb.w === 0 || bb.h === 0) return null;
  const w = rle.size[1];
  const full = decodeMask(rle);
  const counts: number[] = [];
  let cur = 0;
  let run = 0;
  for (let y = bb.y; y < bb.y + bb.h; y++) {
    for (let x = bb.x; x < bb.x + bb.w; x++) {
      const v = full[y * w + x]!;
      if (v !== cur) {
        counts.push(run);
        run = 0;
        cur = v;
      }
      run++;
    }
  }
  counts.push(run);
  return { rle: counts.join(', '), left: bb.x, top: bb.y, width: bb.w, height: bb.h };
}

export interface CvatImageResult {
  name: string | null;
  width?: number;
  height?: number;
  subset?: string;
  tags: string[];
  annotations: ReturnType<typeof joinGroups>;
  problems: FormatProblem[];
  counters: Record<string, number>;
}

function typedValue(text: string, inputType: string | undefined): AttributeValue {
  if (inputType === 'checkbox') return text.trim().toLowerCase() === 'true';
  if (inputType === 'number') {
    const n = parseDecimal(text);
    return n === null ? text : n;
  }
  if (inputType !== undefined) return text;
  return parseAttributeText(text);
}

/**
 * One <image> element into annotations and problems. The parser groups children by element
 * name; `orderOf` gives an element's position in the document (when the parser records it) so
 * annotations keep the file's order.
 */
export function readCvatImage(node: unknown, file: string, meta: CvatMeta, index: number, orderOf?: (element: unknown) => number | undefined): CvatImageResult {
  const problems: FormatProblem[] = [];
  const counters: Record<string, number> = {};
  const bump = (k: string, by = 1): void => void (counters[k] = (counters[k] ?? 0) + by);
  const img = asRecord(node);
  const name = typeof img?.['name'] === 'string' && img['name'].trim() !== '' ? img['name'] : null;
  const at = `image[${name ? `name=${name}` : index + 1}]`;
  const res: CvatImageResult = { name, tags: [], annotations: [], problems, counters };
  if (!img) {
    problems.push({ file, where: at, severity: 'error', message: 'an <image> without attributes; skipped' });
    return res;
  }
  if (name === null) problems.push({ file, where: at, severity: 'error', message: 'an <image> without a name; skipped' });
  const width = parseDecimal(xmlText(img['width']));
  const height = parseDecimal(xmlText(img['height']));
  const sized = width !== null && height !== null && Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0;
  if (sized) {
    res.width = width;
    res.height = height;
  } else {
    problems.push({ file, where: at, severity: 'warning', message: `width/height (${xmlText(img['width']) ?? 'missing'} x ${xmlText(img['height']) ?? 'missing'}) are not positive whole numbers; the size is taken from the image file` });
  }
  if (typeof img['subset'] === 'string' && img['subset'] !== '') res.subset = img['subset'];

  const members: (GroupMember & { order: number })[] = [];
  let order = 0;
  const push = (el: unknown, m: GroupMember): void => void members.push({ ...m, order: orderOf?.(el) ?? order++ });
  const common = (el: Record<string, unknown>, kind: string, i: number): { label: string; attributes: Record<string, AttributeValue>; where: string; groupKey: string | null } | null => {
    const where = `${at}/${kind}[${i + 1}]`;
    const label = typeof el['label'] === 'string' ? el['label'].trim() : '';
    if (!label) {
      problems.push({ file, where, severity: 'error', message: `a <${kind}> without a label; skipped` });
      return null;
    }
    const attributes: Record<string, AttributeValue> = {};
    if (el['occluded'] !== undefined) attributes['occluded'] = String(el['occluded']).trim() === '1' || String(el['occluded']).trim().toLowerCase() === 'true';
    for (const k of ['z_order', 'group_id'] as const) {
      if (el[k] === undefined) continue;
      const n = parseDecimal(xmlText(el[k]));
      if (n === null) problems.push({ file, where, severity: 'warning', message: `${k}=${JSON.stringify(el[k])} is not a number; ignored` });
      else attributes[k] = n;
    }
    if (typeof el['source'] === 'string' && el['source'] !== '') attributes['source'] = el['source'];
    const spec = meta.specs.get(label);
    for (const a of asArray(el['attribute'])) {
      const r = asRecord(a);
      // An <attribute> without a name comes out of the parser as a bare string: nothing to key it by.
      const an = typeof r?.['name'] === 'string' ? r['name'] : null;
      if (!r || !an) continue;
      attributes[an] = typedValue(xmlText(r) ?? '', spec?.get(an));
    }
    const g = attributes['group_id'];
    const groupKey = typeof g === 'number' && g !== 0 ? `${label}\u0000${g}` : null;
    return { label, attributes, where, groupKey };
  };

  asArray(img['box']).forEach((n, i) => {
    const el = asRecord(n) ?? {};
    const c = common(el, 'box', i);
    if (!c) return;
    const v = (['xtl', 'ytl', 'xbr', 'ybr'] as const).map((k) => parseDecimal(xmlText(el[k])));
    if (v.some((x) => x === null)) {
      problems.push({ file, where: c.where, severity: 'error', message: `box "${c.label}" has a coordinate that is not a number (xtl=${String(el['xtl'])} ytl=${String(el['ytl'])} xbr=${String(el['xbr'])} ybr=${String(el['ybr'])}); skipped` });
      return;
    }
    const [xtl, ytl, xbr, ybr] = v as number[];
    const w = xbr! - xtl!;
    const h = ybr! - ytl!;
    if (w <= 0 || h <= 0) {
      problems.push({ file, where: c.where, severity: 'warning', message: `box "${c.label}" has zero area (${w} x ${h}); skipped` });
      bump('zeroAreaBoxes');
      return;
    }
    let geometry: Geometry = { kind: 'box', x: xtl!, y: ytl!, w, h };
    if (el['rotation'] !== undefined) {
      const rot = parseDecimal(xmlText(el['rotation']));
      if (rot === null) problems.push({ file, where: c.where, severity: 'warning', message: `rotation=${JSON.stringify(el['rotation'])} is not a number; the box is read unrotated` });
      else if (rot !== 0) geometry = { kind: 'obb', cx: xtl! + w / 2, cy: ytl! + h / 2, w, h, angle: (rot * Math.PI) / 180 };
    }
    push(n, { label: c.label, attributes: c.attributes, geometry, groupKey: null });
  });

  asArray(img['polygon']).forEach((n, i) => {
    const el = asRecord(n) ?? {};
    const c = common(el, 'polygon', i);
    if (!c) return;
    const pts = parsePoints(xmlText(el['points']));
    if (pts === null || pts.length < 6) {
      problems.push({ file, where: c.where, severity: 'error', message: `polygon "${c.label}" needs at least 3 points given as "x,y;x,y;...", not ${JSON.stringify(el['points'] ?? null)}; skipped` });
      return;
    }
    push(n, { label: c.label, attributes: c.attributes, geometry: { kind: 'polygon', parts: [pts] }, groupKey: c.groupKey });
  });

  asArray(img['points']).forEach((n, i) => {
    const el = asRecord(n) ?? {};
    const c = common(el, 'points', i);
    if (!c) return;
    const pts = parsePoints(xmlText(el['points']));
    if (pts === null || pts.length === 0) {
      problems.push({ file, where: c.where, severity: 'error', message: `points "${c.label}" are not "x,y;x,y;..." (${JSON.stringify(el['points'] ?? null)}); skipped` });
      return;
    }
    for (let k = 0; k < pts.length; k += 2) push(n, { label: c.label, attributes: { ...c.attributes }, geometry: { kind: 'point', x: pts[k]!, y: pts[k + 1]! }, groupKey: null });
  });

  asArray(img['polyline']).forEach((n, i) => {
    const el = asRecord(n) ?? {};
    const c = common(el, 'polyline', i);
    if (!c) return;
    const pts = parsePoints(xmlText(el['points']));
    if (pts === null || pts.length < 4) {
      problems.push({ file, where: c.where, severity: 'error', message: `polyline "${c.label}" needs at least 2 points given as "x,y;x,y;...", not ${JSON.stringify(el['points'] ?? null)}; skipped` });
      return;
    }
    push(n, { label: c.label, attributes: c.attributes, geometry: { kind: 'polyline', points: pts }, groupKey: null });
  });

  asArray(img['mask']).forEach((n, i) => {
    const el = asRecord(n) ?? {};
    const c = common(el, 'mask', i);
    if (!c) return;
    if (!sized) {
      problems.push({ file, where: c.where, severity: 'error', message: `mask "${c.label}" cannot be placed without the image's width and height; skipped` });
      return;
    }
    const box = (['left', 'top', 'width', 'height'] as const).map((k) => parseDecimal(xmlText(el[k])));
    if (box.some((x) => x === null || !Number.isInteger(x)) || box[2]! <= 0 || box[3]! <= 0 || typeof el['rle'] !== 'string') {
      problems.push({ file, where: c.where, severity: 'error', message: `mask "${c.label}" needs rle and whole left, top, width > 0, height > 0; skipped` });
      return;
    }
    const m = cvatMaskToRle(el['rle'], box[0]!, box[1]!, box[2]!, box[3]!, width!, height!);
    if (typeof m === 'string') {
      problems.push({ file, where: c.where, severity: 'error', message: `mask "${c.label}": ${m}; skipped` });
      return;
    }
    if (m.clipped) problems.push({ file, where: c.where, severity: 'warning', message: `mask "${c.label}": ${m.clipped} pixels outside the image were dropped` });
    if (m.rle.counts.length < 2) {
      problems.push({ file, where: c.where, severity: 'warning', message: `mask "${c.label}" is empty; skipped` });
      bump('emptyMasks');
      return;
    }
    push(n, { label: c.label, attributes: c.attributes, geometry: { kind: 'mask', rle: m.rle }, groupKey: c.groupKey });
  });

  asArray(img['tag']).forEach((n, i) => {
    const el = asRecord(n) ?? {};
    const label = typeof el['label'] === 'string' ? el['label'].trim() : '';
    if (!label) {
      problems.push({ file, where: `${at}/tag[${i + 1}]`, severity: 'error', message: 'a <tag> without a label; skipped' });
      return;
    }
    if (!res.tags.includes(label)) res.tags.push(label);
    if (el['attribute'] !== undefined) bump('tagAttributesDropped', asArray(el['attribute']).length);
  });

  for (const kind of UNSUPPORTED) {
    const n = asArray(img[kind]).length;
    if (!n) continue;
    bump('unsupportedShapes', n);
    problems.push({ file, where: at, severity: 'warning', message: `${n} <${kind}> shape${n > 1 ? 's' : ''} skipped: Tessera has no ${kind} annotation` });
  }

  // Array.prototype.sort is stable: the points of one <points> element stay in their order.
  members.sort((a, b) => a.order - b.order);
  res.annotations = joinGroups(members, res.width, res.height, bump);
  return res;
}

function num(n: number): string {
  return String(n);
}

function attrs(pairs: [string, string][]): string {
  return pairs.map(([k, v]) => ` ${k}="${xmlAttrEscape(v)}"`).join('');
}

/** What a label's attributes hold, gathered while writing, to declare them in <meta>. */
export type CvatAttributeKinds = Map<string, Map<string, AttributeValue[]>>;

/**
 * The <image> element of one image. Kinds CVAT-for-images cannot hold are passed to `skip`;
 * `seen` collects each label's attribute values for writeCvatMeta.
 */
export function writeCvatImage(
  image: { id: number; name: string; width: number; height: number; split: Split | null; tags: readonly string[] },
  annotations: readonly { label: string; geometry: Geometry; attributes: Record<string, AttributeValue> }[],
  skip: (kind: string, message: string) => void,
  seen: CvatAttributeKinds,
): string {
  const head: [string, string][] = [
    ['id', String(image.id)],
    ['name', image.name],
    ['width', String(image.width)],
    ['height', String(image.height)],
  ];
  if (image.split) head.push(['subset', SPLIT_TO_CVAT_SUBSET[image.split]]);
  const lines = [`  <image${attrs(head)}>`];
  let nextGroup = 1;
  for (const a of annotations) {
    const g = a.attributes['group_id'];
    if (typeof g === 'number' && Number.isFinite(g) && g >= nextGroup) nextGroup = Math.floor(g) + 1;
  }
  for (const a of annotations) {
    const geo = a.geometry;
    const shapeAttrs: [string, string][] = [['label', a.label]];
    const children: string[] = [];
    let perLabel = seen.get(a.label);
    if (!perLabel) seen.set(a.label, (perLabel = new Map()));
    for (const [k, v] of Object.entries(a.attributes)) {
      if (v === null) continue;
      if (k === 'occluded' && typeof v === 'boolean') shapeAttrs.push(['occluded', v ? '1' : '0']);
      else if ((k === 'z_order' || k === 'group_id') && typeof v === 'number') shapeAttrs.push([k, num(v)]);
      else if (k === 'source' && typeof v === 'string') shapeAttrs.push(['source', v]);
      else {
        children.push(`      <attribute name="${xmlAttrEscape(k)}">${xmlEscape(attributeText(v))}</attribute>`);
        const vals = perLabel.get(k);
        if (vals) {
          if (vals.length < 64 && !vals.includes(v)) vals.push(v);
        } else perLabel.set(k, [v]);
      }
    }
    const el = (tag: string, extra: [string, string][]): void => {
      const all = [...shapeAttrs, ...extra];
      if (children.length) lines.push(`    <${tag}${attrs(all)}>`, ...children, `    </${tag}>`);
      else lines.push(`    <${tag}${attrs(all)}/>`);
    };
    switch (geo.kind) {
      case 'box': {
        const x = Math.min(geo.x, geo.x + geo.w);
        const y = Math.min(geo.y, geo.y + geo.h);
        el('box', [
          ['xtl', num(x)],
          ['ytl', num(y)],
          ['xbr', decimalFor(Math.abs(geo.w), x)],
          ['ybr', decimalFor(Math.abs(geo.h), y)],
        ]);
        break;
      }
      case 'polygon': {
        if (geo.parts.length > 1 && !shapeAttrs.some(([k]) => k === 'group_id')) shapeAttrs.push(['group_id', String(nextGroup++)]);
        for (const ring of geo.parts) {
          const pts: string[] = [];
          for (let j = 0; j + 1 < ring.length; j += 2) pts.push(`${num(ring[j]!)},${num(ring[j + 1]!)}`);
          el('polygon', [['points', pts.join(';')]]);
        }
        break;
      }
      case 'point':
        el('points', [['points', `${num(geo.x)},${num(geo.y)}`]]);
        break;
      case 'polyline': {
        const pts: string[] = [];
        for (let j = 0; j + 1 < geo.points.length; j += 2) pts.push(`${num(geo.points[j]!)},${num(geo.points[j + 1]!)}`);
        el('polyline', [['points', pts.join(';')]]);
        break;
      }
      case 'mask': {
        const m = rleToCvatMask(geo.rle);
        if (!m) {
          skip('empty-mask', 'an empty mask was left out');
          break;
        }
        el('mask', [
          ['rle', m.rle],
          ['left', String(m.left)],
          ['top', String(m.top)],
          ['width', String(m.width)],
          ['height', String(m.height)],
        ]);
        break;
      }
      default:
        skip(`unsupported:${geo.kind}`, `CVAT for images cannot hold a ${geo.kind} annotation here; it was left out`);
    }
  }
  for (const t of image.tags) lines.push(`    <tag${attrs([['label', t], ['source', 'manual']])}/>`);
  lines.push('  </image>');
  return lines.join('\n') + '\n';
}

function decimals(n: number): number {
  const s = String(n);
  if (s.includes('e-')) return Number(s.split('e-')[1]) + (s.split('e-')[0]!.split('.')[1]?.length ?? 0);
  return s.split('.')[1]?.length ?? 0;
}

/**
 * The document head up to and including </meta>: labels in `labels` order (colours where known),
 * each declaring the attributes seen on it. Booleans are checkboxes, numbers number inputs
 * (min;max;step as CVAT spells a range), anything else text.
 */
export function writeCvatMeta(labels: readonly { name: string; color?: string }[], seen: CvatAttributeKinds, imageCount: number): string {
  const lines = ['<?xml version="1.0" encoding="utf-8"?>', '<annotations>', '  <version>1.1</version>', '  <meta>', '    <task>', '      <name>Tessera export</name>', `      <size>${imageCount}</size>`, '      <mode>annotation</mode>', '      <labels>'];
  for (const l of labels) {
    lines.push('        <label>', `          <name>${xmlEscape(l.name)}</name>`);
    if (l.color) lines.push(`          <color>${xmlEscape(l.color)}</color>`);
    lines.push('          <type>any</type>', '          <attributes>');
    for (const [k, vals] of seen.get(l.name) ?? []) {
      let type = 'text';
      let def = attributeText(vals[0] ?? '');
      let values = '';
      if (vals.every((v) => typeof v === 'boolean')) {
        type = 'checkbox';
        def = 'false';
        values = 'false\ntrue';
      } else if (vals.every((v) => typeof v === 'number')) {
        type = 'number';
        const ns = vals as number[];
        const step = 10 ** -Math.max(0, ...ns.map(decimals));
        const lo = Math.min(...ns);
        def = num(lo);
        values = `${num(lo)}\n${num(Math.max(...ns))}\n${num(step)}`;
      }
      lines.push(
        '            <attribute>',
        `              <name>${xmlEscape(k)}</name>`,
        '              <mutable>False</mutable>',
        `              <input_type>${type}</input_type>`,
        `              <default_value>${xmlEscape(def)}</default_value>`,
        `              <values>${xmlEscape(values)}</values>`,
        '            </attribute>',
      );
    }
    lines.push('          </attributes>', '        </label>');
  }
  lines.push('      </labels>', '    </task>', '  </meta>');
  return lines.join('\n') + '\n';
}

export const CVAT_DOCUMENT_END = '</annotations>\n';
