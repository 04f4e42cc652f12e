/**
 * Sequential DCT JPEG with Huffman coding (ITU T.81 processes 1, 2 and 4: baseline and extended,
 * 8 or 12-bit samples). DICOM's JPEG Extended transfer syntax carries 12-bit CT and NM images
 * that the 8-bit libjpeg-turbo build cannot decode. Progressive, hierarchical and arithmetic
 * coded streams are refused. No colour conversion: samples come out as coded, interleaved.
 */

const ZIGZAG = new Uint8Array([
  0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50,
  43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
]);

/** COS[x * 8 + u] = C(u) cos((2x + 1) u pi / 16) / 2, with C(0) = 1/sqrt(2). */
const COS = (() => {
  const t = new Float64Array(64);
  for (let x = 0; x < 8; x++) {
    for (let u = 0; u < 8; u++) t[x * 8 + u] = ((u === 0 ? Math.SQRT1_2 : 1) * Math.cos(((2 * x + 1) * u * Math.PI) / 16)) / 2;
  }
  return t;
})();

interface Huffman {
  /** Symbol for each (length, code): lookup by `maxCode`/`valPtr` per T.81 F.2.2.3. */
  maxCode: Int32Array;
  valPtr: Int32Array;
  minCode: Int32Array;
  values: Uint8Array;
}

interface Component {
  id: number;
  h: number;
  v: number;
  tq: number;
  /** Blocks per line and per column at the component's resolution, padded to whole MCUs. */
  blocksPerLine: number;
  blocksPerColumn: number;
  /** Dequantised, inverse-transformed samples of the padded component plane. */
  plane: Float32Array;
  pred: number;
  dc: Huffman | null;
  ac: Huffman | null;
}

interface Frame {
  precision: number;
  width: number;
  height: number;
  comps: Component[];
  hMax: number;
  vMax: number;
  mcusPerLine: number;
  mcusPerColumn: number;
}

export interface DctImage {
  width: number;
  height: number;
  components: number;
  precision: number;
  samples: Uint8Array | Uint16Array;
}

function buildHuffman(counts: Uint8Array, values: Uint8Array): Huffman {
  const maxCode = new Int32Array(18).fill(-1);
  const valPtr = new Int32Array(17);
  const minCode = new Int32Array(17);
  let code = 0;
  let k = 0;
  for (let len = 1; len <= 16; len++) {
    const n = counts[len - 1]!;
    if (n) {
      valPtr[len] = k;
      minCode[len] = code;
      code += n;
      k += n;
      maxCode[len] = code - 1;
    }
    code <<= 1;
  }
  maxCode[17] = 0x7fffffff;
  return { maxCode, valPtr, minCode, values };
}

