import { AppError } from '../../common/errors';
import type { FormatName } from '../../common/formats/types';
import { READERS } from './formats';
import type { FormatReader } from './types';

/** Below this, a reader's guess is not trusted enough to import with. */
export const MIN_CONFIDENCE = 0.5;

/** A reader that cannot decide within this time is treated as not recognising the input. */
const DETECT_TIMEOUT_MS = 10_000;

export interface Detection {
  reader: FormatReader;
  confidence: number;
}

/**
 * Every reader's confidence that `input` is in its format, best first. A reader that throws or
 * does not answer in time counts as 0: detection must not fail because one format's probe is
 * confused by another format's files.
 */
export async function rankFormats(input: string, readers: readonly FormatReader[] = READERS): Promise<Detection[]> {
  const scores = await Promise.all(
    readers.map(async (reader) => {
      let timer: NodeJS.Timeout | undefined;
      try {
        const confidence = await Promise.race([
          reader.detect(input),
          new Promise<number>((resolve) => {
            timer = setTimeout(() => resolve(0), DETECT_TIMEOUT_MS);
          }),
        ]);
        return { reader, confidence: Number.isFinite(confidence) ? Math.max(0, Math.min(1, confidence)) : 0 };
      } catch {
        return { reader, confidence: 0 };
      } finally {
        clearTimeout(timer);
      }
    }),
  );
  // Stable sort keeps registry order between equal confidences.
  return scores.sort((a, b) => b.confidence - a.confidence);
}

/** The reader with the highest confidence of at least MIN_CONFIDENCE, or null. */
export async function detectFormat(input: string, readers: readonly FormatReader[] = READERS): Promise<Detection | null> {
  const best = (await rankFormats(input, readers))[0];
  return best && best.confidence >= MIN_CONFIDENCE ? best : null;
}

/** The reader for an explicit format, or the detected one for `auto`. */
export async function resolveReader(
  input: string,
  format: FormatName | 'auto',
  readers: readonly FormatReader[] = READERS,
): Promise<FormatReader> {
  if (format !== 'auto') {
    const r = readers.find((x) => x.name === format);
    if (!r) throw new AppError('UNSUPPORTED_FORMAT', `${input}: no reader for the format "${format}"`, { path: input, format });
    return r;
  }
  const found = await detectFormat(input, readers);
  if (!found) throw new AppError('INVALID_ARGUMENT', `no known annotation format found in ${input}`, { path: input });
  return found.reader;
}
