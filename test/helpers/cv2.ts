import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { LetterboxGeometry } from '../../src-main/common/inference/letterbox';

/** Debian's OpenCV (python3-opencv) is installed for the system Python, not for one on PATH. */
const PYTHON = '/usr/bin/python3';

/**
 * True when /usr/bin/python3 can import cv2 and numpy. Otherwise the caller skips, printing why;
 * under CI=true a missing OpenCV fails instead (.ci/run installs python3-opencv).
 */
export function cv2Available(): boolean {
  const r = fs.existsSync(PYTHON) ? spawnSync(PYTHON, ['-c', 'import cv2, numpy'], { encoding: 'utf8' }) : null;
  if (r && r.status === 0) return true;
  const why = r ? `${PYTHON} cannot import cv2: ${(r.stderr || '').trim().split('\n').pop()}` : `${PYTHON} is not present`;
  if (process.env['CI']) throw new Error(`${why}, and CI is set: install python3-opencv`);
  console.log(`skipping: ${why} (apt-get install python3-opencv)`);
  return false;
}

/**
 * The reference preprocessing, as the models' own projects write it: Ultralytics' LetterBox
 * (centred, Python rounding, padding split round(d -/+ 0.1), pad 114; a stretch for RT-DETR) and
 * YOLOX's preproc (top-left, int() truncation, pad 114), on cv2.imread pixels with
 * cv2.resize INTER_LINEAR. Writes the BGR uint8 input image and its geometry.
 */
const SCRIPT = `
import json, sys
import cv2
import numpy as np

def ultralytics(img, h, w, stretch):
    shape = img.shape[:2]
    if stretch:
        return cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR), (w, h, 0, 0)
    r = min(h / shape[0], w / shape[1])
    new_unpad = int(round(shape[1] * r)), int(round(shape[0] * r))
    dw, dh = (w - new_unpad[0]) / 2, (h - new_unpad[1]) / 2
    if shape[::-1] != new_unpad:
        img = cv2.resize(img, new_unpad, interpolation=cv2.INTER_LINEAR)
    top, bottom = int(round(dh - 0.1)), int(round(dh + 0.1))
    left, right = int(round(dw - 0.1)), int(round(dw + 0.1))
    out = cv2.copyMakeBorder(img, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(114, 114, 114))
    return out, (new_unpad[0], new_unpad[1], left, top)

def yolox(img, h, w):
    padded = np.ones((h, w, 3), dtype=np.uint8) * 114
    r = min(h / img.shape[0], w / img.shape[1])
    nw, nh = int(img.shape[1] * r), int(img.shape[0] * r)
    resized = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR).astype(np.uint8)
    padded[:nh, :nw] = resized
    return padded, (nw, nh, 0, 0)

results = []
for job in json.load(open(sys.argv[1])):
    img = cv2.imread(job['image'], cv2.IMREAD_COLOR)
    h, w = job['height'], job['width']
    if job['mode'] == 'topleft':
        out, g = yolox(img, h, w)
    else:
        out, g = ultralytics(img, h, w, job['mode'] == 'stretch')
    assert out.shape == (h, w, 3), out.shape
    open(job['out'], 'wb').write(np.ascontiguousarray(out).tobytes())
    results.append({'srcW': img.shape[1], 'srcH': img.shape[0], 'newW': g[0], 'newH': g[1], 'padLeft': g[2], 'padTop': g[3]})
print(json.dumps(results))
`;

export type ReferenceMode = 'center' | 'topleft' | 'stretch';

export interface ReferenceJob {
  image: string;
  mode: ReferenceMode;
  /** Network input size. */
  height: number;
  width: number;
}

export interface ReferenceInput {
  /** The letterboxed input image, BGR, HxWx3 uint8, as the reference feeds it to the network. */
  bgr: Buffer;
  geometry: LetterboxGeometry;
}

/** Runs the reference preprocessing for all jobs in one Python process; `dir` holds its files. */
export function cv2Reference(jobs: readonly ReferenceJob[], dir: string): ReferenceInput[] {
  const script = path.join(dir, 'cv2_letterbox.py');
  fs.writeFileSync(script, SCRIPT);
  const withOut = jobs.map((j, i) => ({ ...j, out: path.join(dir, `ref-${i}.bgr`) }));
  fs.writeFileSync(path.join(dir, 'jobs.json'), JSON.stringify(withOut));
  const stdout = execFileSync(PYTHON, [script, path.join(dir, 'jobs.json')], { encoding: 'utf8', maxBuffer: 1 << 24 });
  const geos = JSON.parse(stdout) as { srcW: number; srcH: number; newW: number; newH: number; padLeft: number; padTop: number }[];
  return withOut.map((j, i) => {
    const g = geos[i]!;
    return {
      bgr: fs.readFileSync(j.out),
      geometry: { ...g, dstW: j.width, dstH: j.height, scaleX: g.newW / g.srcW, scaleY: g.newH / g.srcH },
    };
  });
}
