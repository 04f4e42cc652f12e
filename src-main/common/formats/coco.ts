import { geometryBBox, polygonArea, polygonToRle, ringSignedArea, rleArea, rleBBox, rleFromString, rleToString, validateGeometry } from '../geometry';
import type { AttributeValue, Geometry, KeypointSchema, Split } from '../model';
import { keypointSchemaProblem, MAX_KEYPOINTS } from '../keypoints';
import { COCO_REFERENCE_ATTRIBUTE, cocoReference } from '../eval/reference';
import { safeRelativeKey } from './paths';
import type { ExportClass, ExportImage, FormatProblem, InterchangeAnnotation, InterchangeDataset, InterchangeImage } from './types';

/**
 * COCO instances (cocodataset.org/#format-data), as parsed objects. Geometry needs no
 * conversion: COCO's pixel coordinates have their origin at the top-left corner of the top-left
 * pixel, like Tessera's, and its RLE is the one Tessera stores masks in.
 */

/** Annotation keys with a meaning in COCO; any other key is kept as an attribute. */
export const COCO_ANNOTATION_KEYS = ['id', 'image_id', 'category_id', 'segmentation', 'area', 'bbox', 'iscrowd', 'score', 'attributes', 'keypoints', 'num_keypoints'] as const;
const RESERVED = new Set<string>(COCO_ANNOTATION_KEYS);

export interface CocoReadOptions {
  /** The annotation file, as problems name it. */
  file: string;
  /** Split of every image in this file (from its name, e.g. instances_val2017.json). */
  split?: Split;
  /**
   * Folder (forward slashes, relative to the import's base folder) that `file_name` values are
   * relative to. `file_name` must stay inside it; the prefix is put in front of the key.
   */
  keyPrefix?: string;
  /**
   * Parsed COCO results files (arrays of {image_id, category_id, bbox or segmentation, score})
   * whose detections belong to this file's images and categories; they are read as annotations
   * with a score and their problems are named after their own file.
   */
  results?: { doc: unknown; file: string }[];
}

type Id = number | string;
type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** COCO ids are integers; some tools write strings. Floats, booleans and empty strings are not ids. */
function isId(v: unknown): v is Id {
  return (typeof v === 'number' && Number.isSafeInteger(v)) || (typeof v === 'string' && v.length > 0);
}

function describe(v: unknown): string {
  if (v === undefined) return 'missing';
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? `${v.slice(0, 60)}…` : v);
  return Array.isArray(v) ? 'an array' : 'an object';
}

function compareIds(a: Id, b: Id): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'number') return -1;
  if (typeof b === 'number') return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Sets an own property even for the name "__proto__", which plain assignment would take as the prototype. */
function setOwn(o: Record<string, unknown>, k: string, v: unknown): void {
  if (k === '__proto__') Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  else o[k] = v;
}

function scalarOrString(v: unknown): AttributeValue {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'number') return Number.isFinite(v) ? v : String(v);
  return JSON.stringify(v) ?? null;
}

/** A polygon part: finite numbers, an even count, at least three points. Returns a reason when not. */
function polygonPartProblem(part: unknown): string | null {
  if (!Array.isArray(part)) return `a polygon part must be an array of numbers, not ${describe(part)}`;
  for (let i = 0; i < part.length; i++) {
    const n = part[i];
    if (typeof n !== 'number' || !Number.isFinite(n)) return `coordinate ${i} is ${describe(n)}, not a finite number`;
  }
  if (part.length % 2 !== 0) return `a polygon part has an odd number of coordinates (${part.length})`;
  if (part.length < 6) return `a polygon part needs at least 3 points, it has ${part.length / 2}`;
  return null;
}

type RleResult = { rle: { size: [number, number]; counts: number[] } } | { problem: string };

/** Uncompressed (counts list) or compressed (counts string) COCO RLE, checked to cover its size exactly. */
export function parseCocoRle(seg: Obj): RleResult {
  const size = seg['size'];
  if (!Array.isArray(size) || size.length !== 2 || !size.every((n) => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0)) {
    return { problem: `RLE size must be [height, width] as two non-negative integers, not ${JSON.stringify(size) ?? 'missing'}` };
  }
  const [h, w] = size as [number, number];
  const counts = seg['counts'];
  let runs: number[];
  if (typeof counts === 'string') {
    try {
      runs = rleFromString(counts, [h, w]).counts;
    } catch (e) {
      return { problem: `RLE counts string is malformed: ${(e as Error).message}` };
    }
  } else if (Array.isArray(counts)) {
    const bad = counts.findIndex((c) => typeof c !== 'number' || !Number.isSafeInteger(c) || c < 0);
    if (bad >= 0) return { problem: `RLE run ${bad} is ${describe(counts[bad])}, not a non-negative integer` };
    runs = counts as number[];
  } else {
    return { problem: `RLE counts must be a list of runs or a compressed string, not ${describe(counts)}` };
  }
  let total = 0;
  for (const c of runs) total += c;
  if (total !== h * w) return { problem: `RLE runs cover ${total} pixels, not ${h * w} (${h}x${w})` };
  return { rle: { size: [h, w], counts: runs } };
}

/** Line and column (1-based) of a character offset, for messages people can act on. */
export function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let start = 0;
  const end = Math.min(offset, text.length);
  for (let i = 0; i < end; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      start = i + 1;
    }
  }
  return { line, column: end - start + 1 };
}

/**
 * Offset of the first syntax error in `text`, or -1 when it is valid JSON. V8's messages give a
 * position only for some errors, so a failed JSON.parse is located here instead. Iterative, so
 * deeply nested input cannot overflow the stack.
 */
