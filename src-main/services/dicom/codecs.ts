/**
 * Decoders for the compressed DICOM pixel encodings. Each returns the frame's samples as
 * integers, interleaved by pixel (RGBRGB...), before any DICOM interpretation (sign, rescale,
 * photometric). WASM codecs load once, on first use.
 */

import { jpegFrameHeader, jpegFrameSize } from '../../common/imaging/jpeg';

export interface DecodedSamples {
  /** Unsigned sample values as decoded; signed interpretation happens afterwards. */
  samples: Uint8Array | Uint16Array | Int16Array | Uint32Array;
  /** Whether a JPEG decoder already turned YCbCr into RGB. */
  rgb: boolean;
}

type Factory<K extends string> = (overrides?: EmscriptenOverrides) => Promise<DecoderModule<K>>;

/** The codecs log progress lines (OpenJPEG's "[INFO] ..."); decoding errors still throw. */
const QUIET: EmscriptenOverrides = { print: () => {}, printErr: () => {} };

function lazy<K extends string>(load: () => Promise<{ default: Factory<K> } | Factory<K>>): () => Promise<DecoderModule<K>> {
  let module: Promise<DecoderModule<K>> | null = null;
  return () => {
    module ??= load().then((m) => (typeof m === 'function' ? m(QUIET) : m.default(QUIET)));
    return module;
  };
}

const charls = lazy<'JpegLSDecoder'>(() => import('@cornerstonejs/codec-charls/decodewasmjs'));
const openjpeg = lazy<'J2KDecoder'>(() => import('@cornerstonejs/codec-openjpeg/decodewasmjs'));
const libjpeg = lazy<'JPEGDecoder'>(() => import('@cornerstonejs/codec-libjpeg-turbo-8bit/decodewasmjs'));

/** The size a frame's data set states (Columns x Rows); decoded frames must have it. */
export interface FrameSize {
  width: number;
  height: number;
}

/**
 * Runs one Emscripten decoder over `bytes`, copying the result out of WASM memory. A decoded
 * size other than `expected` is refused before the copy.
 */
function runWasm(Decoder: new () => EmscriptenDecoder, bytes: Uint8Array, signed: boolean, expected?: FrameSize): DecodedSamples['samples'] {
  const decoder = new Decoder();
  try {
    decoder.getEncodedBuffer(bytes.length).set(bytes);
    decoder.decode();
    const info = decoder.getFrameInfo();
    if (expected && (info.width !== expected.width || info.height !== expected.height)) {
      throw new Error(`decoded ${info.width}x${info.height}, the data set states ${expected.width}x${expected.height}`);
    }
    const out = decoder.getDecodedBuffer();
    const copy = new Uint8Array(out.length);
    copy.set(out);
    if (info.bitsPerSample <= 8) return copy;
    return signed || info.isSigned ? new Int16Array(copy.buffer) : new Uint16Array(copy.buffer);
  } finally {
    decoder.delete();
  }
}

export async function decodeJpegLs(bytes: Uint8Array, signed: boolean, expected?: FrameSize): Promise<DecodedSamples> {
  const m = await charls();
  return { samples: runWasm(m.JpegLSDecoder, bytes, signed, expected), rgb: false };
}

export async function decodeJpeg2000(bytes: Uint8Array, signed: boolean, expected?: FrameSize): Promise<DecodedSamples> {
  const m = await openjpeg();
  return { samples: runWasm(m.J2KDecoder, bytes, signed, expected), rgb: false };
}

/** JPEG lossless (process 14, any predictor) at any precision up to 16 bits. */
export async function decodeJpegLossless(bytes: Uint8Array, bitsAllocated: number): Promise<DecodedSamples> {
  const { Decoder } = await import('jpeg-lossless-decoder-js');
  const buf = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  const out = new Decoder().decode(buf, 0, buf.byteLength, bitsAllocated <= 8 ? 1 : 2);
  return { samples: out instanceof Uint8Array ? out : new Uint16Array(out.buffer, out.byteOffset, out.length), rgb: false };
}

/**
 * JPEG baseline and extended DCT. 8-bit streams go to libjpeg-turbo (which also converts YCbCr
 * colour to RGB); 12-bit streams, which libjpeg-turbo's 8-bit build refuses, to jpegDct.ts.
 */
export async function decodeJpegDct(bytes: Uint8Array, expected?: FrameSize): Promise<DecodedSamples> {
  if (jpegPrecision(bytes) > 8) {
    const { decodeDctJpeg } = await import('./jpegDct');
    const img = decodeDctJpeg(bytes, expected);
    return { samples: img.samples, rgb: false };
  }
  const m = await libjpeg();
  const samples = runWasm(m.JPEGDecoder, bytes, false, expected);
  return { samples, rgb: true };
}

