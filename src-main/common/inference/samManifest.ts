import { z } from 'zod';
import { AppError } from '../errors';
import { SAM_FAMILIES, type SamManifest } from '../segment';

const fileRef = z
  .object({
    file: z.string().min(1).optional(),
    url: z.url({ protocol: /^https?$/ }).optional(),
    sha256: z.string().regex(/^[0-9a-f]{64}$/, '64 lowercase hex digits').optional(),
  })
  .strict()
  .refine((f) => f.file !== undefined || f.url !== undefined, 'needs a file or a url');

const positiveTriple = z.tuple([z.number().positive(), z.number().positive(), z.number().positive()]);

export const samManifestSchema = z
  .object({
    id: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/, 'lowercase letters, digits, ".", "_" or "-"'),
    name: z.string().min(1),
    task: z.literal('interactive'),
    family: z.enum(SAM_FAMILIES),
    encoder: fileRef,
    decoder: fileRef,
    inputSize: z.number().int().min(64).max(4096),
    mean: z.tuple([z.number(), z.number(), z.number()]),
    std: positiveTriple,
    licence: z.string().optional(),
    notes: z.string().optional(),
  })
  .strict();

/** Segment Anything's pixel normalisation (0-255 units, RGB), shared by MobileSAM and SlimSAM. */
export const SAM_MEAN: [number, number, number] = [123.675, 116.28, 103.53];
export const SAM_STD: [number, number, number] = [58.395, 57.12, 57.375];

/**
 * Validates an interactive-segmentation manifest, reporting every problem with its JSON path and
 * the manifest's name, e.g. `models/interactive/x.json: encoder: needs a file or a url`.
 */
export function parseSamManifest(json: unknown, file: string): SamManifest {
  const r = samManifestSchema.safeParse(json);
  if (r.success) return r.data as SamManifest;
  const lines = r.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`);
  throw new AppError('INVALID_ARGUMENT', `${file}: not a valid interactive-segmentation manifest: ${lines.join('; ')}`, { file, problems: lines });
}