export function jsonSyntaxErrorOffset(text: string): number {
  let i = 0;
  const n = text.length;
  const stack: ('{' | '[')[] = [];
  const ws = () => {
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 32 || c === 9 || c === 10 || c === 13) i++;
      else break;
    }
  };
  const str = (): boolean => {
    if (text[i] !== '"') return false;
    i++;
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 34) {
        i++;
        return true;
      }
      if (c < 32) return false;
      if (c === 92) {
        const e = text[i + 1];
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) return false;
          i += 6;
        } else if (e !== undefined && '"\\/bfnrt'.includes(e)) i += 2;
        else return false;
      } else i++;
    }
    return false;
  };
  const num = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
  // A value, then what may follow it; returns false at the first error, leaving `i` on it.
  const value = (): boolean | 'open' => {
    ws();
    const c = text[i];
    if (c === '{' || c === '[') {
      stack.push(c);
      i++;
      ws();
      if (text[i] === (c === '{' ? '}' : ']')) {
        stack.pop();
        i++;
        return true;
      }
      if (c === '{') {
        if (!str()) return false;
        ws();
        if (text[i] !== ':') return false;
        i++;
      }
      return 'open';
    }
    if (c === '"') return str();
    for (const lit of ['true', 'false', 'null']) {
      if (text.startsWith(lit, i)) {
        i += lit.length;
        return true;
      }
    }
    num.lastIndex = i;
    const m = num.exec(text);
    if (!m) return false;
    i += m[0].length;
    return true;
  };
  // `value` returns 'open' after entering a container whose first member is to be read next.
  let r: boolean | 'open' = value();
  for (;;) {
    if (r === false) return i;
    if (r === 'open') {
      r = value();
      continue;
    }
    ws();
    const top = stack[stack.length - 1];
    if (top === undefined) return i < n ? i : -1;
    if (text[i] === ',') {
      i++;
      if (top === '{') {
        ws();
        if (!str()) return i;
        ws();
        if (text[i] !== ':') return i;
        i++;
      }
      r = value();
    } else if (text[i] === (top === '{' ? '}' : ']')) {
      stack.pop();
      i++;
      r = true;
    } else return i;
  }
}

/** Where a chunked JSON document stops being JSON; `offset` counts bytes, `column` bytes of its line. */
export class JsonSyntaxError extends Error {
  constructor(
    readonly offset: number,
    readonly line: number,
    readonly column: number,
    readonly found: string | null,
  ) {
    super(`is not valid JSON: ${found === null ? 'unexpected end of file' : `unexpected ${JSON.stringify(found)}`} at line ${line}, column ${column} (offset ${offset})`);
  }
}

type ReaderState = 'start' | 'firstKey' | 'key' | 'colon' | 'value' | 'afterMember' | 'firstElement' | 'element' | 'afterElement' | 'end';

interface Capture {
  kind: 'string' | 'container' | 'scalar';
  parts: Uint8Array[];
  size: number;
  depth: number;
  inString: boolean;
  escaped: boolean;
  offset: number;
  line: number;
  column: number;
}

const utf8 = new TextDecoder('utf-8');
const UTF8_BOM = [0xef, 0xbb, 0xbf];
/**
 * No COCO image or annotation comes near this; a value that grows past it is a string or bracket
 * left open by a syntax error, located then rather than after buffering the rest of the file.
 */
const MAX_VALUE_BYTES = 64 * 2 ** 20;

/**
 * Parses a JSON document fed in byte chunks without ever holding its text whole: each member of
 * the top-level object, and each element of a top-level array (COCO's images and annotations), is
 * cut out by a byte scanner and parsed on its own. So files beyond V8's longest string (512 MiB;
 * LVIS and Objects365 are larger) can be read, and the text is never resident next to its parsed
 * form. The result equals JSON.parse's. Syntax errors throw a JsonSyntaxError with the position.
 */
export class ChunkedJsonReader {
  private state: ReaderState = 'start';
  private root: unknown = undefined;
  private array: unknown[] | null = null;
  private key = '';
  private cap: Capture | null = null;
  private onValue: (v: unknown) => void = () => undefined;
  private offset = 0;
  private line = 1;
  private lineStart = 0;
  /** Bytes of a byte order mark seen so far; -1 once past it. */
  private bom = 0;

  push(chunk: Uint8Array): void {
    let i = 0;
    // A UTF-8 byte order mark is not JSON but common in files saved on Windows; it may arrive split.
    while (this.bom >= 0 && i < chunk.length) {
      if (chunk[i] !== UTF8_BOM[this.bom]) {
        if (this.bom > 0) throw new JsonSyntaxError(0, 1, 1, null);
        this.bom = -1;
        break;
      }
      i++;
      if (++this.bom === 3) {
        this.offset = this.lineStart = 3;
        this.bom = -1;
      }
    }
    let capStart = this.cap ? 0 : -1;
    for (; i < chunk.length; i++) {
      const b = chunk[i]!;
      const cap = this.cap;
      if (cap) {
        let done = false;
        let include = true;
        if (cap.kind === 'scalar') {
          if (b === 0x2c || b === 0x5d || b === 0x7d || b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09) {
            done = true;
            include = false;
          }
        } else if (cap.inString) {
          if (cap.escaped) cap.escaped = false;
          else if (b === 0x5c) cap.escaped = true;
          else if (b === 0x22) {
            cap.inString = false;
            if (cap.kind === 'string') done = true;
          }
        } else if (b === 0x22) cap.inString = true;
        else if (b === 0x7b || b === 0x5b) cap.depth++;
        else if (b === 0x7d || b === 0x5d) {
          cap.depth--;
          if (cap.depth === 0) done = true;
        }
        if (!done) {
          this.advance(b);
          continue;
        }
        cap.parts.push(chunk.subarray(capStart, include ? i + 1 : i));
        this.cap = null;
        capStart = -1;
        this.finish(cap);
        if (include) {
          this.advance(b);
          continue;
        }
      }
      if (b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09) {
        this.advance(b);
        continue;
      }
      switch (this.state) {
        case 'start':
          if (b === 0x7b) {
            this.root = {};
            this.state = 'firstKey';
          } else if (b === 0x5b) {
            this.root = this.array = [];
            this.state = 'firstElement';
          } else {
            this.begin(b, (v) => {
              this.root = v;
              this.state = 'end';
            });
            capStart = i;
          }
          break;
        case 'firstKey':
        case 'key':
          if (b === 0x7d && this.state === 'firstKey') this.state = 'end';
          else if (b === 0x22) {
            this.begin(b, (v) => {
              this.key = v as string;
              this.state = 'colon';
            });
            capStart = i;
          } else this.fail(chunk, i);
          break;
        case 'colon':
          if (b === 0x3a) this.state = 'value';
          else this.fail(chunk, i);
          break;
        case 'value':
          if (b === 0x5b) {
            this.array = [];
            setOwn(this.root as Record<string, unknown>, this.key, this.array);
            this.state = 'firstElement';
          } else if (b === 0x5d || b === 0x7d || b === 0x2c || b === 0x3a) this.fail(chunk, i);
          else {
            this.begin(b, (v) => {
              setOwn(this.root as Record<string, unknown>, this.key, v);
              this.state = 'afterMember';
            });
            capStart = i;
          }
          break;
        case 'afterMember':
          if (b === 0x2c) this.state = 'key';
          else if (b === 0x7d) this.state = 'end';
          else this.fail(chunk, i);
          break;
        case 'firstElement':
        case 'element':
          if (b === 0x5d && this.state === 'firstElement') this.closeArray();
          else if (b === 0x5d || b === 0x7d || b === 0x2c || b === 0x3a) this.fail(chunk, i);
          else {
            const arr = this.array!;
            this.begin(b, (v) => {
              arr.push(v);
              this.state = 'afterElement';
            });
            capStart = i;
          }
          break;
        case 'afterElement':
          if (b === 0x2c) this.state = 'element';
          else if (b === 0x5d) this.closeArray();
          else this.fail(chunk, i);
          break;
        case 'end':
          this.fail(chunk, i);
      }
      this.advance(b);
    }
    if (this.cap && capStart >= 0) {
      this.cap.parts.push(chunk.subarray(capStart));
      this.cap.size += chunk.length - capStart;
      if (this.cap.size > MAX_VALUE_BYTES) {
        this.locate(this.cap);
        throw new JsonSyntaxError(this.cap.offset, this.cap.line, this.cap.column, `a value over ${MAX_VALUE_BYTES / 2 ** 20} MiB`);
      }
    }
  }

