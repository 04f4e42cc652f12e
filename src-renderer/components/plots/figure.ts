/**
 * What the evaluation plots share: colours and type written as SVG attributes (not CSS), so a
 * saved SVG or PNG looks like the plot on screen, and the code that saves them.
 */
export const PLOT = {
  background: '#1b1c1f',
  grid: '#2e3035',
  axis: '#5a5e66',
  text: '#d8dade',
  muted: '#8d929b',
  font: 'system-ui, -apple-system, Segoe UI, Roboto, Ubuntu, sans-serif',
  precision: '#4c8dff',
  recall: '#e8a23c',
  f1: '#5cc98a',
  marker: '#ff6b6b',
} as const;

/** Colours for curves of classes without one of their own. */
export const SERIES = ['#4c8dff', '#e8a23c', '#5cc98a', '#ff6b6b', '#b07cff', '#3fc7c7', '#f06cb4', '#c9c95c', '#9aa0aa', '#ff9a5c'];

/** One class's precision-recall curve. */
export interface PrSeries {
  classId: number;
  name: string;
  color: string;
  ap50: number;
  recall: readonly number[];
  /** -1 where precision is undefined (COCO). */
  precision: readonly number[];
}

/** Hands a file to the browser as a download (Electron asks where to save it). */
export function download(name: string, data: Blob): void {
  const url = URL.createObjectURL(data);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.rel = 'noopener';
  a.style.display = 'none';
  document.body.append(a);
  a.click();
  a.remove();
  // The download has taken its copy by the time the click returns; a delay is only for safety.
  setTimeout(() => URL.revokeObjectURL(url), 30_000);
}

function svgSize(svg: SVGSVGElement): { width: number; height: number } {
  const vb = svg.viewBox.baseVal;
  if (vb && vb.width > 0 && vb.height > 0) return { width: vb.width, height: vb.height };
  const r = svg.getBoundingClientRect();
  return { width: Math.max(1, Math.round(r.width)), height: Math.max(1, Math.round(r.height)) };
}

/** A standalone SVG document of the plot, at its own (viewBox) size. */
export function svgDocument(svg: SVGSVGElement): string {
  const clone = svg.cloneNode(true) as SVGSVGElement;
  const { width, height } = svgSize(svg);
  clone.setAttribute('xmlns', 'http://www.w3.org/2000/svg');
  clone.setAttribute('width', String(width));
  clone.setAttribute('height', String(height));
  clone.removeAttribute('class');
  clone.removeAttribute('style');
  return `<?xml version="1.0" encoding="UTF-8"?>\n${new XMLSerializer().serializeToString(clone)}\n`;
}

/** The plot drawn into a PNG at `scale` times its size, through the browser's own SVG renderer. */
export async function svgToPng(svg: SVGSVGElement, scale = 2): Promise<Blob> {
  const { width, height } = svgSize(svg);
  const url = URL.createObjectURL(new Blob([svgDocument(svg)], { type: 'image/svg+xml' }));
  try {
    const img = new Image();
    img.src = url;
    await img.decode();
    const canvas = document.createElement('canvas');
    canvas.width = Math.round(width * scale);
    canvas.height = Math.round(height * scale);
    const ctx = canvas.getContext('2d');
    if (!ctx) throw new Error('no 2D canvas to draw the plot into');
    ctx.scale(scale, scale);
    ctx.drawImage(img, 0, 0, width, height);
    return await new Promise<Blob>((resolve, reject) =>
      canvas.toBlob((b) => (b ? resolve(b) : reject(new Error('the plot could not be encoded as PNG'))), 'image/png'),
    );
  } finally {
    URL.revokeObjectURL(url);
  }
}

/** A metric with `digits` decimals, a dash where undefined (COCO writes -1). */
export function metric(v: number | null | undefined, digits = 3): string {
  return v === null || v === undefined || v < 0 || !Number.isFinite(v) ? '–' : v.toFixed(digits);
}
