import { createRequire } from 'node:module';

/** The OpenCV module (OpenCV 4.12 compiled to WebAssembly by @techstark/opencv-js). */
export type OpenCv = typeof import('@techstark/opencv-js');

/** The module in a box: promises never see it, since it has a `then` method of its own. */
export interface OpenCvBox {
  cv: OpenCv;
}

let loading: Promise<OpenCvBox> | null = null;

/**
 * Loads OpenCV once per thread (about 0.2 s). The module object is never awaited or resolved
 * directly (a promise would call its `then`): it is ready when `cv.Mat` exists, else when the
 * runtime calls `onRuntimeInitialized`.
 */
export function loadOpenCv(): Promise<OpenCvBox> {
  loading ??= new Promise<OpenCvBox>((resolve, reject) => {
    try {
      const cv = createRequire(import.meta.url)('@techstark/opencv-js') as OpenCv & { onRuntimeInitialized?: () => void };
      if (cv.Mat) resolve({ cv });
      else cv.onRuntimeInitialized = () => resolve({ cv });
    } catch (e) {
      reject(e as Error);
    }
  });
  return loading;
}