  /** The parsed document; throws a JsonSyntaxError when the input stopped short. */
  end(): unknown {
    if (this.cap?.kind === 'scalar') {
      const cap = this.cap;
      this.cap = null;
      this.finish(cap);
    }
    if (this.cap) this.locate(this.cap);
    if (this.state !== 'end') throw new JsonSyntaxError(this.offset, this.line, this.offset - this.lineStart + 1, null);
    return this.root;
  }

  private advance(b: number): void {
    this.offset++;
    if (b === 0x0a) {
      this.line++;
      this.lineStart = this.offset;
    }
  }

  private closeArray(): void {
    this.array = null;
    this.state = this.root === undefined || Array.isArray(this.root) ? 'end' : 'afterMember';
  }

  private begin(b: number, onValue: (v: unknown) => void): void {
    this.cap = {
      kind: b === 0x22 ? 'string' : b === 0x7b || b === 0x5b ? 'container' : 'scalar',
      parts: [],
      size: 0,
      depth: b === 0x7b || b === 0x5b ? 1 : 0,
      inString: b === 0x22,
      escaped: false,
      offset: this.offset,
      line: this.line,
      column: this.offset - this.lineStart + 1,
    };
    this.onValue = onValue;
  }

  private text(cap: Capture): string {
    if (cap.parts.length === 1) return utf8.decode(cap.parts[0]!);
    const bytes = new Uint8Array(cap.parts.reduce((n, p) => n + p.length, 0));
    let o = 0;
    for (const p of cap.parts) {
      bytes.set(p, o);
      o += p.length;
    }
    return utf8.decode(bytes);
  }

  /** Throws the first syntax error inside a captured value (one that ended, or the input did); returns if there is none. */
  private locate(cap: Capture, text = this.text(cap)): void {
    const at = jsonSyntaxErrorOffset(text);
    if (at < 0 || (at >= text.length && this.cap === cap)) return;
    // Positions inside a value are counted in characters, which equal bytes for ASCII text.
    const { line, column } = lineColumn(text, at);
    throw new JsonSyntaxError(cap.offset + at, cap.line + line - 1, line === 1 ? cap.column + column - 1 : column, at >= text.length ? null : text.slice(at, at + 12));
  }

  private finish(cap: Capture): void {
    const text = this.text(cap);
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch {
      this.locate(cap, text);
      throw new JsonSyntaxError(cap.offset, cap.line, cap.column, text.slice(0, 12));
    }
    this.onValue(v);
  }

  private fail(chunk: Uint8Array, i: number): never {
    throw new JsonSyntaxError(this.offset, this.line, this.offset - this.lineStart + 1, utf8.decode(chunk.subarray(i, i + 12)));
  }
}

interface Category {
  id: Id;
  name: string;
  /** Its JSON path, for problems. */
  where: string;
  /**
   * From the category's `keypoints` and `skeleton`: absent without a `keypoints` list; names
   * null while a list was given empty (named by number from the first annotation's length).
   */
  keypoints?: { names: string[] | null; skeleton: [number, number][]; problem?: string };
}

/**
 * A category's `keypoints` (names) and `skeleton` (pairs numbered from 1, as COCO numbers
 * keypoints). A skeleton naming keypoint 0 cannot be 1-based: it is read as 0-based, with a
 * warning (Datumaro's fixtures write it so).
 */
function categoryKeypoints(c: Obj, where: string, warn: (at: string, m: string) => void): { names: string[] | null; skeleton: [number, number][] } | { problem: string } | undefined {
  const names = c['keypoints'];
  const skel = c['skeleton'];
  if (names === undefined) {
    if (skel !== undefined) warn(`${where}.skeleton`, 'is given without a keypoints list and is ignored');
    return undefined;
  }
  if (!Array.isArray(names)) return { problem: `${where}.keypoints must be a list of keypoint names, not ${describe(names)}` };
  const bad = names.findIndex((n) => typeof n !== 'string' || n.trim() === '');
  if (bad >= 0) return { problem: `${where}.keypoints[${bad}] must be a non-empty name, not ${describe(names[bad])}` };
  if (names.length > MAX_KEYPOINTS) return { problem: `${where}.keypoints has ${names.length} names; at most ${MAX_KEYPOINTS} are supported` };
  const edges: [number, number][] = [];
  if (skel !== undefined) {
    if (!Array.isArray(skel)) return { problem: `${where}.skeleton must be a list of [a, b] pairs, not ${describe(skel)}` };
    for (const [i, e] of skel.entries()) {
      if (!Array.isArray(e) || e.length !== 2 || !e.every((k) => typeof k === 'number' && Number.isSafeInteger(k) && k >= 0)) {
        return { problem: `${where}.skeleton[${i}] must be a pair of keypoint numbers (from 1), not ${Array.isArray(e) ? JSON.stringify(e) : describe(e)}` };
      }
      edges.push([e[0] as number, e[1] as number]);
    }
  }
  const zeroBased = edges.some(([a, b]) => a === 0 || b === 0);
  if (zeroBased) warn(`${where}.skeleton`, 'names keypoint 0, but COCO numbers keypoints from 1: read as numbered from 0');
  const skeleton = edges.map(([a, b]) => (zeroBased ? [a, b] : [a - 1, b - 1]) as [number, number]);
  return { names: names.length === 0 ? null : (names as string[]).map((n) => n.trim()), skeleton };
}

