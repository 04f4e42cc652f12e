import type { ClassRecord } from '../../src-main/common/model';
import { actionForChord, type ActionContext } from './actions';
import { chordLabel, chordOf, type KeyInput } from './keys';

/**
 * Keys beyond 1-9: any class may be given a key of its own (stored in the class's `hotkey` as a
 * chord, e.g. 'g', 'shift+t', 'alt+3', 'f2'). A key an action already uses is refused, so the
 * tools, editing and navigation keys always do what the shortcuts list says.
 */

/** Keys that cannot be a class's key: modifiers alone, and keys the editor and focus need. */
const NOT_A_HOTKEY = new Set(['shift', 'control', 'alt', 'meta', 'altgraph', 'capslock', 'tab', 'escape', 'enter', 'backspace', 'delete', 'space', 'contextmenu', 'dead', 'unidentified', 'process']);

/** The chord a key press would set as a class key, or null for keys that cannot be one. */
export function hotkeyChord(k: KeyInput): string | null {
  const chord = chordOf(k);
  const key = chord.split('+').at(-1)!;
  return NOT_A_HOTKEY.has(key) ? null : chord;
}

/** Why `chord` cannot be the key of class `classId`, or null when it can. */
export function hotkeyProblem(chord: string, classes: readonly ClassRecord[], classId: number): string | null {
  const label = chordLabel(chord);
  if (chord.split('+').includes('ctrl')) return `${label}: Ctrl combinations are kept for commands; choose another key`;
  const a = actionForChord(chord);
  if (a) return `${label} is already "${a.label}"; choose another key`;
  const other = classes.find((c) => c.id !== classId && c.hotkey === chord);
  if (other) return `${label} is already the key of class "${other.name}"`;
  return null;
}

/**
 * Picks the class whose key was pressed, as keys 1-9 do (the selection is relabelled to it).
 * Actions come first: a key an action has taken since it was given to a class does the action.
 */
export function handleClassKey(ctx: ActionContext, k: KeyInput): boolean {
  const chord = chordOf(k);
  if (actionForChord(chord)) return false;
  const index = ctx.editor.classes.findIndex((c) => c.hotkey === chord);
  if (index < 0) return false;
  void ctx.editor.pickClassByIndex(index);
  return true;
}

/**
 * Classes matching a typed text, best first: the name equal to it, then names starting with it,
 * then names with a word starting with it, then names containing it; within each, alphabetical
 * (as a list to pick from is read). Case is ignored; an empty text lists every class in its order.
 */
export function searchClasses(classes: readonly ClassRecord[], text: string): ClassRecord[] {
  const q = text.trim().toLowerCase();
  if (!q) return [...classes];
  const ranked: { c: ClassRecord; rank: number; name: string }[] = [];
  for (const c of classes) {
    const name = c.name.toLowerCase();
    const at = name.indexOf(q);
    if (at < 0) continue;
    const rank = name === q ? 0 : at === 0 ? 1 : name.split(/[\s_\-./]+/).some((w) => w.startsWith(q)) ? 2 : 3;
    ranked.push({ c, rank, name });
  }
  return ranked.sort((a, b) => a.rank - b.rank || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).map((r) => r.c);
}
