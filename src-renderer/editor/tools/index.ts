import type { Editor } from '../Editor';
import { BoxTool } from './box';
import { BrushTool } from './brush';
import { KeypointsTool } from './keypoints';
import { PanTool } from './pan';
import { PointTool } from './point';
import { PolygonTool } from './polygon';
import { SamTool } from './sam';
import { SelectTool } from './select';
import { WandTool } from './wand';
import { ScissorsTool } from './scissors';
import { ObbTool } from './obb';
import { PolylineTool } from './polyline';
import { EllipseTool } from './ellipse';
import { RulerTool } from './ruler';
import type { Tool, ToolId } from './Tool';

export function createTools(editor: Editor): Record<ToolId, Tool> {
  return {
    select: new SelectTool(editor),
    box: new BoxTool(editor),
    polygon: new PolygonTool(editor),
    brush: new BrushTool(editor, false),
    eraser: new BrushTool(editor, true),
    point: new PointTool(editor),
    pan: new PanTool(editor),
    wand: new WandTool(editor),
    scissors: new ScissorsTool(editor),
    sam: new SamTool(editor),
    obb: new ObbTool(editor),
    polyline: new PolylineTool(editor),
    ellipse: new EllipseTool(editor),
    keypoints: new KeypointsTool(editor),
    ruler: new RulerTool(editor),
  };
}
