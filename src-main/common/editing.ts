import type { AnnotationRecord, AttributeValue, Geometry } from './model';

/**
 * Edits of one image's annotations, as the editor sends them. One `annotations:edit` call is one
 * user action: applied in one transaction and recorded as one journal entry, so undo and redo
 * (which survive a restart) revert or re-apply it whole.
 */
export type { AttributeValue } from './model';

export interface AnnotationDraft {
  classId: number | null;
  geometry: Geometry;
  frame?: number;
  attributes?: Record<string, AttributeValue>;
  z?: number;
}

export type AnnotationPatch = Partial<Pick<AnnotationRecord, 'classId' | 'geometry' | 'z'>> & {
  attributes?: Record<string, AttributeValue>;
};

export type EditOp =
  | { op: 'create'; draft: AnnotationDraft }
  /** `baseVersion`, when given, must match the stored version or the edit is refused (STALE_EDIT). */
  | { op: 'update'; id: number; patch: AnnotationPatch; baseVersion?: number }
  | { op: 'delete'; id: number };

/** What an edit, an undo or a redo changed: the new values, and the ids that no longer exist. */
export interface EditResult {
  journalId: number;
  label: string;
  changed: AnnotationRecord[];
  deleted: number[];
  /** Ids of annotations created by this edit, in the order of the create ops. */
  created: number[];
}

export interface HistoryState {
  canUndo: boolean;
  canRedo: boolean;
  undoLabel: string | null;
  redoLabel: string | null;
}
