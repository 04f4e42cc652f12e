/** What is written on each shape's tab on the canvas: its class name, a prediction's score, both, or nothing. */
export type LabelMode = 'name' | 'score' | 'both' | 'none';

export const LABEL_MODES: readonly LabelMode[] = ['both', 'name', 'score', 'none'];

/**
 * The tab text of one shape, or undefined for none. `score` is a prediction's confidence
 * (undefined for human shapes); a shape without class has no name to show.
 */
export function shapeLabel(mode: LabelMode, className: string | undefined, score: number | undefined): string | undefined {
  const s = score === undefined ? undefined : score.toFixed(2);
  switch (mode) {
    case 'none':
      return undefined;
    case 'score':
      return s;
    case 'name':
      return className;
    case 'both':
      return className === undefined ? s : s === undefined ? className : `${className} ${s}`;
  }
}
