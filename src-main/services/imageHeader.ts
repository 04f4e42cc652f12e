import zlib from 'node:zlib';

/**
 * What a PNG or JPEG file's header says about the image, read from its first chunks or marker
 * segments without decoding: the stored size, bands and bit depth as libvips reports them, and
 * the EXIF orientation. The size is the stored one (not yet turned by the orientation).
 */
export interface HeaderInfo {
  format: 'png' | 'jpeg';
  width: number;
  height: number;
  channels: number;
  bitDepth: number;
  orientation: number;
}

/**
 * Why the header is malformed (a reason), the header's facts, or null when the file is of a kind
 * this reader leaves to libvips (another format, a CMYK or 12-bit JPEG, a PNG with an eXIf chunk,
 * an EXIF block it cannot follow). Only a definite fault is reported as a reason.
 */
export type HeaderOutcome = HeaderInfo | { reason: string } | null;

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
/** Bit depths the PNG specification allows for each colour type. */
const PNG_DEPTHS: Record<number, readonly number[]> = { 0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16] };
/** Bands libvips loads for each colour type, without and with a tRNS chunk. */
const PNG_BANDS: Record<number, [number, number]> = { 0: [1, 2], 2: [3, 4], 3: [3, 4], 4: [2, 2], 6: [4, 4] };

