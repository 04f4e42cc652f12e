/**
 * Statements are written once, for SQLite, with `?` placeholders. PostgreSQL gets them through
 * this small rewrite, done once per distinct SQL string:
 *
 * - `?` becomes `$1 .. $n`; `@name` (better-sqlite3's named parameters, passed as one object)
 *   becomes `$k`, the same name always the same number;
 * - `INSERT OR IGNORE INTO` becomes `INSERT INTO ... ON CONFLICT DO NOTHING` (before a trailing
 *   `RETURNING`);
 * - `ifnull(` becomes `coalesce(`; `CAST(x AS REAL)` becomes `CAST(x AS double precision)`;
 * - `group_concat(a[, sep])` becomes `string_agg((a)::text, sep)` (sep defaults to ',');
 * - SQLite's null-safe `a IS b` / `a IS NOT b` (b not NULL, TRUE or FALSE) become
 *   `IS NOT DISTINCT FROM` / `IS DISTINCT FROM`.
 *
 * Nothing inside '...' literals, "..." identifiers or comments is touched. Anything else that only
 * SQLite understands is written for both engines in the query itself.
 */
export interface Translated {
  text: string;
  /** For `@name` parameters: the name of $1, $2, ...; null for positional `?`. */
  names: string[] | null;
  /** How many parameters the statement takes. */
  count: number;
}

/** The statement with the contents of literals, quoted identifiers and comments blanked out. */
export function maskSql(sql: string): string {
  const out = sql.split('');
  let i = 0;
  const n = sql.length;
  const blank = (from: number, to: number): void => {
    for (let k = from; k < to; k++) if (out[k] !== '\n') out[k] = ' ';
  };
  while (i < n) {
    const c = sql[i]!;
    if (c === "'" || c === '"') {
      let j = i + 1;
      while (j < n) {
        if (sql[j] === c) {
          if (sql[j + 1] === c) {
            j += 2;
            continue;
          }
          break;
        }
        j++;
      }
      blank(i + 1, Math.min(j, n));
      i = j + 1;
    } else if (c === '-' && sql[i + 1] === '-') {
      let j = sql.indexOf('\n', i);
      if (j < 0) j = n;
      blank(i, j);
      i = j;
    } else if (c === '/' && sql[i + 1] === '*') {
      let j = sql.indexOf('*/', i + 2);
      j = j < 0 ? n : j + 2;
      blank(i, j);
      i = j;
    } else {
      i++;
    }
  }
  return out.join('');
}

interface Edit {
  from: number;
  to: number;
  text: string;
}

function applyEdits(sql: string, edits: Edit[]): string {
  let out = sql;
  for (const e of [...edits].sort((a, b) => b.from - a.from)) out = out.slice(0, e.from) + e.text + out.slice(e.to);
  return out;
}

/** Edits for every match of `re` in the masked text. */
function replaceCode(sql: string, re: RegExp, make: (m: RegExpExecArray) => string): string {
  const masked = maskSql(sql);
  const edits: Edit[] = [];
  const g = new RegExp(re.source, re.flags.includes('g') ? re.flags : re.flags + 'g');
  for (let m = g.exec(masked); m; m = g.exec(masked)) edits.push({ from: m.index, to: m.index + m[0].length, text: make(m) });
  return applyEdits(sql, edits);
}

/** Index of the parenthesis closing the one opened just before `from`, and top-level commas. */
function closing(masked: string, from: number): { close: number; commas: number[] } {
  let depth = 1;
  const commas: number[] = [];
  for (let i = from; i < masked.length; i++) {
    const c = masked[i];
    if (c === '(') depth++;
    else if (c === ')') {
      depth--;
      if (depth === 0) return { close: i, commas };
    } else if (c === ',' && depth === 1) commas.push(i);
  }
  throw new Error(`unbalanced parentheses in: ${masked.slice(0, 80)}`);
}

/**
 * Rewrites every call of the function `name` outside literals and comments: `make` gets the
 * call's top-level arguments (trimmed source text) and returns its replacement, or null to keep
 * that call and every later one as they are.
 */
function rewriteCalls(sql: string, name: string, make: (args: string[]) => string | null): string {
  const re = new RegExp(`\\b${name}\\s*\\(`, 'i');
  for (;;) {
    const masked = maskSql(sql);
    const m = re.exec(masked);
    if (!m) return sql;
    const open = m.index + m[0].length;
    const { close, commas } = closing(masked, open);
    const bounds = [open - 1, ...commas, close];
    const args = bounds.slice(1).map((end, k) => sql.slice(bounds[k]! + 1, end).trim());
    const replacement = make(args);
    if (replacement === null) return sql;
    sql = sql.slice(0, m.index) + replacement + sql.slice(close + 1);
  }
}

/** `group_concat([DISTINCT] x[, sep])` -> `string_agg([DISTINCT] (x)::text, sep)`. */
function rewriteGroupConcat(sql: string): string {
  return rewriteCalls(sql, 'group_concat', ([arg, ...rest]) => {
    const distinct = /^distinct\s+/i.exec(arg!);
    const value = distinct ? arg!.slice(distinct[0].length) : arg!;
    const sep = rest.length > 0 ? rest.join(',') : "','";
    return `string_agg(${distinct ? 'DISTINCT ' : ''}(${value})::text, ${sep})`;
  });
}

/**
 * `json_extract(x, '$.a.b')` -> `((x)::jsonb #>> '{a,b}')`: the value as text (SQLite gives
 * numbers as numbers; compare with a cast where that matters).
 */
function rewriteJsonExtract(sql: string): string {
  return rewriteCalls(sql, 'json_extract', (args) => {
    if (args.length !== 2) return null;
    const pm = /^'\$((?:\.[A-Za-z_][A-Za-z0-9_]*)+)'$/.exec(args[1]!);
    if (!pm) return null;
    return `((${args[0]})::jsonb #>> '{${pm[1]!.slice(1).split('.').join(',')}}')`;
  });
}