/**
 * The image size a codestream's header states, read before any decoder allocates for it: the
 * start-of-frame of JPEG (all processes, JPEG-LS's SOF55 included) or the SIZ marker of JPEG 2000
 * (a bare codestream or one inside JP2 boxes). Null when no size is stated up front (a JPEG
 * height left to a DNL marker, an unrecognised stream): the decoded size is checked then.
 */
export function codestreamSize(b: Uint8Array): FrameSize | null {
  if (b.length < 4) return null;
  const u16 = (i: number) => (b[i]! << 8) | b[i + 1]!;
  const u32 = (i: number) => ((b[i]! << 24) >>> 0) + (b[i + 1]! << 16) + (b[i + 2]! << 8) + b[i + 3]!;
  if (u16(0) === 0xffd8) return jpegFrameSize(b);
  // JPEG 2000: SOC (FF4F) then SIZ (FF51): Lsiz, Rsiz, Xsiz, Ysiz, XOsiz, YOsiz (ISO 15444-1 A.5.1).
  const limit = Math.min(b.length - 22, 4096);
  for (let i = 0; i < limit; i++) {
    if (b[i] === 0xff && b[i + 1] === 0x4f && b[i + 2] === 0xff && b[i + 3] === 0x51) {
      const siz = i + 2;
      const width = u32(siz + 6) - u32(siz + 14);
      const height = u32(siz + 10) - u32(siz + 18);
      return width > 0 && height > 0 ? { width, height } : null;
    }
  }
  return null;
}

/** Sample precision stated by a JPEG stream's start-of-frame marker (8 when none is found). */
export function jpegPrecision(b: Uint8Array): number {
  const at = jpegFrameHeader(b);
  return at < 0 ? 8 : b[at + 4]!;
}

/**
 * RLE Lossless (DICOM PS3.5 Annex G): a 64-byte header of segment offsets, one PackBits segment
 * per byte plane, most significant byte first, one group of planes per sample.
 */
export function decodeRle(bytes: Uint8Array, pixels: number, samplesPerPixel: number, bitsAllocated: number): DecodedSamples {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 64) throw new Error('RLE frame shorter than its 64-byte header');
  const segments = view.getUint32(0, true);
  const bytesPerSample = bitsAllocated / 8;
  if (!Number.isInteger(bytesPerSample) || segments !== samplesPerPixel * bytesPerSample) {
    throw new Error(`RLE frame has ${segments} segments, expected ${samplesPerPixel * bytesPerSample}`);
  }
  const planes: Uint8Array[] = [];
  for (let s = 0; s < segments; s++) {
    const start = view.getUint32(4 + 4 * s, true);
    const end = s + 1 < segments ? view.getUint32(8 + 4 * s, true) : bytes.length;
    planes.push(unpackBits(bytes.subarray(start, end), pixels));
  }
  const out = bytesPerSample === 1 ? new Uint8Array(pixels * samplesPerPixel) : new Uint16Array(pixels * samplesPerPixel);
  for (let c = 0; c < samplesPerPixel; c++) {
    if (bytesPerSample === 1) {
      const p = planes[c]!;
      for (let i = 0; i < pixels; i++) out[i * samplesPerPixel + c] = p[i]!;
    } else if (bytesPerSample === 2) {
      const hi = planes[c * 2]!;
      const lo = planes[c * 2 + 1]!;
      for (let i = 0; i < pixels; i++) out[i * samplesPerPixel + c] = (hi[i]! << 8) | lo[i]!;
    } else {
      throw new Error(`RLE with ${bitsAllocated} bits allocated is not read`);
    }
  }
  return { samples: out, rgb: false };
}

/** PackBits as DICOM RLE uses it: n >= 0 copies n+1 bytes, -127..-1 repeats the next byte 1-n times. */
export function unpackBits(src: Uint8Array, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let i = 0;
  let o = 0;
  while (i < src.length && o < length) {
    const n = (src[i++]! << 24) >> 24;
    if (n >= 0) {
      const count = Math.min(n + 1, length - o, src.length - i);
      out.set(src.subarray(i, i + count), o);
      i += n + 1;
      o += count;
    } else if (n !== -128) {
      const count = Math.min(1 - n, length - o);
      out.fill(src[i++]!, o, o + count);
      o += count;
    }
  }
  if (o < length) throw new Error(`RLE segment decodes to ${o} of ${length} bytes`);
  return out;
}
