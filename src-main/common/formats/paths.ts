/**
 * Image paths as annotation files state them ("images/a.jpg", "..\\x\\b.png", "/abs/c.jpg").
 * A dataset file must never lead Tessera outside the folder it describes: keys are normalised to
 * forward slashes and refused when absolute or when they climb above their base folder.
 */
export function safeRelativeKey(raw: string): string | null {
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > 4096 || raw.includes('\0')) return null;
  const s = raw.replace(/\\/g, '/');
  if (s.startsWith('/') || /^[a-zA-Z]:/.test(s) || /^[a-z]+:\/\//i.test(s)) return null;
  const out: string[] = [];
  for (const seg of s.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (out.length === 0) return null;
      out.pop();
      continue;
    }
    out.push(seg);
  }
  return out.length ? out.join('/') : null;
}

/** The last path segment of a key (file name), for matching by name. */
export function keyBaseName(key: string): string {
  const i = key.lastIndexOf('/');
  return i < 0 ? key : key.slice(i + 1);
}