/** The category's schema once its keypoint count is known, or why it cannot be one. */
function resolveSchema(cat: Category, where: string, count: number): KeypointSchema | string {
  const k = cat.keypoints!;
  if (k.problem) return k.problem;
  if (k.names === null) k.names = Array.from({ length: count }, (_, i) => String(i + 1));
  const schema = { names: k.names, skeleton: k.skeleton };
  const problem = keypointSchemaProblem(schema);
  if (problem) k.problem = `${where}: ${problem}`;
  return k.problem ?? schema;
}

/**
 * Reads one parsed COCO instances file. Every problem is reported with its JSON path and the bad
 * item skipped; nothing throws. Categories become classes in category-id order (ids may have
 * gaps; annotations carry names). When both `segmentation` and `bbox` are present the
 * segmentation is the geometry, the bbox being derivable from it; `[]` segmentation falls back to
 * the bbox. Keys beyond COCO's become attributes; an `attributes` object (the CVAT and Datumaro
 * convention) is merged into them, its entries winning over same-named top-level keys.
 * Coordinate and run arrays of the result are those of `doc` (not copied: a large file's parsed
 * form is dropped after conversion, and copying would double the peak memory).
 */
export function cocoToInterchange(doc: unknown, opts: CocoReadOptions): InterchangeDataset {
  const problems: FormatProblem[] = [];
  const counters: Record<string, number> = {};
  const out: InterchangeDataset = { format: 'coco', classes: [], images: [], problems, counters };
  const err = (where: string, message: string) => problems.push({ file: opts.file, where, severity: 'error', message });
  const warn = (where: string, message: string) => problems.push({ file: opts.file, where, severity: 'warning', message });

  if (Array.isArray(doc)) {
    err('$', 'is a COCO results list (detections without images or categories); open a folder holding it beside its ground-truth instances file instead');
    return out;
  }
  if (!isObj(doc)) {
    err('$', `must be a JSON object with images, annotations and categories, not ${describe(doc)}`);
    return out;
  }
  const list = (key: string): unknown[] => {
    const v = doc[key];
    if (Array.isArray(v)) return v;
    err(key, `must be an array, not ${describe(v)}`);
    return [];
  };

  const categories = new Map<Id, Category>();
  list('categories').forEach((c, i) => {
    const where = `categories[${i}]`;
    if (!isObj(c)) return err(where, `must be an object, not ${describe(c)}`);
    if (!isId(c['id'])) return err(`${where}.id`, `must be an integer or a string, not ${describe(c['id'])}`);
    if (typeof c['name'] !== 'string' || c['name'].trim() === '') return err(`${where}.name`, `must be a non-empty string, not ${describe(c['name'])}`);
    if (categories.has(c['id'])) return err(`${where}.id`, `category id ${describe(c['id'])} is used twice; this one (${describe(c['name'])}) is skipped`);
    const cat: Category = { id: c['id'], name: c['name'], where };
    const kp = categoryKeypoints(c, where, warn);
    if (kp && 'problem' in kp) {
      err(where, `${kp.problem}; the keypoints of its annotations are skipped`);
      cat.keypoints = { names: [], skeleton: [], problem: kp.problem };
    } else if (kp) cat.keypoints = kp;
    categories.set(c['id'], cat);
  });
  const seenNames = new Set<string>();
  const cocoCategoryIds: Record<string, number> = {};
  for (const c of [...categories.values()].sort((a, b) => compareIds(a.id, b.id))) {
    if (seenNames.has(c.name)) warn('categories', `category name ${describe(c.name)} is used by more than one id; their annotations share one class`);
    else {
      out.classes.push(c.name);
      if (typeof c.id === 'number' && Number.isSafeInteger(c.id)) cocoCategoryIds[c.name] = c.id;
    }
    seenNames.add(c.name);
  }
  out.cocoCategoryIds = cocoCategoryIds;

  const prefix = opts.keyPrefix ? opts.keyPrefix.replace(/\/+$/, '') : '';
  const images = new Map<Id, InterchangeImage>();
  const skippedImages = new Set<Id>();
  const keys = new Set<string>();
  list('images').forEach((im, i) => {
    const where = `images[${i}]`;
    if (!isObj(im)) return err(where, `must be an object, not ${describe(im)}`);
    const id = im['id'];
    if (!isId(id)) return err(`${where}.id`, `must be an integer or a string, not ${describe(id)}`);
    if (images.has(id) || skippedImages.has(id)) return err(`${where}.id`, `image id ${describe(id)} is used twice; this image is skipped`);
    const skip = (at: string, why: string) => {
      skippedImages.add(id);
      err(at, `${why}; the image and its annotations are skipped`);
    };
    const name = im['file_name'];
    if (typeof name !== 'string') return skip(`${where}.file_name`, `must be a string, not ${describe(name)}`);
    const rel = safeRelativeKey(name);
    if (rel === null) return skip(`${where}.file_name`, `${describe(name)} is absolute, empty or leads outside the image folder`);
    const key = prefix ? `${prefix}/${rel}` : rel;
    if (keys.has(key)) return skip(`${where}.file_name`, `${describe(name)} is listed twice`);
    const w = im['width'];
    const h = im['height'];
    const image: InterchangeImage = { file: key, tags: [], annotations: [] };
    if (typeof id === 'number' && Number.isSafeInteger(id)) image.cocoId = id;
    if (w === undefined && h === undefined) warn(where, 'has no width and height');
    else {
      for (const [k, v] of [['width', w], ['height', h]] as const) {
        if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) return skip(`${where}.${k}`, `must be a positive integer, not ${describe(v)}`);
      }
      image.width = w as number;
      image.height = h as number;
    }
    if (opts.split) image.split = opts.split;
    const tags = im['tags'];
    if (Array.isArray(tags) && tags.every((t) => typeof t === 'string')) image.tags = tags.slice() as string[];
    keys.add(key);
    images.set(id, image);
    out.images.push(image);
  });

  const annotationIds = new Set<Id>();
  // Results files (detections) hold annotations of this file's images with their own ids, if any.
  const annotate = (a: unknown, where: string, file: string, result: boolean) => {
    const err = (at: string, message: string) => problems.push({ file, where: at, severity: 'error', message });
    const warn = (at: string, message: string) => problems.push({ file, where: at, severity: 'warning', message });
    const inThis = result ? `the ground truth ${opts.file}` : 'this file';
    if (!isObj(a)) return err(where, `must be an object, not ${describe(a)}`);
    const id = a['id'];
    if (result) {
      if (typeof a['score'] !== 'number') return err(`${where}.score`, `a detection needs a score, not ${describe(a['score'])}`);
    } else if (id === undefined) warn(`${where}.id`, 'is missing');
    else if (!isId(id)) return err(`${where}.id`, `must be an integer or a string, not ${describe(id)}`);
    else if (annotationIds.has(id)) return err(`${where}.id`, `annotation id ${describe(id)} is used twice; this one is skipped`);
    else annotationIds.add(id);

    const imageId = a['image_id'];
    if (skippedImages.has(imageId as Id)) {
      counters['annotationsOfSkippedImages'] = (counters['annotationsOfSkippedImages'] ?? 0) + 1;
      return;
    }
    const image = isId(imageId) ? images.get(imageId) : undefined;
    if (!image) return err(`${where}.image_id`, `${describe(imageId)} is not the id of an image in ${inThis}`);
    const cat = isId(a['category_id']) ? categories.get(a['category_id']) : undefined;
    if (!cat) return err(`${where}.category_id`, `${describe(a['category_id'])} is not the id of a category in ${inThis}`);

    const crowdRaw = a['iscrowd'];
    let crowd = false;
    if (crowdRaw === 1 || crowdRaw === true) crowd = true;
    else if (!(crowdRaw === undefined || crowdRaw === 0 || crowdRaw === false)) return err(`${where}.iscrowd`, `must be 0 or 1, not ${describe(crowdRaw)}`);

    const score = a['score'];
    if (score !== undefined && (typeof score !== 'number' || !Number.isFinite(score))) return err(`${where}.score`, `must be a number, not ${describe(score)}`);

    const kpRaw = a['keypoints'];
    if (kpRaw !== undefined) {
      const kp = readKeypoints(kpRaw, a['num_keypoints'], cat, cat.where, `${where}.keypoints`, err, warn, inThis);
      if (kp === 'none') counters['keypointsNoneLabelled'] = (counters['keypointsNoneLabelled'] ?? 0) + 1;
      else if (kp !== null) {
        const kpAnn: InterchangeAnnotation = { label: cat.name, geometry: kp, attributes: attributesOf(a) };
        if (score !== undefined) kpAnn.score = score as number;
        image.annotations.push(kpAnn);
      }
      const seg0 = a['segmentation'];
      const hasSeg = (Array.isArray(seg0) && seg0.length > 0) || isObj(seg0);
      // A keypoints-only object (no outline, no box) is the keypoints alone; so is one whose box
      // is just the box of its labelled keypoints (what a keypoints object is exported with).
      if (!hasSeg && a['bbox'] === undefined) return;
      if (!hasSeg && kp !== null && kp !== 'none' && sameBox(a['bbox'], geometryBBox(kp))) return;
    }
    const area = a['area'];
    if (area !== undefined && (typeof area !== 'number' || !Number.isFinite(area) || area < 0)) warn(`${where}.area`, `must be a non-negative number, not ${describe(area)} (area is recomputed from the geometry)`);

    const bboxRaw = a['bbox'];
    let bbox: Geometry | null = null;
    let bboxProblem: string | null = null;
    if (bboxRaw !== undefined) {
      const bad = Array.isArray(bboxRaw) ? bboxRaw.findIndex((n) => typeof n !== 'number' || !Number.isFinite(n)) : -1;
      if (!Array.isArray(bboxRaw) || bboxRaw.length !== 4 || bad >= 0) {
        const why = !Array.isArray(bboxRaw) ? describe(bboxRaw) : bboxRaw.length !== 4 ? `${bboxRaw.length} numbers` : `${describe(bboxRaw[bad])} at ${bad}`;
        bboxProblem = `must be [x, y, width, height] as four finite numbers, not ${why}`;
      } else {
        const [x, y, w, h] = bboxRaw as [number, number, number, number];
        if (w < 0 || h < 0) bboxProblem = `has a negative size (${w} x ${h})`;
        else bbox = { kind: 'box', x, y, w, h };
      }
    }

    const seg = a['segmentation'];
    let geometry: Geometry | null = null;
    if (Array.isArray(seg) && seg.length > 0) {
      const parts: number[][] = [];
      for (let j = 0; j < seg.length; j++) {
        const why = polygonPartProblem(seg[j]);
        if (why) err(`${where}.segmentation[${j}]`, seg.length > 1 ? `${why}; this part is skipped` : why);
        else parts.push(seg[j] as number[]);
      }
      if (parts.length === 0) return err(`${where}.segmentation`, 'has no usable polygon part; the annotation is skipped');
      geometry = { kind: 'polygon', parts };
    } else if (isObj(seg)) {
      const r = parseCocoRle(seg);
      if ('problem' in r) return err(`${where}.segmentation`, r.problem);
      geometry = { kind: 'mask', rle: r.rle };
    } else if (seg !== undefined && !(Array.isArray(seg) && seg.length === 0)) {
      return err(`${where}.segmentation`, `must be a list of polygons or an RLE object, not ${describe(seg)}`);
    }
    if (geometry === null) {
      if (bboxProblem) return err(`${where}.bbox`, bboxProblem);
      if (!bbox) return err(where, 'has neither a segmentation nor a bbox');
      geometry = bbox;
    } else if (bboxProblem) warn(`${where}.bbox`, `${bboxProblem} (not used: the segmentation is the geometry)`);

    const size = image.width !== undefined && image.height !== undefined ? { width: image.width, height: image.height } : geometry.kind === 'mask' ? { width: geometry.rle.size[1], height: geometry.rle.size[0] } : { width: 1, height: 1 };
    // A ring with a non-zero signed area has three vertices off one line, which is all
    // validateGeometry asks of a polygon with finite coordinates; its slower checks (a Set of
    // vertices per ring) only run for the rings that may fail them.
    const plainPolygon = geometry.kind === 'polygon' && geometry.parts.every((p) => ringSignedArea(p) !== 0);
    const invalid = plainPolygon ? null : validateGeometry(geometry, size);
    if (invalid) return err(geometry.kind === 'box' ? `${where}.bbox` : `${where}.segmentation`, invalid);

    const attributes = attributesOf(a);
    // Crowd regions keep the file's area and box where they differ from the mask's (see reference.ts).
    const reference = result || !crowd ? null : cocoReference(geometry, area, bboxRaw);
    if (reference !== null) attributes[COCO_REFERENCE_ATTRIBUTE] = reference;

    const ann: InterchangeAnnotation = { label: cat.name, geometry, attributes, crowd };
    if (score !== undefined) ann.score = score as number;
    image.annotations.push(ann);
  };
  list('annotations').forEach((a, i) => annotate(a, `annotations[${i}]`, opts.file, false));
  const classKeypoints: Record<string, KeypointSchema> = {};
  for (const c of [...categories.values()].sort((a, b) => compareIds(a.id, b.id))) {
    const k = c.keypoints;
    if (k && !k.problem && k.names !== null && k.names.length > 0 && !Object.hasOwn(classKeypoints, c.name)) {
      const schema = { names: k.names, skeleton: k.skeleton };
      const problem = keypointSchemaProblem(schema);
      if (problem) err(c.where, problem);
      else setOwn(classKeypoints, c.name, schema);
    }
  }
  if (Object.keys(classKeypoints).length > 0) out.classKeypoints = classKeypoints;
  for (const r of opts.results ?? []) {
    if (!Array.isArray(r.doc)) {
      problems.push({ file: r.file, where: '$', severity: 'error', message: `must be a COCO results list (an array of detections), not ${describe(r.doc)}` });
      continue;
    }
    r.doc.forEach((a, i) => annotate(a, `[${i}]`, r.file, true));
  }
  return out;
}

