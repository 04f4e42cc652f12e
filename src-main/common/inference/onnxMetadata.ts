/**
 * Reads `metadata_props` from an ONNX file without a protobuf library: onnxruntime-node exposes
 * no metadata API, and Ultralytics stores `names`, `imgsz`, `task` and `stride` there.
 *
 * Protobuf wire format: each field is a varint key (field number << 3 | wire type) followed by a
 * varint (type 0), 8 bytes (1), a varint length and that many bytes (2), or 4 bytes (5).
 * ModelProto.metadata_props is field 14, a repeated StringStringEntryProto {key = 1, value = 2}.
 * Everything else, including the large graph (field 7), is skipped by its length.
 */

class Reader {
  pos = 0;
  constructor(
    readonly buf: Uint8Array,
    readonly end = buf.length,
  ) {}

  varint(): number {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new RangeError(`truncated varint at byte ${this.pos}`);
      const b = this.buf[this.pos++]!;
      result += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) return result;
      mul *= 128;
    }
    throw new RangeError(`varint longer than 10 bytes at byte ${this.pos}`);
  }

  skip(wireType: number): void {
    switch (wireType) {
      case 0:
        this.varint();
        return;
      case 1:
        this.advance(8);
        return;
      case 2:
        this.advance(this.varint());
        return;
      case 5:
        this.advance(4);
        return;
      default:
        throw new RangeError(`unsupported protobuf wire type ${wireType} at byte ${this.pos}`);
    }
  }

  advance(n: number): void {
    if (this.pos + n > this.end) throw new RangeError(`field of ${n} bytes at byte ${this.pos} runs past the end (${this.end})`);
    this.pos += n;
  }
}

const utf8 = new TextDecoder('utf-8');

/** Metadata key/value pairs of an ONNX ModelProto; throws RangeError on a malformed file. */
export function readOnnxMetadata(bytes: Uint8Array): Record<string, string> {
  const r = new Reader(bytes);
  const out: Record<string, string> = {};
  while (r.pos < r.end) {
    const key = r.varint();
    const field = Math.floor(key / 8);
    const wire = key & 7;
    if (field === 14 && wire === 2) {
      const len = r.varint();
      const entry = new Reader(bytes, r.pos + len);
      if (entry.end > bytes.length) throw new RangeError(`metadata entry at byte ${r.pos} runs past the end`);
      entry.pos = r.pos;
      let k = '';
      let v = '';
      while (entry.pos < entry.end) {
        const ek = entry.varint();
        const ef = Math.floor(ek / 8);
        if ((ef === 1 || ef === 2) && (ek & 7) === 2) {
          const l = entry.varint();
          const s = utf8.decode(bytes.subarray(entry.pos, entry.pos + l));
          entry.advance(l);
          if (ef === 1) k = s;
          else v = s;
        } else entry.skip(ek & 7);
      }
      out[k] = v;
      r.pos = entry.end;
    } else r.skip(wire);
  }
  return out;
}

/**
 * Ultralytics writes `names` as a Python dict literal, e.g. "{0: 'person', 1: "it's"}", and
 * `imgsz` as "[640, 640]". Returns the names in index order, or null when unparseable or sparse.
 */
