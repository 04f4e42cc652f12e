export { Editor, NEUTRAL_COLOR } from './Editor';
export type { ClipboardContent, EditorEvents, EditorImage, EditorStatus, PendingAction } from './Editor';
export type { EditorBackend } from './backend';
export { ACTIONS, action, actionForChord, duplicateBindings, enabled, handleKey } from './actions';
export type { Action, ActionContext, ActionGroup } from './actions';
export { chordOf, chordLabel } from './keys';
export type { KeyInput } from './keys';
export { connectView } from './connect';
export type { ToolId } from './tools/Tool';