function sameBox(raw: unknown, r: { x: number; y: number; w: number; h: number }): boolean {
  return Array.isArray(raw) && raw.length === 4 && raw[0] === r.x && raw[1] === r.y && raw[2] === r.w && raw[3] === r.h;
}

/** Keys beyond COCO's, and the entries of an `attributes` object, as annotation attributes. */
function attributesOf(a: Obj): Record<string, AttributeValue> {
  const attributes: Record<string, AttributeValue> = {};
  for (const [k, v] of Object.entries(a)) if (!RESERVED.has(k)) setOwn(attributes, k, scalarOrString(v));
  const nested = a['attributes'];
  if (isObj(nested)) for (const [k, v] of Object.entries(nested)) setOwn(attributes, k, scalarOrString(v));
  else if (nested !== undefined) attributes['attributes'] = scalarOrString(nested);
  return attributes;
}

/**
 * An annotation's `keypoints` ([x, y, v] per keypoint of its category) as a keypoints geometry;
 * 'none' when no keypoint is labelled (COCO's crowd and tiny persons: nothing to draw), null
 * after reporting a problem. Unlabelled keypoints (v 0) are stored at (0, 0), as COCO writes them.
 */
function readKeypoints(
  raw: unknown,
  numRaw: unknown,
  cat: Category,
  catWhere: string,
  where: string,
  err: (at: string, m: string) => void,
  warn: (at: string, m: string) => void,
  inThis: string,
): Geometry | 'none' | null {
  if (!cat.keypoints) {
    err(where, `category ${describe(cat.name)} (id ${describe(cat.id)}) has no keypoints list in ${inThis}; the keypoints are skipped`);
    return null;
  }
  if (!Array.isArray(raw)) {
    err(where, `must be a list of x, y, visibility triples, not ${describe(raw)}; the keypoints are skipped`);
    return null;
  }
  const bad = raw.findIndex((n) => typeof n !== 'number' || !Number.isFinite(n));
  if (bad >= 0) {
    err(where, `value ${bad} is ${describe(raw[bad])}, not a finite number; the keypoints are skipped`);
    return null;
  }
  if (raw.length % 3 !== 0 || raw.length === 0) {
    err(where, `has ${raw.length} numbers, not x, y, visibility triples; the keypoints are skipped`);
    return null;
  }
  const schema = resolveSchema(cat, catWhere, raw.length / 3);
  if (typeof schema === 'string') {
    err(where, `${schema}; the keypoints are skipped`);
    return null;
  }
  if (raw.length !== schema.names.length * 3) {
    err(where, `has ${raw.length / 3} keypoints, but category ${describe(cat.name)} has ${schema.names.length} (${3 * schema.names.length} numbers expected); the keypoints are skipped`);
    return null;
  }
  const points = (raw as number[]).slice();
  let labelled = 0;
  for (let i = 0; i < points.length; i += 3) {
    const v = points[i + 2]!;
    if (v !== 0 && v !== 1 && v !== 2) {
      err(where, `keypoint ${i / 3 + 1} (${schema.names[i / 3]}) has visibility ${v}, not 0, 1 or 2; the keypoints are skipped`);
      return null;
    }
    if (v === 0) points[i] = points[i + 1] = 0;
    else labelled++;
  }
  if (numRaw !== undefined && numRaw !== labelled) warn(`${where.replace(/\.keypoints$/, '')}.num_keypoints`, `is ${describe(numRaw)}, but ${labelled} keypoints are labelled (the keypoints are what is kept)`);
  return labelled === 0 ? 'none' : { kind: 'keypoints', points };
}

