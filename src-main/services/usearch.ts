import { createRequire } from 'node:module';
import type usearchModule from 'usearch';

/**
 * usearch, loaded through its CommonJS build: the ES module build finds its native library from
 * the calling file's stack frame and never finds it when the first caller is evaluated code
 * (`tsx -e`), recursing until the stack overflows.
 */
export const usearch = createRequire(import.meta.url)('usearch') as typeof usearchModule;
