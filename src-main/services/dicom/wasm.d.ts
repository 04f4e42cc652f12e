/** Types for the Emscripten decoder builds of the @cornerstonejs codec packages (they ship none). */
interface EmscriptenDecoder {
  getEncodedBuffer(length: number): Uint8Array;
  getDecodedBuffer(): Uint8Array;
  decode(): void;
  getFrameInfo(): { width: number; height: number; bitsPerSample: number; componentCount: number; isSigned?: boolean };
  delete(): void;
}
/** Emscripten module overrides; print/printErr receive the codec's log lines. */
interface EmscriptenOverrides {
  print?: (line: string) => void;
  printErr?: (line: string) => void;
}
type DecoderModule<K extends string> = Record<K, new () => EmscriptenDecoder>;

declare module '@cornerstonejs/codec-charls/decodewasmjs' {
  const factory: (overrides?: EmscriptenOverrides) => Promise<DecoderModule<'JpegLSDecoder'>>;
  export default factory;
}
declare module '@cornerstonejs/codec-openjpeg/decodewasmjs' {
  const factory: (overrides?: EmscriptenOverrides) => Promise<DecoderModule<'J2KDecoder'>>;
  export default factory;
}
declare module '@cornerstonejs/codec-libjpeg-turbo-8bit/decodewasmjs' {
  const factory: (overrides?: EmscriptenOverrides) => Promise<DecoderModule<'JPEGDecoder'>>;
  export default factory;
}
declare module 'jpeg-lossless-decoder-js' {
  export class Decoder {
    decode(buffer: ArrayBuffer, offset: number, length: number, numBytes?: number): Uint8Array | Uint16Array;
  }
}