// ---------------------------------------------------------------------------------------------
// Writing

export type CocoSegmentationMode = 'polygon' | 'rle';

export interface CocoCategory {
  id: number;
  name: string;
  supercategory: string;
  /** Keypoint names, for classes with a keypoint schema. */
  keypoints?: string[];
  /** Edges between keypoints numbered from 1, as COCO numbers them. */
  skeleton?: [number, number][];
}

export interface CocoImageEntry {
  id: number;
  file_name: string;
  width: number;
  height: number;
  tags?: string[];
}

export type CocoSegmentation = number[][] | { size: [number, number]; counts: number[] | string };

export interface CocoAnnotationEntry {
  id: number;
  image_id: number;
  category_id: number;
  segmentation: CocoSegmentation;
  area: number;
  bbox: [number, number, number, number];
  iscrowd: 0 | 1;
  score?: number;
  attributes?: Record<string, AttributeValue>;
  /** x, y, visibility per keypoint of the category (keypoints objects). */
  keypoints?: number[];
  num_keypoints?: number;
  [extra: string]: unknown;
}

/** Category ids are the class position + 1: COCO reserves 0 for background in many tools. */
export function cocoCategoryId(classIndex: number): number {
  return classIndex + 1;
}

export function cocoCategories(classes: readonly ExportClass[]): CocoCategory[] {
  return [...classes]
    .sort((a, b) => a.index - b.index)
    .map((c) => {
      const cat: CocoCategory = { id: c.cocoId ?? cocoCategoryId(c.index), name: c.name, supercategory: '' };
      if (c.keypoints) {
        cat.keypoints = c.keypoints.names.slice();
        cat.skeleton = c.keypoints.skeleton.map(([a, b]) => [a + 1, b + 1]);
      }
      return cat;
    });
}

