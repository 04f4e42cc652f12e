import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cacheCapBytes, DEFAULT_CACHE_MB, prune, touch } from '../../src-main/inference/samDiskCache';

let root: string;

afterEach(() => {
  if (root) fs.rmSync(root, { recursive: true, force: true });
});

function put(rel: string, bytes: number, ageSeconds: number): string {
  const file = path.join(root, rel);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, Buffer.alloc(bytes));
  const t = new Date(Date.now() - ageSeconds * 1000);
  fs.utimesSync(file, t, t);
  return file;
}

describe('the bounded embedding cache on disk', () => {
  it('removes the least recently used embeddings until the cap holds, never the one just written', () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-samcache-'));
    const oldest = put('ab/1.emb', 1000, 400);
    const old = put('cd/2.emb', 1000, 300);
    const recent = put('ab/3.emb', 1000, 200);
    const written = put('ef/4.emb', 1000, 500);
    const r = prune(root, 2500, written);
    expect(r).toEqual({ files: 4, bytes: 4000, removed: 2, removedBytes: 2000 });
    expect(fs.existsSync(oldest)).toBe(false);
    expect(fs.existsSync(old)).toBe(false);
    expect(fs.existsSync(recent)).toBe(true);
    expect(fs.existsSync(written)).toBe(true);
  });

  it('a read marks a file used: it outlives files written after it', () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-samcache-'));
    const read = put('ab/1.emb', 1000, 400);
    const other = put('ab/2.emb', 1000, 100);
    touch(read);
    prune(root, 1500);
    expect(fs.existsSync(read)).toBe(true);
    expect(fs.existsSync(other)).toBe(false);
    // Touching a file that is gone is no error.
    touch(path.join(root, 'ab', 'gone.emb'));
  });

  it('leaves the cache alone under the cap, and removes only stale temporary files', () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-samcache-'));
    const emb = put('ab/1.emb', 1000, 10);
    const fresh = put('ab/1.emb.9.1.tmp', 1000, 10);
    const stale = put('ab/2.emb.9.1.tmp', 1000, 2 * 3600);
    const other = put('ab/notes.txt', 10, 3 * 3600);
    expect(prune(root, 10_000)).toMatchObject({ files: 1, removed: 0 });
    expect(fs.existsSync(emb)).toBe(true);
    expect(fs.existsSync(fresh)).toBe(true);
    expect(fs.existsSync(stale)).toBe(false);
    expect(fs.existsSync(other)).toBe(true);
    expect(prune(path.join(root, 'missing'), 0)).toEqual({ files: 0, bytes: 0, removed: 0, removedBytes: 0 });
  });

  it('reads its cap from TESSERA_SAM_CACHE_MB, falling back to the default for nonsense', () => {
    expect(cacheCapBytes({})).toBe(DEFAULT_CACHE_MB * 1024 * 1024);
    expect(cacheCapBytes({ TESSERA_SAM_CACHE_MB: '10' })).toBe(10 * 1024 * 1024);
    expect(cacheCapBytes({ TESSERA_SAM_CACHE_MB: '0' })).toBe(0);
    expect(cacheCapBytes({ TESSERA_SAM_CACHE_MB: 'lots' })).toBe(DEFAULT_CACHE_MB * 1024 * 1024);
    expect(cacheCapBytes({ TESSERA_SAM_CACHE_MB: '-5' })).toBe(DEFAULT_CACHE_MB * 1024 * 1024);
  });
});
