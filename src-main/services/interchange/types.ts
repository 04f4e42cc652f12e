import type { Split } from '../../common/model';
import type { ExportClass, ExportFormat, ExportImage, FormatName, InterchangeDataset } from '../../common/formats/types';

/**
 * A dataset format on disk. Readers and writers live in services/interchange/formats/<name>.ts;
 * the text or object level (parse/serialise) lives in common/formats/<name>.ts without file access.
 */
export interface FormatReader {
  name: FormatName;
  /** Confidence 0..1 that `input` (a file or a folder) is in this format; cheap (names, a few bytes). */
  detect(input: string): Promise<number>;
  /**
   * Reads everything into the neutral form. Image keys are relative to `baseDir(input)`; keys that
   * would escape it are reported as errors and their images skipped. Never throws for bad content:
   * every problem is a FormatProblem naming the file; throws only when `input` cannot be read at all.
   */
  read(input: string): Promise<InterchangeDataset>;
  /** The folder image keys are relative to. */
  baseDir(input: string): string;
  /** The bytes of an image embedded in an annotation file (see InterchangeImage.embeddedIn). */
  embeddedImage?(input: string, embeddedIn: string): Promise<Buffer | null>;
}

export interface WriteContext {
  /** Counts a lossy conversion or a skipped item, reported once per kind with its count. */
  warn(kind: string, message: string): void;
}

export interface FormatWriter {
  format: ExportFormat;
  /** Output-relative path (forward slashes) where the exporter puts the image file `name` of `split`. */
  imagePath(name: string, split: Split | null): string;
  /**
   * Writes the annotation files for a stream of images (already filtered and converted to the
   * kinds the format holds). Streams: must not hold all images in memory for large datasets.
   */
  write(outDir: string, classes: ExportClass[], images: AsyncIterable<ExportImage>, ctx: WriteContext): Promise<{ files: number; emptyLabelFiles: number }>;
}
