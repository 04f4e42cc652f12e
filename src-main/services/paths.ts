import fs from 'node:fs';
import path from 'node:path';
import { AppError } from '../common/errors';

/** True when `p` is `root` or lies below it (both absolute, already resolved). */
export function isInside(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/**
 * How an image path is stored: relative to the dataset root with forward slashes when inside it
 * (so a dataset folder can be moved or shared), absolute otherwise.
 */
export function toStoredPath(root: string, absFile: string): { path: string; external: boolean } {
  const abs = path.resolve(absFile);
  if (isInside(root, abs)) return { path: path.relative(root, abs).split(path.sep).join('/'), external: false };
  return { path: abs, external: true };
}

/**
 * Resolves a stored image path against the dataset root. A relative path must stay inside the
 * root, also after following symbolic links: a dataset file cannot point Tessera outside it.
 * Absolute paths are only honoured for rows the user imported from outside the root.
 */
export function resolveStoredPath(root: string, stored: string, external: boolean): string {
  if (external) {
    if (!path.isAbsolute(stored)) {
      throw new AppError('PATH_OUTSIDE_ROOT', `${stored}: external image path is not absolute`, { path: stored });
    }
    return path.normalize(stored);
  }
  if (path.isAbsolute(stored) || /^[a-zA-Z]:/.test(stored)) {
    throw new AppError('PATH_OUTSIDE_ROOT', `${stored}: absolute path where a path relative to the dataset root is expected`, {
      path: stored,
    });
  }
  const abs = path.resolve(root, stored);
  if (!isInside(root, abs)) {
    throw new AppError('PATH_OUTSIDE_ROOT', `${stored}: path escapes the dataset root ${root}`, { path: stored });
  }
  let real: string;
  try {
    real = fs.realpathSync(abs);
  } catch {
    return abs; // missing files are reported by the caller as FILE_MISSING
  }
  let realRoot = root;
  try {
    realRoot = fs.realpathSync(root);
  } catch {
    /* root itself missing: the comparison below refuses */
  }
  if (!isInside(realRoot, real)) {
    throw new AppError('PATH_OUTSIDE_ROOT', `${stored}: a link leads outside the dataset root ${root}`, { path: stored });
  }
  return abs;
}