/** `SELECT value FROM json_each(?)` over a JSON array of ids -> the ids as bigints. */
function rewriteJsonEachIds(sql: string): string {
  return sql.replace(/\bSELECT\s+value(\s+AS\s+[A-Za-z_][A-Za-z0-9_]*)?\s+FROM\s+json_each\(\?\)/gi, (_m, as: string | undefined) => `SELECT value::bigint${as ?? ''} FROM jsonb_array_elements_text(?::jsonb) AS value`);
}

/** SQLite's two-argument scalar max/min -> greatest/least (one argument: the aggregate, kept). */
function rewriteScalarMinMax(sql: string): string {
  const masked = maskSql(sql);
  const re = /\b(max|min)\s*\(/gi;
  const edits: Edit[] = [];
  for (let m = re.exec(masked); m; m = re.exec(masked)) {
    const { commas } = closing(masked, m.index + m[0].length);
    if (commas.length >= 1) edits.push({ from: m.index, to: m.index + m[1]!.length, text: m[1]!.toLowerCase() === 'max' ? 'greatest' : 'least' });
  }
  return applyEdits(sql, edits);
}

function rewriteInsertOrIgnore(sql: string): string {
  const masked = maskSql(sql);
  const m = /\bINSERT\s+OR\s+IGNORE\s+INTO\b/i.exec(masked);
  if (!m) return sql;
  let out = sql.slice(0, m.index) + 'INSERT INTO' + sql.slice(m.index + m[0].length);
  const om = maskSql(out);
  // The clause goes before a top-level RETURNING, or at the end (before a trailing semicolon).
  let depth = 0;
  let at = -1;
  const word = /\bRETURNING\b/gi;
  const returning: number[] = [];
  for (let r = word.exec(om); r; r = word.exec(om)) returning.push(r.index);
  for (let i = 0, k = 0; i < om.length && k < returning.length; i++) {
    if (i === returning[k]) {
      if (depth === 0) {
        at = i;
        break;
      }
      k++;
    }
    if (om[i] === '(') depth++;
    else if (om[i] === ')') depth--;
  }
  if (at >= 0) return `${out.slice(0, at).trimEnd()} ON CONFLICT DO NOTHING ${out.slice(at)}`;
  const tail = /;?\s*$/.exec(om)!;
  out = `${out.slice(0, tail.index).trimEnd()} ON CONFLICT DO NOTHING${out.slice(tail.index)}`;
  return out;
}

function numberParameters(sql: string): Translated {
  const masked = maskSql(sql);
  const edits: Edit[] = [];
  let positional = 0;
  const names: string[] = [];
  const re = /\?(\d*)|@([A-Za-z_][A-Za-z0-9_]*)/g;
  for (let m = re.exec(masked); m; m = re.exec(masked)) {
    // `::` casts and operators such as `?|` are not placeholders; `?` alone is.
    if (m[2] !== undefined) {
      let k = names.indexOf(m[2]);
      if (k < 0) {
        names.push(m[2]);
        k = names.length - 1;
      }
      edits.push({ from: m.index, to: m.index + m[0].length, text: `$${k + 1}` });
    } else if (m[1]) {
      // ?NNN: SQLite's numbered parameter.
      const k = Number(m[1]);
      positional = Math.max(positional, k);
      edits.push({ from: m.index, to: m.index + m[0].length, text: `$${k}` });
    } else {
      positional++;
      edits.push({ from: m.index, to: m.index + 1, text: `$${positional}` });
    }
  }
  if (names.length > 0 && positional > 0) throw new Error('a statement mixes ? and @name parameters');
  return { text: applyEdits(sql, edits), names: names.length ? names : null, count: names.length || positional };
}

export function translateSql(sql: string): Translated {
  let s = rewriteGroupConcat(sql);
  s = rewriteJsonExtract(s);
  s = rewriteJsonEachIds(s);
  s = rewriteScalarMinMax(s);
  s = replaceCode(s, /\btemp\./i, () => 'pg_temp.');
  s = rewriteInsertOrIgnore(s);
  s = replaceCode(s, /\bifnull\s*\(/i, () => 'coalesce(');
  s = replaceCode(s, /\bAS\s+REAL\s*\)/i, () => 'AS double precision)');
  s = replaceCode(s, /\bIS\s+NOT\s+(?!(?:NULL|TRUE|FALSE|UNKNOWN|DISTINCT)\b)/i, () => 'IS DISTINCT FROM ');
  s = replaceCode(s, /\bIS\s+(?!(?:NOT|NULL|TRUE|FALSE|UNKNOWN|DISTINCT)\b)/i, () => 'IS NOT DISTINCT FROM ');
  const t = numberParameters(s);
  return { ...t, text: quoteMixedCase(t.text) };
}

/**
 * PostgreSQL folds unquoted names to lower case; SQLite keeps them. The schema's names are all
 * lower case, so a mixed-case name (`AS imageId`, `ORDER BY imageId`) is a result alias: quoted,
 * it keeps its case on both sides of the query and in the row objects.
 */
function quoteMixedCase(sql: string): string {
  return replaceCode(sql, /(?<![$@:\w"])([a-z][a-z0-9_]*[A-Z][A-Za-z0-9_]*)\b/, (m) => `"${m[1]}"`);
}

const cache = new Map<string, Translated>();

/** translateSql, remembered per distinct statement. */
export function translated(sql: string): Translated {
  let t = cache.get(sql);
  if (!t) {
    t = translateSql(sql);
    if (cache.size > 2000) cache.clear();
    cache.set(sql, t);
  }
  return t;
}