export function readHeader(b: Uint8Array): HeaderOutcome {
  if (b.length >= 8 && Buffer.from(b.buffer, b.byteOffset, 8).equals(PNG_SIGNATURE)) return pngHeader(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return jpegHeader(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
  return null;
}

function pngHeader(b: Buffer): HeaderOutcome {
  if (b.length < 33) return { reason: 'truncated PNG: header incomplete' };
  if (b.readUInt32BE(8) !== 13 || b.toString('latin1', 12, 16) !== 'IHDR') return { reason: 'corrupt PNG: the first chunk is not a 13-byte IHDR' };
  if (zlib.crc32(b.subarray(12, 29)) !== b.readUInt32BE(29)) return { reason: 'corrupt PNG: IHDR checksum mismatch' };
  const width = b.readUInt32BE(16);
  const height = b.readUInt32BE(20);
  const depth = b[24]!;
  const colour = b[25]!;
  if (width === 0 || height === 0 || width > 0x7fffffff || height > 0x7fffffff) return { reason: `corrupt PNG: invalid size ${width}x${height}` };
  if (!PNG_DEPTHS[colour]?.includes(depth)) return { reason: `corrupt PNG: bit depth ${depth} is not allowed for colour type ${colour}` };
  if (b[26] !== 0 || b[27] !== 0 || (b[28] !== 0 && b[28] !== 1)) return { reason: 'corrupt PNG: unknown compression, filter or interlace method' };
  // The chunks before the image data: a transparency chunk adds a band; an eXIf chunk (an
  // orientation) is left to libvips.
  let trns = false;
  for (let i = 33; i + 8 <= b.length; ) {
    const len = b.readUInt32BE(i);
    const type = b.toString('latin1', i + 4, i + 8);
    if (type === 'IDAT' || type === 'IEND') break;
    if (type === 'tRNS') trns = true;
    if (type === 'eXIf') return null;
    i += 12 + len;
  }
  const bands = PNG_BANDS[colour]!;
  return { format: 'png', width, height, channels: trns ? bands[1] : bands[0], bitDepth: depth === 16 ? 16 : 8, orientation: 1 };
}

function jpegHeader(b: Buffer): HeaderOutcome {
  let orientation = 1;
  let exifSeen = false;
  let i = 2;
  while (i + 4 <= b.length) {
    if (b[i] !== 0xff) return { reason: 'corrupt JPEG: bad marker structure' };
    const marker = b[i + 1]!;
    if (marker === 0xff) {
      i++;
      continue;
    }
    if (marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) {
      i += 2;
      continue;
    }
    if (marker === 0xda || marker === 0xd9) return { reason: 'corrupt JPEG: no frame header before the image data' };
    const len = b.readUInt16BE(i + 2);
    if (len < 2) return { reason: 'corrupt JPEG: bad marker structure' };
    const start = i + 4;
    const end = i + 2 + len;
    if (end > b.length) return { reason: 'truncated JPEG: header cut short' };
    const seg = b.subarray(start, end);
    if (marker === 0xe1 && !exifSeen && seg.length >= 6 && seg.toString('latin1', 0, 6) === 'Exif\0\0') {
      exifSeen = true;
      const o = exifOrientation(seg.subarray(6));
      if (o === null) return null;
      orientation = o;
    } else if (marker === 0xdb) {
      if (!tablesFit(seg, 'dqt')) return { reason: 'corrupt JPEG: bad quantisation table' };
    } else if (marker === 0xc4) {
      if (!tablesFit(seg, 'dht')) return { reason: 'corrupt JPEG: bad Huffman table' };
    } else if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc8 && marker !== 0xcc) {
      // Baseline, extended and progressive Huffman frames of 8-bit grey or YCbCr/RGB; the rest
      // (lossless, arithmetic, 12-bit, CMYK) goes to libvips.
      if (marker > 0xc2) return null;
      if (seg.length < 6) return { reason: 'corrupt JPEG: frame header too short' };
      const precision = seg[0]!;
      const height = seg.readUInt16BE(1);
      const width = seg.readUInt16BE(3);
      const components = seg[5]!;
      if (precision !== 8 || (components !== 1 && components !== 3)) return null;
      if (seg.length !== 6 + 3 * components) return { reason: 'corrupt JPEG: frame header length does not match its components' };
      if (width === 0 || height === 0) return null; // height from a later DNL marker
      return { format: 'jpeg', width, height, channels: components, bitDepth: 8, orientation };
    }
    i = end;
  }
  return { reason: 'truncated JPEG: header cut short' };
}

/** Whether a DQT or DHT segment is a whole number of well-formed tables. */
function tablesFit(seg: Buffer, kind: 'dqt' | 'dht'): boolean {
  let i = 0;
  if (seg.length === 0) return false;
  while (i < seg.length) {
    const pt = seg[i]!;
    if (kind === 'dqt') {
      if ((pt & 0x0f) > 3 || pt >> 4 > 1) return false;
      i += 1 + (pt >> 4 ? 128 : 64);
    } else {
      if ((pt & 0x0f) > 3 || pt >> 4 > 1 || i + 17 > seg.length) return false;
      let n = 0;
      for (let k = 1; k <= 16; k++) n += seg[i + k]!;
      if (n > 256) return false;
      i += 17 + n;
    }
  }
  return i === seg.length;
}

/** The Orientation tag (0x0112) of an EXIF block's first directory: 1 when absent, null when the block cannot be followed. */
function exifOrientation(t: Buffer): number | null {
  if (t.length < 8) return null;
  const le = t.toString('latin1', 0, 2) === 'II';
  if (!le && t.toString('latin1', 0, 2) !== 'MM') return null;
  const u16 = (o: number) => (le ? t.readUInt16LE(o) : t.readUInt16BE(o));
  const u32 = (o: number) => (le ? t.readUInt32LE(o) : t.readUInt32BE(o));
  if (u16(2) !== 42) return null;
  const ifd = u32(4);
  if (ifd < 8 || ifd + 2 > t.length) return null;
  const n = u16(ifd);
  if (ifd + 2 + n * 12 > t.length) return null;
  for (let k = 0; k < n; k++) {
    const e = ifd + 2 + k * 12;
    if (u16(e) !== 0x0112) continue;
    if (u16(e + 2) !== 3 || u32(e + 4) !== 1) return null;
    const v = u16(e + 8);
    return v >= 1 && v <= 8 ? v : null;
  }
  return 1;
}
