import { LABEL_MODES, type LabelMode } from '../editor/labels';
import { editorState } from './editor.svelte';

const COMPACT_KEY = 'tessera.classes.compact';
const LABELS_KEY = 'tessera.canvas.labels';

function saved(key: string): string | null {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

function save(key: string, value: string): void {
  try {
    localStorage.setItem(key, value);
  } catch {
    // A browser without storage forgets the choice; nothing else depends on it.
  }
}

function savedLabelMode(): LabelMode {
  const v = saved(LABELS_KEY);
  return (LABEL_MODES as readonly string[]).includes(v ?? '') ? (v as LabelMode) : 'both';
}

/** The class panel's remembered choices: compact rows, and what the canvas writes on each shape. */
export class ClassPanelState {
  compact = $state(saved(COMPACT_KEY) === '1');
  labelMode = $state<LabelMode>(savedLabelMode());

  constructor() {
    editorState.editor.setLabelMode(this.labelMode);
  }

  setCompact(on: boolean): void {
    this.compact = on;
    save(COMPACT_KEY, on ? '1' : '0');
  }

  setLabelMode(mode: LabelMode): void {
    this.labelMode = mode;
    editorState.editor.setLabelMode(mode);
    save(LABELS_KEY, mode);
  }
}

export const classPanel = new ClassPanelState();
