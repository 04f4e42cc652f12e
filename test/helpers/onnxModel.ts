/**
 * Writes tiny ONNX models for tests: a protobuf encoder of just what a graph of a few nodes needs
 * (ModelProto, GraphProto, NodeProto, ValueInfoProto, TensorProto, onnx.proto3 field numbers).
 * onnxruntime loads the result like any exported model.
 */

function varint(n: number | bigint): number[] {
  let v = BigInt(n);
  const out: number[] = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) b |= 0x80;
    out.push(b);
  } while (v > 0n);
  return out;
}

const field = (num: number, wire: number) => varint((num << 3) | wire);
const int = (num: number, v: number) => [...field(num, 0), ...varint(v)];
const bytes = (num: number, b: ArrayLike<number>) => [...field(num, 2), ...varint(b.length), ...Array.from(b)];
const str = (num: number, s: string) => bytes(num, new TextEncoder().encode(s));

/** ONNX element types. */
export const FLOAT = 1;
export const INT64 = 7;

export interface ValueInfo {
  name: string;
  type: number;
  /** Fixed sizes, or names for sizes left open. */
  dims: (number | string)[];
}

export interface Node {
  op: string;
  inputs: string[];
  outputs: string[];
  /** Integer-list attributes (e.g. axes), as attribute name → values. */
  ints?: Record<string, number[]>;
  /** Integer attributes (e.g. axis, to), as attribute name → value. */
  int?: Record<string, number>;
}

export interface Initializer {
  name: string;
  type: typeof FLOAT | typeof INT64;
  dims: number[];
  values: number[];
}

function valueInfo(v: ValueInfo): number[] {
  const dims = v.dims.flatMap((d) => bytes(1, typeof d === 'number' ? int(1, d) : str(2, d)));
  const tensorType = [...int(1, v.type), ...bytes(2, dims)];
  return [...str(1, v.name), ...bytes(2, bytes(1, tensorType))];
}

function node(n: Node): number[] {
  const attrs = [
    ...Object.entries(n.ints ?? {}).flatMap(([name, values]) => bytes(5, [...str(1, name), ...values.flatMap((v) => int(8, v)), ...int(20, 7)])),
    ...Object.entries(n.int ?? {}).flatMap(([name, v]) => bytes(5, [...str(1, name), ...int(3, v), ...int(20, 2)])),
  ];
  return [...n.inputs.flatMap((i) => str(1, i)), ...n.outputs.flatMap((o) => str(2, o)), ...str(4, n.op), ...attrs];
}

function initializer(t: Initializer): number[] {
  const raw = t.type === FLOAT ? new Uint8Array(Float32Array.from(t.values).buffer) : new Uint8Array(BigInt64Array.from(t.values.map(BigInt)).buffer);
  return [...t.dims.flatMap((d) => int(1, d)), ...int(2, t.type), ...str(8, t.name), ...bytes(9, raw)];
}

/** A model of one graph at opset 13; `metadata` becomes its metadata_props (as Ultralytics writes names, task...). */
export function onnxModel(g: { inputs: ValueInfo[]; outputs: ValueInfo[]; nodes: Node[]; initializers?: Initializer[]; metadata?: Record<string, string> }): Uint8Array {
  const graph = [
    ...g.nodes.flatMap((n) => bytes(1, node(n))),
    ...str(2, 'test'),
    ...(g.initializers ?? []).flatMap((t) => bytes(5, initializer(t))),
    ...g.inputs.flatMap((v) => bytes(11, valueInfo(v))),
    ...g.outputs.flatMap((v) => bytes(12, valueInfo(v))),
  ];
  const metadata = Object.entries(g.metadata ?? {}).flatMap(([k, v]) => bytes(14, [...str(1, k), ...str(2, v)]));
  return Uint8Array.from([...int(1, 8), ...bytes(8, [...str(1, ''), ...int(2, 13)]), ...bytes(7, graph), ...metadata]);
}