/**
 * The start of a COCO file up to the opening of its `images` array. `images` comes first, as in
 * the COCO releases, so a reader sniffing the first kilobytes sees it whatever the class count;
 * categories close the file (see cocoFooter).
 */
export function cocoHeader(): string {
  const info = { description: 'Exported by Tessera', version: '1.0' };
  return `{"info":${JSON.stringify(info)},"licenses":[],"images":[`;
}
export const COCO_BETWEEN = '],"annotations":[';
export function cocoFooter(classes: readonly ExportClass[]): string {
  return `],"categories":${JSON.stringify(cocoCategories(classes))}}\n`;
}

export function cocoImageEntry(image: ExportImage, fileName: string): CocoImageEntry {
  const e: CocoImageEntry = { id: image.cocoId ?? image.id, file_name: fileName, width: image.width, height: image.height };
  if (image.tags.length > 0) e.tags = image.tags.slice();
  return e;
}

/** The vertex extent of polygon parts, or why they cannot be written. */
function polygonExtent(parts: readonly (readonly number[])[]): { x: number; y: number; w: number; h: number } | string {
  if (parts.length === 0) return 'a polygon needs at least one part';
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -Infinity;
  let y1 = -Infinity;
  for (const p of parts) {
    if (p.length % 2 !== 0 || p.length < 6) return `a polygon part needs an even number of coordinates, at least 6 (it has ${p.length})`;
    for (let i = 0; i < p.length; i += 2) {
      const x = p[i]!;
      const y = p[i + 1]!;
      if (!Number.isFinite(x) || !Number.isFinite(y)) return 'coordinates must be finite numbers';
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
    }
  }
  return { x: x0, y: y0, w: x1 - x0, h: y1 - y0 };
}

/**
 * Masks are written the way the COCO dataset itself stores them: crowd regions as an
 * uncompressed counts list, every other mask as the compressed string.
 */
function rleSegmentation(rle: { size: [number, number]; counts: number[] }, crowd: boolean): CocoSegmentation {
  return { size: [rle.size[0], rle.size[1]], counts: crowd ? rle.counts.slice() : rleToString(rle) };
}

export type CocoEntryResult = { entry: CocoAnnotationEntry } | { skip: { kind: string; message: string } };

type CocoShape = { segmentation: CocoSegmentation; area: number; bbox: [number, number, number, number] } | { skip: { kind: string; message: string } };

function invalidShape(g: Geometry, why: string): CocoShape {
  return { skip: { kind: `invalid:${g.kind}`, message: `a ${g.kind} COCO cannot hold was skipped: ${why}` } };
}

/** Segmentation, area and bbox of one annotation's geometry (see cocoAnnotationEntry). */
function cocoShape(g: Geometry, image: ExportImage, mode: CocoSegmentationMode, crowd: boolean): CocoShape {
  // Stored geometry was validated when it was stored; these checks are only what keeps the file
  // well-formed (no NaN written as null, runs covering the image), cheap enough for millions.
  switch (g.kind) {
    case 'box': {
      if (!(Number.isFinite(g.x) && Number.isFinite(g.y) && Number.isFinite(g.w) && Number.isFinite(g.h))) return invalidShape(g, 'coordinates must be finite numbers');
      if (g.w === 0 || g.h === 0) return invalidShape(g, `zero area (${g.w} x ${g.h})`);
      const r = geometryBBox(g);
      return { segmentation: [], area: r.w * r.h, bbox: [r.x, r.y, r.w, r.h] };
    }
    case 'polygon': {
      const r = polygonExtent(g.parts);
      if (typeof r === 'string') return invalidShape(g, r);
      if (mode === 'rle') {
        let rle;
        try {
          rle = polygonToRle(g.parts, image.height, image.width);
        } catch (e) {
          return invalidShape(g, (e as Error).message);
        }
        const m = rleBBox(rle);
        return { segmentation: rleSegmentation(rle, crowd), area: rleArea(rle), bbox: [m.x, m.y, m.w, m.h] };
      }
      let area;
      try {
        area = polygonArea(g.parts, image.height, image.width);
      } catch (e) {
        return invalidShape(g, (e as Error).message);
      }
      // The parts themselves: cocoAnnotationEntry copies them, the JSON text needs no copy.
      return { segmentation: g.parts as number[][], area, bbox: [r.x, r.y, r.w, r.h] };
    }
    case 'mask': {
      const [h, w] = g.rle.size;
      if (h !== image.height || w !== image.width) return invalidShape(g, `mask is ${w}x${h} but the image is ${image.width}x${image.height}`);
      let total = 0;
      for (const c of g.rle.counts) {
        if (!Number.isSafeInteger(c) || c < 0) return invalidShape(g, 'mask runs must be non-negative whole numbers');
        total += c;
      }
      if (total !== h * w) return invalidShape(g, `mask runs cover ${total} pixels, not ${h * w}`);
      const area = rleArea(g.rle);
      if (area === 0) return invalidShape(g, 'the mask is empty');
      const r = rleBBox(g.rle);
      return { segmentation: rleSegmentation(g.rle, crowd), area, bbox: [r.x, r.y, r.w, r.h] };
    }
    case 'keypoints': {
      // A keypoints object has no outline of its own: its box is that of its labelled points.
      if (g.points.some((n) => !Number.isFinite(n))) return invalidShape(g, 'coordinates must be finite numbers');
      const r = geometryBBox(g);
      return { segmentation: [], area: r.w * r.h, bbox: [r.x, r.y, r.w, r.h] };
    }
    default:
      return { skip: { kind: `unsupported:${g.kind}`, message: `COCO instances cannot hold a ${g.kind}; it was skipped` } };
  }
}

