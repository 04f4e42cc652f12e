/**
 * Where a JPEG stream's start-of-frame marker stands, found by walking the markers after SOI
 * without decoding: any process (SOF0..SOF15 except DHT C4, JPG C8 and DAC CC) and JPEG-LS's
 * SOF55, which share one layout (length, precision, height, width). -1 when the scan or the end
 * of image comes first, a marker is malformed, or the bytes end before the frame's size fields.
 */
export function jpegFrameHeader(b: Uint8Array): number {
  let i = 2;
  while (i + 8 < b.length) {
    if (b[i] !== 0xff) return -1;
    const marker = b[i + 1]!;
    if (marker === 0xff) {
      i++;
      continue;
    }
    if ((marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) || marker === 0xf7) return i;
    if (marker === 0xda || marker === 0xd9) return -1;
    // Standalone markers: SOI, RST0..RST7 and TEM carry no length.
    if (marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) {
      i += 2;
      continue;
    }
    i += 2 + ((b[i + 2]! << 8) | b[i + 3]!);
  }
  return -1;
}

/**
 * The frame size a JPEG stream's start-of-frame states. Null when the bytes do not start with
 * SOI, no frame header is found (see jpegFrameHeader), or the frame leaves a dimension to a
 * later DNL marker (stated as 0).
 */
export function jpegFrameSize(b: Uint8Array): { width: number; height: number } | null {
  if (b.length < 4 || b[0] !== 0xff || b[1] !== 0xd8) return null;
  const at = jpegFrameHeader(b);
  if (at < 0) return null;
  const height = (b[at + 5]! << 8) | b[at + 6]!;
  const width = (b[at + 7]! << 8) | b[at + 8]!;
  return height && width ? { width, height } : null;
}
