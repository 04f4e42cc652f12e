import type { Editor } from './Editor';
import type { SceneView } from './scene';

/**
 * Joins an editor to a view: the view draws what the editor emits and sends pointer events
 * back. The current state is pushed at once, so a view may connect at any time (a canvas created
 * after the image was opened). Returns the function that disconnects them.
 */
export function connectView(editor: Editor, view: SceneView): () => void {
  let pans: boolean | null = null;
  let secondary: boolean | null = null;
  const syncPans = (): void => {
    if (editor.tool.pans !== pans) {
      pans = editor.tool.pans;
      view.setLeftButtonPans(pans);
    }
    if (editor.tool.takesSecondary !== secondary) {
      secondary = editor.tool.takesSecondary;
      view.setSecondaryToEditor?.(secondary);
    }
  };
  const offs = [
    editor.events.on('scene', (s) => view.setShapes(s)),
    editor.events.on('shapesChanged', (changed, removed) => view.updateShapes(changed, removed)),
    editor.events.on('hidden', (ids) => view.setHidden(ids)),
    editor.events.on('overlay', (o) => view.setOverlay(o)),
    editor.events.on('change', syncPans),
    view.onPointer((type, e) => editor.pointer(type, e)),
  ];
  const now = editor.snapshot();
  view.setShapes(now.scene);
  view.setHidden(now.hidden);
  view.setOverlay(now.overlay);
  syncPans();
  return () => {
    for (const off of offs) off();
  };
}
