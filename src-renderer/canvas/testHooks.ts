import type { ImageViewer } from './ImageViewer';

declare global {
  interface Window {
    /** The current viewer, for end-to-end tests and the canvas benchmark; set only with `?hooks=1`. */
    __tesseraCanvas?: ImageViewer;
  }
}

/**
 * Lets tests and the benchmark reach the viewer from Playwright (page.evaluate runs outside the
 * page's CSP, so no eval is involved). Only pages opened with `?hooks=1` get it: the app itself
 * never opens such a URL.
 */
export function exposeForTests(viewer: ImageViewer): void {
  if (new URLSearchParams(window.location.search).get('hooks') !== '1') return;
  window.__tesseraCanvas = viewer;
}

export function forgetForTests(viewer: ImageViewer): void {
  if (window.__tesseraCanvas === viewer) delete window.__tesseraCanvas;
}