/**
 * One annotation as a COCO entry. `area` is what COCO evaluation uses: boxes w*h, masks their
 * pixel count, polygons the pixel count of pycocotools' rasterisation. `bbox` is the vertex extent
 * for boxes and polygons (exact, where the rasterised extent would round to whole pixels) and
 * COCO's toBbox for masks and polygons written as RLE. In 'rle' mode polygons are rasterised
 * like pycocotools; boxes stay boxes (bbox with an empty segmentation) in both modes.
 * Attributes become annotation keys, except names COCO uses, which go in an `attributes` object.
 */
export function cocoAnnotationEntry(ann: ExportImage['annotations'][number], image: ExportImage, mode: CocoSegmentationMode): CocoEntryResult {
  const crowd = ann.crowd === true;
  const shape = cocoShape(ann.geometry, image, mode, crowd);
  if ('skip' in shape) return shape;
  const entry: CocoAnnotationEntry = {
    id: ann.id,
    image_id: image.cocoId ?? image.id,
    category_id: cocoCategoryId(ann.classIndex),
    segmentation: Array.isArray(shape.segmentation) ? shape.segmentation.map((p) => p.slice()) : shape.segmentation,
    area: shape.area,
    bbox: shape.bbox,
    iscrowd: crowd ? 1 : 0,
  };
  const g = ann.geometry;
  if (g.kind === 'keypoints') {
    entry.keypoints = g.points.slice();
    let n = 0;
    for (let i = 2; i < g.points.length; i += 3) if (g.points[i]! > 0) n++;
    entry.num_keypoints = n;
  }
  if (ann.score !== undefined && ann.score !== null && Number.isFinite(ann.score)) entry.score = ann.score;
  let nested: Record<string, AttributeValue> | undefined;
  for (const [k, v] of Object.entries(ann.attributes)) {
    if (RESERVED.has(k)) setOwn((nested ??= {}), k, v);
    else setOwn(entry, k, v);
  }
  if (nested) entry.attributes = nested;
  return { entry };
}

/**
 * The text of `parts` inside a polygon's stored JSON, which is JSON.stringify's: the same text
 * JSON.stringify(parts) gives again, since its numbers are already the shortest that read back.
 * Copying it spares formatting every coordinate anew. Null when the text holds anything but
 * nested arrays of plain numbers (then the parts are formatted as usual).
 */
function storedParts(json: string): string | null {
  const at = json.indexOf('"parts":[');
  if (at < 0) return null;
  const start = at + 8;
  let depth = 0;
  for (let i = start; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (c === 91) depth++; // [
    else if (c === 93) {
      // ]
      if (--depth === 0) return json.slice(start, i + 1);
    } else if (!((c >= 48 && c <= 57) || c === 44 || c === 45 || c === 46 || c === 101 || c === 43)) return null; // digits , - . e +
  }
  return null;
}

/**
 * One annotation's entry as JSON text, the very text JSON.stringify gives for
 * cocoAnnotationEntry's entry (with `categoryId` as its category_id), built without the entry
 * object: an export writes millions. Annotations with attributes go through the object, whose
 * key order JSON.stringify decides.
 */
export function cocoAnnotationJson(
  ann: ExportImage['annotations'][number],
  image: ExportImage,
  mode: CocoSegmentationMode,
  categoryId: number,
): { json: string } | { skip: { kind: string; message: string } } {
  // Keypoints objects are few (one per person) and go through the entry like attributes do.
  if (ann.geometry.kind === 'keypoints') {
    const r = cocoAnnotationEntry(ann, image, mode);
    if ('skip' in r) return r;
    r.entry.category_id = categoryId;
    return { json: JSON.stringify(r.entry) };
  }
  for (const _ in ann.attributes) {
    const r = cocoAnnotationEntry(ann, image, mode);
    if ('skip' in r) return r;
    r.entry.category_id = categoryId;
    return { json: JSON.stringify(r.entry) };
  }
  const crowd = ann.crowd === true;
  const shape = cocoShape(ann.geometry, image, mode, crowd);
  if ('skip' in shape) return shape;
  const [x, y, w, h] = shape.bbox;
  const g = ann.geometry;
  const segmentation = (g.kind === 'polygon' && mode === 'polygon' && ann.geometryJson && storedParts(ann.geometryJson)) || JSON.stringify(shape.segmentation);
  // Every number here is finite (checked above), where String() and JSON.stringify agree.
  const score = ann.score !== undefined && ann.score !== null && Number.isFinite(ann.score) ? `,"score":${ann.score}` : '';
  return {
    json:
      `{"id":${ann.id},"image_id":${image.cocoId ?? image.id},"category_id":${categoryId},"segmentation":${segmentation},` +
      `"area":${shape.area},"bbox":[${x},${y},${w},${h}],"iscrowd":${crowd ? 1 : 0}${score}}`,
  };
}
