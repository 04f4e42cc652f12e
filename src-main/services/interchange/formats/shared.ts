import fs from 'node:fs';
import path from 'node:path';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import type { FormatProblem } from '../../../common/formats/types';

/** File and XML helpers the format readers share: reading, sniffing and parsing, problems as data. */

/** Annotation files larger than this are refused rather than parsed into memory. */
export const MAX_XML_BYTES = 256 * 1024 * 1024;
/** Forward-slash path of `p` relative to `base`. */
export function relKey(base: string, p: string): string {
  return path.relative(base, p).split(path.sep).join('/');
}

/**
 * Parses XML text into fast-xml-parser's object form: attributes unprefixed, every value a
 * string (so "0003" stays "0003"), entities decoded, and the named elements always arrays.
 * Malformed XML gives a problem with the parser's line instead of a half-read document.
 */
export function parseXml(text: string, file: string, arrays: ReadonlySet<string>, captureMetaData = false): { doc: unknown } | { problem: FormatProblem } {
  const valid = XMLValidator.validate(text);
  if (valid !== true) {
    return { problem: { file, where: `line ${valid.err.line}`, severity: 'error', message: `malformed XML: ${valid.err.msg}` } };
  }
  const parser = new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: '',
    parseTagValue: false,
    parseAttributeValue: false,
    trimValues: true,
    htmlEntities: true,
    isArray: (name, _path, _leaf, isAttribute) => !isAttribute && arrays.has(name),
    captureMetaData,
  });
  try {
    return { doc: parser.parse(text) };
  } catch (e) {
    return { problem: { file, severity: 'error', message: `malformed XML: ${(e as Error).message}` } };
  }
}

// Typed as the boxed `Symbol` by the library; it is a plain symbol at run time.
const META = XMLParser.getMetaDataSymbol() as unknown as symbol;

/** Where an element parsed with captureMetaData starts in the text; undefined for text-only elements. */
export function xmlOrder(element: unknown): number | undefined {
  if (!element || typeof element !== 'object') return undefined;
  const m = (element as Record<symbol, { startIndex?: number } | undefined>)[META];
  return m?.startIndex;
}

/** Reads a text file, or gives the problem that stops it being read (too large, unreadable, not UTF-8 text). */
export async function readTextFile(abs: string, file: string, maxBytes = MAX_XML_BYTES): Promise<{ text: string } | { problem: FormatProblem }> {
  try {
    const st = await fs.promises.stat(abs);
    if (st.size > maxBytes) return { problem: { file, severity: 'error', message: `the file is ${st.size} bytes, more than the ${maxBytes} an annotation file may have` } };
    const buf = await fs.promises.readFile(abs);
    return { text: buf.toString('utf8').replace(/^\uFEFF/, '') };
  } catch (e) {
    return { problem: { file, severity: 'error', message: `cannot be read: ${(e as Error).message}` } };
  }
}

/**
 * Files under `dir` (recursively, hidden folders skipped) whose names end with `ext`, sorted.
 * Symbolic links count by their name: a link to a file is listed, and a dangling one or a loop
 * too, so reading it reports the file and why it cannot be read rather than dropping it
 * silently. Links to folders are not followed: a folder inside `dir` is walked directly anyway,
 * and reached through a link its files would be named by the link's path, against which
 * relative image paths (`../images/x.png`) resolve wrongly.
 */
export async function listFiles(dir: string, ext: string, recursive = true): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    let entries: fs.Dirent[];
    try {
      entries = await fs.promises.readdir(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const p = path.join(d, e.name);
      const named = e.name.toLowerCase().endsWith(ext);
      if (e.isDirectory()) {
        if (recursive) await walk(p);
      } else if (e.isFile()) {
        if (named) out.push(p);
      } else if (e.isSymbolicLink() && named) {
        const st = await fs.promises.stat(p).catch(() => null);
        if (!st?.isDirectory()) out.push(p);
      }
    }
  };
  await walk(dir);
  return out.sort();
}

export function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

export function isDir(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/**
 * For formats with one annotation file per image: records that `file` describes image `key`.
 * False, with an error problem at `where`, when another file already described it; the later
 * file is then skipped.
 */
export function claimImage(byKey: Map<string, string>, key: string, file: string, where: string, problems: FormatProblem[]): boolean {
  const dup = byKey.get(key);
  if (dup) {
    problems.push({ file, where, severity: 'error', message: `${key} is already described by ${dup}; this file is skipped` });
    return false;
  }
  byKey.set(key, file);
  return true;
}

/** The first `bytes` of a file as text, for format sniffing. */
export async function head(p: string, bytes = 4096): Promise<string> {
  const fh = await fs.promises.open(p, 'r');
  try {
    const buf = Buffer.alloc(bytes);
    const { bytesRead } = await fh.read(buf, 0, bytes, 0);
    return buf.subarray(0, bytesRead).toString('utf8');
  } finally {
    await fh.close();
  }
}

/** The first element of an XML text (skipping the declaration, comments and doctype). */
export function rootElementName(text: string): string | null {
  const m = /^(?:\s|<\?[^]*?\?>|<!--[^]*?-->|<!DOCTYPE[^>]*>)*<([A-Za-z_][\w.-]*)/.exec(text.replace(/^\uFEFF/, ''));
  return m ? m[1]! : null;
}


/** An annotation XML file read and parsed (see parseXml), or the problem that stopped it. */
export async function readXmlFile(
  abs: string,
  file: string,
  arrays: ReadonlySet<string>,
  captureMetaData = false,
): Promise<{ doc: unknown } | { problem: FormatProblem }> {
  const r = await readTextFile(abs, file);
  return 'problem' in r ? r : parseXml(r.text, file, arrays, captureMetaData);
}

/** Image keys of a format picked as a folder are relative to it; picked as a file, to the file's folder. */
export function folderOrParent(input: string): string {
  return isDir(input) ? input : path.dirname(input);
}

/**
 * For detect(): an input that cannot be read is simply not this format, and so scores 0; read()
 * is where the reason is reported.
 */
export async function sniff(probe: () => Promise<number>): Promise<number> {
  try {
    return await probe();
  } catch {
    return 0;
  }
}

/**
 * For read() of a format picked as a folder or as one file: a file must be readable (read()
 * throws rather than report an empty dataset), and keys are relative to folderOrParent.
 */
export async function openInput(input: string): Promise<{ dir: boolean; base: string }> {
  const dir = isDir(input);
  if (!dir) await fs.promises.access(input, fs.constants.R_OK);
  return { dir, base: dir ? input : path.dirname(input) };
}
