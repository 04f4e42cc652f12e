/** A key press as the editor sees it, independent of the DOM's KeyboardEvent. */
export interface KeyInput {
  key: string;
  ctrl: boolean;
  shift: boolean;
  alt: boolean;
}

const NAMED: Record<string, string> = {
  ' ': 'space',
  Esc: 'escape',
  Del: 'delete',
  Left: 'arrowleft',
  Right: 'arrowright',
  Up: 'arrowup',
  Down: 'arrowdown',
};

/**
 * The canonical chord of a key press, e.g. 'b', 'ctrl+z', 'shift+ctrl+z', 'arrowright', '?'.
 * Modifiers come in the order shift, ctrl, alt. Shift is dropped for printable non-letters
 * because it is already part of the character ('?' is Shift+/ on most layouts, and on others not).
 */
export function chordOf(k: KeyInput): string {
  const raw = NAMED[k.key] ?? k.key;
  const key = raw.length === 1 ? raw.toLowerCase() : raw.toLowerCase();
  const printable = raw.length === 1;
  const letter = printable && /[a-z]/i.test(raw);
  const mods: string[] = [];
  if (k.shift && (!printable || letter)) mods.push('shift');
  if (k.ctrl) mods.push('ctrl');
  if (k.alt) mods.push('alt');
  return [...mods, key].join('+');
}

/** How a chord is shown to people, e.g. 'shift+ctrl+z' as 'Shift+Ctrl+Z'. */
export function chordLabel(chord: string): string {
  const names: Record<string, string> = {
    arrowleft: '←',
    arrowright: '→',
    arrowup: '↑',
    arrowdown: '↓',
    escape: 'Esc',
    delete: 'Del',
    backspace: 'Backspace',
    enter: 'Enter',
    space: 'Space',
  };
  return chord
    .split('+')
    .map((p, i, all) => {
      if (i < all.length - 1 || p.length > 1) return names[p] ?? p.charAt(0).toUpperCase() + p.slice(1);
      return p.toUpperCase();
    })
    .join('+');
}
