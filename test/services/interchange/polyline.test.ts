import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { geometryToGeoJson, type GeoTransform } from '../../../src-main/common/geo';
import type { Geometry } from '../../../src-main/common/model';
import { callWs, closeTestDataset, createTestDataset, newWorkspace, type TestDataset } from '../../helpers/editorDriver';

/**
 * Open polylines through the export and import services: CVAT XML and labelme hold them and give
 * them back unchanged; formats without lines drop them with the counted `unsupported:polyline`
 * warning of the export report.
 */
let ds: TestDataset;
const line: Geometry = { kind: 'polyline', points: [10.5, 20, 60, 25.25, 90, 80, 150, 60] };
const box: Geometry = { kind: 'box', x: 5, y: 6, w: 40, h: 30 };

beforeAll(async () => {
  ds = await createTestDataset();
  const imageId = ds.images[0]!.id;
  await callWs(ds.ws, 'annotations:edit', {
    imageId,
    label: 'draw',
    ops: [
      { op: 'create', draft: { classId: ds.classes[0]!.id, geometry: line } },
      { op: 'create', draft: { classId: ds.classes[1]!.id, geometry: box } },
    ],
  });
});

afterAll(async () => await closeTestDataset(ds));

/** Imports `dir` into a new dataset and returns the shapes of the image named `a.png`, with their class names. */
async function importBack(dir: string, format: 'cvat' | 'labelme'): Promise<{ label: string; geometry: Geometry }[]> {
  const ws = newWorkspace(path.join(ds.dir, `config-${format}`));
  try {
    await callWs(ws, 'dataset:create', { path: path.join(ds.dir, `back-${format}.tessera`), root: dir });
    const report = await callWs(ws, 'interchange:import', { jobId: `back-${format}`, path: dir, format, allowOutsideRoot: true });
    expect(report.problems.filter((p) => p.severity === 'error')).toEqual([]);
    const { items } = await callWs(ws, 'images:list', {});
    const a = items.find((i) => i.path.endsWith('a.png'))!;
    const classes = new Map((await callWs(ws, 'classes:list', {})).map((c) => [c.id, c.name]));
    const anns = await callWs(ws, 'annotations:list', { imageId: a.id });
    return anns.map((x) => ({ label: classes.get(x.classId!)!, geometry: x.geometry })).sort((p, q) => p.label.localeCompare(q.label));
  } finally {
    await ws.close();
  }
}

describe('polylines in exports', () => {
  for (const format of ['cvat', 'labelme'] as const) {
    it(`${format} writes the line and reads it back unchanged`, async () => {
      const out = path.join(ds.dir, `out-${format}`);
      const report = await callWs(ds.ws, 'interchange:export', { jobId: `x-${format}`, outDir: out, format });
      expect(report.warnings).toEqual([]);
      if (format === 'cvat') expect(fs.readFileSync(path.join(out, 'annotations.xml'), 'utf8')).toContain('<polyline label="cell" points="10.5,20;60,25.25;90,80;150,60"/>');
      else expect(JSON.parse(fs.readFileSync(path.join(out, 'a.json'), 'utf8')).shapes).toContainEqual(expect.objectContaining({ label: 'cell', shape_type: 'linestrip', points: [[10.5, 20], [60, 25.25], [90, 80], [150, 60]] }));
      expect(await importBack(out, format)).toEqual([
        { label: 'cell', geometry: line },
        { label: 'nucleus', geometry: box },
      ]);
    });
  }

  it('GeoJSON writes a line string in the image CRS', () => {
    const t: GeoTransform = [1000, 2, 0, 5000, 0, -2];
    expect(geometryToGeoJson(line, t)).toEqual({ type: 'LineString', coordinates: [[1021, 4960], [1120, 4949.5], [1180, 4840], [1300, 4880]] });
  });

  it('formats without lines drop them, counted in the export report', async () => {
    for (const format of ['coco', 'yolo', 'yolo-obb', 'voc'] as const) {
      const report = await callWs(ds.ws, 'interchange:export', { jobId: `x-${format}`, outDir: path.join(ds.dir, `out-${format}`), format });
      expect(report.warnings.find((w) => w.kind === 'unsupported:polyline'), format).toMatchObject({ count: 1, message: 'polyline annotations dropped: the format cannot hold them' });
    }
  });
});