export function decodeDctJpeg(data: Uint8Array, expected?: { width: number; height: number }): DctImage {
  let pos = 0;
  const u16 = () => {
    const v = (data[pos]! << 8) | data[pos + 1]!;
    pos += 2;
    return v;
  };
  if (u16() !== 0xffd8) throw new Error('not a JPEG stream (no start-of-image marker)');
  const quant: (Int32Array | undefined)[] = [];
  const dcTables: (Huffman | undefined)[] = [];
  const acTables: (Huffman | undefined)[] = [];
  let frame: Frame | null = null;
  let restartInterval = 0;

  while (pos < data.length) {
    let marker = u16();
    while (marker === 0xffff) marker = 0xff00 | data[pos++]!; // fill bytes
    if (marker === 0xffd9) break;
    const length = u16();
    const end = pos + length - 2;
    switch (marker) {
      case 0xffdb:
        while (pos < end) {
          const pq = data[pos]! >> 4;
          const tq = data[pos++]! & 15;
          const table = new Int32Array(64);
          for (let k = 0; k < 64; k++) table[k] = pq ? u16() : data[pos++]!;
          quant[tq] = table;
        }
        break;
      case 0xffc4:
        while (pos < end) {
          const tc = data[pos]! >> 4;
          const th = data[pos++]! & 15;
          const counts = data.slice(pos, pos + 16);
          pos += 16;
          let total = 0;
          for (const c of counts) total += c;
          const values = data.slice(pos, pos + total);
          pos += total;
          (tc === 0 ? dcTables : acTables)[th] = buildHuffman(counts, values);
        }
        break;
      case 0xffc0:
      case 0xffc1: {
        const precision = data[pos++]!;
        const height = u16();
        const width = u16();
        const n = data[pos++]!;
        const comps: Component[] = [];
        for (let i = 0; i < n; i++) {
          const id = data[pos++]!;
          const hv = data[pos++]!;
          const tq = data[pos++]!;
          comps.push({ id, h: hv >> 4, v: hv & 15, tq, blocksPerLine: 0, blocksPerColumn: 0, plane: new Float32Array(0), pred: 0, dc: null, ac: null });
        }
        if (!width || !height) throw new Error('JPEG frame without a size (DNL is not supported)');
        // Checked before the planes are allocated: every start-of-frame, not only the first.
        if (expected && (width !== expected.width || height !== expected.height)) {
          throw new Error(`JPEG frame is ${width}x${height}, the data set states ${expected.width}x${expected.height}`);
        }
        if (frame) throw new Error('JPEG stream with more than one frame header');
        const hMax = Math.max(...comps.map((c) => c.h));
        const vMax = Math.max(...comps.map((c) => c.v));
        const mcusPerLine = Math.ceil(width / (8 * hMax));
        const mcusPerColumn = Math.ceil(height / (8 * vMax));
        for (const c of comps) {
          c.blocksPerLine = mcusPerLine * c.h;
          c.blocksPerColumn = mcusPerColumn * c.v;
          c.plane = new Float32Array(c.blocksPerLine * c.blocksPerColumn * 64);
        }
        frame = { precision, width, height, comps, hMax, vMax, mcusPerLine, mcusPerColumn };
        break;
      }
      case 0xffc2:
      case 0xffc3:
      case 0xffc5:
      case 0xffc6:
      case 0xffc7:
      case 0xffc9:
      case 0xffca:
      case 0xffcb:
      case 0xffcd:
      case 0xffce:
      case 0xffcf:
        throw new Error(`JPEG process with start-of-frame 0x${marker.toString(16)} is not a sequential DCT stream`);
      case 0xffdd:
        restartInterval = u16();
        break;
      case 0xffda: {
        if (!frame) throw new Error('JPEG scan before its frame header');
        const n = data[pos++]!;
        const scanComps: Component[] = [];
        for (let i = 0; i < n; i++) {
          const id = data[pos++]!;
          const t = data[pos++]!;
          const c = frame.comps.find((x) => x.id === id);
          if (!c) throw new Error(`JPEG scan names unknown component ${id}`);
          c.dc = dcTables[t >> 4] ?? null;
          c.ac = acTables[t & 15] ?? null;
          if (!c.dc || !c.ac) throw new Error('JPEG scan uses a Huffman table that was not defined');
          scanComps.push(c);
        }
        pos = end;
        pos = decodeScan(data, pos, frame, scanComps, restartInterval, quant);
        continue;
      }
      default:
        break; // APPn, COM and others carry nothing the pixels need
    }
    pos = end;
  }
  if (!frame) throw new Error('JPEG stream has no frame header');
  return assemble(frame);
}