export function parseUltralyticsNames(s: string): string[] | null {
  const re = /\s*(\d+)\s*:\s*('((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")\s*(,|\})/gy;
  const body = s.trim();
  if (!body.startsWith('{')) return null;
  re.lastIndex = 1;
  const names: string[] = [];
  if (/^\{\s*\}$/.test(body)) return [];
  for (;;) {
    const m = re.exec(body);
    if (!m) return null;
    const raw = m[3] ?? m[4] ?? '';
    names[Number(m[1])] = raw.replace(/\\(.)/g, '$1');
    if (m[5] === '}') break;
  }
  for (let i = 0; i < names.length; i++) if (names[i] === undefined) return null;
  return names;
}

/** "[640, 640]" or "640" as [height, width]; null when unparseable. */
export function parseImgsz(s: string): [number, number] | null {
  const nums = s.match(/\d+/g)?.map(Number) ?? [];
  if (nums.length === 1) return [nums[0]!, nums[0]!];
  if (nums.length === 2) return [nums[0]!, nums[1]!];
  return null;
}

/** Ultralytics' pose `kpt_shape`, "[17, 3]": keypoints and values per keypoint (2 or 3); null when unparseable. */
export function parseKptShape(s: string): [number, number] | null {
  const m = /^\s*\[\s*(\d+)\s*,\s*([23])\s*\]\s*$/.exec(s);
  return m && Number(m[1]) > 0 ? [Number(m[1]), Number(m[2])] : null;
}

/**
 * Ops that leave values as they are (reshape, reorder, resize): a Softmax behind them still
 * makes the output probabilities.
 */
const PASS_THROUGH = new Set(['Identity', 'Reshape', 'Flatten', 'Squeeze', 'Unsqueeze', 'Transpose', 'Resize', 'Upsample', 'Cast', 'Slice', 'Gather']);

/**
 * For each graph output of an ONNX ModelProto, the op that makes its values: the node producing
 * it, followed back through ops that only move values (PASS_THROUGH). A classifier or segmenter
 * exported with its activation ends in "Softmax" or "Sigmoid". Outputs that are graph inputs or
 * initializers are left out. GraphProto: node = field 1, output = field 12; NodeProto: input = 1,
 * output = 2, op_type = 4; ValueInfoProto: name = 1. Throws RangeError on a malformed file.
 */
export function readOnnxOutputOps(bytes: Uint8Array): Record<string, string> {
  const producers = new Map<string, { op: string; input: string | undefined }>();
  const outputs: string[] = [];
  const strings = (start: number, end: number, wanted: ReadonlySet<number>): Map<number, string[]> => {
    const r = new Reader(bytes, end);
    r.pos = start;
    const found = new Map<number, string[]>();
    while (r.pos < r.end) {
      const key = r.varint();
      const f = Math.floor(key / 8);
      if (wanted.has(f) && (key & 7) === 2) {
        const l = r.varint();
        const s = utf8.decode(bytes.subarray(r.pos, r.pos + l));
        r.advance(l);
        found.set(f, [...(found.get(f) ?? []), s]);
      } else r.skip(key & 7);
    }
    return found;
  };
  const top = new Reader(bytes);
  while (top.pos < top.end) {
    const key = top.varint();
    if (Math.floor(key / 8) !== 7 || (key & 7) !== 2) {
      top.skip(key & 7);
      continue;
    }
    const len = top.varint();
    const g = new Reader(bytes, top.pos + len);
    if (g.end > bytes.length) throw new RangeError(`graph at byte ${top.pos} runs past the end`);
    g.pos = top.pos;
    while (g.pos < g.end) {
      const gk = g.varint();
      const gf = Math.floor(gk / 8);
      if ((gf === 1 || gf === 12) && (gk & 7) === 2) {
        const l = g.varint();
        const start = g.pos;
        g.advance(l);
        if (gf === 1) {
          const n = strings(start, start + l, new Set([1, 2, 4]));
          const op = n.get(4)?.[0] ?? '';
          for (const o of n.get(2) ?? []) producers.set(o, { op, input: n.get(1)?.[0] });
        } else {
          const name = strings(start, start + l, new Set([1])).get(1)?.[0];
          if (name !== undefined) outputs.push(name);
        }
      } else g.skip(gk & 7);
    }
    top.pos = g.end;
  }
  const out: Record<string, string> = {};
  for (const name of outputs) {
    let p = producers.get(name);
    for (let hops = 0; p && PASS_THROUGH.has(p.op) && p.input !== undefined && hops < 64; hops++) {
      const next = producers.get(p.input);
      if (!next) break;
      p = next;
    }
    if (p) out[name] = p.op;
  }
  return out;
}
