import type { EditOp, EditResult, HistoryState } from '../../src-main/common/editing';
import type { AnnotationRecord } from '../../src-main/common/model';
import type { SmartBackend } from './smart';

/**
 * What the editor needs from the dataset, injected so the editor runs without a transport (under
 * Node in tests, over the bridge in the app). Failures throw an error with a `code` property
 * (an ErrorCode such as STALE_EDIT or INVALID_GEOMETRY); anything else is treated as a transport
 * failure that a retry may cure.
 */
export interface EditorBackend {
  list(imageId: number): Promise<AnnotationRecord[]>;
  edit(imageId: number, label: string, ops: EditOp[]): Promise<EditResult>;
  undo(imageId: number): Promise<EditResult | null>;
  redo(imageId: number): Promise<EditResult | null>;
  history(imageId: number): Promise<HistoryState>;
  /** The classical smart tools (magic wand, GrabCut, watershed); absent where there are none. */
  smart?: SmartBackend;
}

export function errorCodeOf(e: unknown): string | null {
  if (typeof e === 'object' && e !== null && 'code' in e && typeof (e as { code: unknown }).code === 'string') {
    return (e as { code: string }).code;
  }
  return null;
}

export function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
