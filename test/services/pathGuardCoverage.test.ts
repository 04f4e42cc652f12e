import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { argSchemas, CHANNELS } from '../../src-main/common/contract';
import { PATH_ARGS } from '../../src-main/services/pathGuard';

/** Argument names that carry file-system paths in the contract. */
const PATH_KEYS = new Set(['path', 'paths', 'file', 'folders', 'outDir', 'root', 'encoder', 'decoder', 'labels']);

/** The keys of an object schema, or of every object in a union of them. */
function keysOf(schema: z.ZodType): string[] {
  const def = (schema as unknown as { def: { type: string; options?: z.ZodType[]; shape?: Record<string, unknown>; in?: z.ZodType; innerType?: z.ZodType } }).def;
  if (def.type === 'object') return Object.keys(def.shape ?? {});
  if (def.type === 'union') return (def.options ?? []).flatMap(keysOf);
  if (def.type === 'pipe' && def.in) return keysOf(def.in);
  if (def.innerType) return keysOf(def.innerType);
  return [];
}

describe('browser mode path confinement', () => {
  it('covers every channel whose arguments name a path', () => {
    const withPaths = CHANNELS.filter((c) => c !== 'dialog:pick' && keysOf(argSchemas[c]).some((k) => PATH_KEYS.has(k)));
    expect(withPaths).toContain('segment:add');
    expect(withPaths).toContain('images:import');
    expect(withPaths.filter((c) => !(c in PATH_ARGS))).toEqual([]);
  });
});