function decodeScan(
  data: Uint8Array,
  start: number,
  frame: Frame,
  comps: Component[],
  restartInterval: number,
  quant: (Int32Array | undefined)[],
): number {
  let pos = start;
  let bitBuf = 0;
  let bitCount = 0;
  let hitMarker = false;
  const readBit = (): number => {
    if (bitCount === 0) {
      let b = 0;
      if (!hitMarker && pos < data.length) {
        b = data[pos]!;
        if (b === 0xff) {
          const next = data[pos + 1];
          if (next === 0) pos += 2;
          else {
            hitMarker = true;
            b = 0;
          }
        } else pos++;
      }
      bitBuf = b;
      bitCount = 8;
    }
    bitCount--;
    return (bitBuf >> bitCount) & 1;
  };
  const receive = (n: number): number => {
    let v = 0;
    for (let i = 0; i < n; i++) v = (v << 1) | readBit();
    return v;
  };
  const extend = (v: number, t: number): number => (v < 1 << (t - 1) ? v - (1 << t) + 1 : v);
  const decodeHuff = (h: Huffman): number => {
    let code = readBit();
    let len = 1;
    while (code > h.maxCode[len]!) {
      code = (code << 1) | readBit();
      len++;
      if (len > 16) throw new Error('corrupt JPEG: bad Huffman code');
    }
    return h.values[h.valPtr[len]! + code - h.minCode[len]!]!;
  };

  const coef = new Float64Array(64);
  const tmp = new Float64Array(64);
  const decodeBlock = (c: Component, row: number, col: number) => {
    const q = quant[c.tq];
    if (!q) throw new Error('JPEG component uses an undefined quantisation table');
    coef.fill(0);
    const t = decodeHuff(c.dc!);
    c.pred += t === 0 ? 0 : extend(receive(t), t);
    coef[0] = c.pred * q[0]!;
    for (let k = 1; k < 64; ) {
      const rs = decodeHuff(c.ac!);
      const r = rs >> 4;
      const s = rs & 15;
      if (s === 0) {
        if (r !== 15) break;
        k += 16;
        continue;
      }
      k += r;
      if (k > 63) break;
      coef[ZIGZAG[k]!] = extend(receive(s), s) * q[k]!;
      k++;
    }
    // Separable inverse DCT: rows, then columns.
    for (let y = 0; y < 8; y++) {
      for (let x = 0; x < 8; x++) {
        let sum = 0;
        for (let u = 0; u < 8; u++) sum += COS[x * 8 + u]! * coef[y * 8 + u]!;
        tmp[y * 8 + x] = sum;
      }
    }
    const shift = 1 << (frame.precision - 1);
    const max = (1 << frame.precision) - 1;
    const line = c.blocksPerLine * 8;
    for (let x = 0; x < 8; x++) {
      for (let y = 0; y < 8; y++) {
        let sum = 0;
        for (let v = 0; v < 8; v++) sum += COS[y * 8 + v]! * tmp[v * 8 + x]!;
        const s = Math.round(sum + shift);
        c.plane[(row * 8 + y) * line + col * 8 + x] = s < 0 ? 0 : s > max ? max : s;
      }
    }
  };

  const single = comps.length === 1;
  const c0 = comps[0]!;
  // A single-component scan codes only the blocks covering the component, not the MCU padding.
  const singlePerLine = Math.ceil(Math.ceil((frame.width * c0.h) / frame.hMax) / 8);
  const singleRows = Math.ceil(Math.ceil((frame.height * c0.v) / frame.vMax) / 8);
  const total = single ? singlePerLine * singleRows : frame.mcusPerLine * frame.mcusPerColumn;
  for (const c of comps) c.pred = 0;
  for (let m = 0; m < total; m++) {
    if (restartInterval && m > 0 && m % restartInterval === 0) {
      // Byte-align, skip the RSTn marker, reset predictions.
      bitCount = 0;
      hitMarker = false;
      while (pos + 1 < data.length && !(data[pos] === 0xff && data[pos + 1]! >= 0xd0 && data[pos + 1]! <= 0xd7)) pos++;
      pos += 2;
      for (const c of comps) c.pred = 0;
    }
    if (single) {
      decodeBlock(c0, Math.floor(m / singlePerLine), m % singlePerLine);
    } else {
      const mRow = Math.floor(m / frame.mcusPerLine);
      const mCol = m % frame.mcusPerLine;
      for (const c of comps) {
        for (let v = 0; v < c.v; v++) for (let h = 0; h < c.h; h++) decodeBlock(c, mRow * c.v + v, mCol * c.h + h);
      }
    }
  }
  // Continue after the entropy-coded data: find the next marker that is not a restart marker.
  while (pos + 1 < data.length && !(data[pos] === 0xff && data[pos + 1] !== 0 && !(data[pos + 1]! >= 0xd0 && data[pos + 1]! <= 0xd7))) pos++;
  return pos;
}

function assemble(frame: Frame): DctImage {
  const { width, height, comps } = frame;
  const n = comps.length;
  const out = frame.precision > 8 ? new Uint16Array(width * height * n) : new Uint8Array(width * height * n);
  comps.forEach((c, ci) => {
    const line = c.blocksPerLine * 8;
    const sx = c.h / frame.hMax;
    const sy = c.v / frame.vMax;
    for (let y = 0; y < height; y++) {
      const row = Math.floor(y * sy) * line;
      for (let x = 0; x < width; x++) out[(y * width + x) * n + ci] = c.plane[row + Math.floor(x * sx)]!;
    }
  });
  return { width, height, components: n, precision: frame.precision, samples: out };
}
