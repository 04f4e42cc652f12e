import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crsToPixel, epsgFromGeoKeys, geoTransformFromTags, parseNodata, pixelToCrs, type GeoTransform } from '../../src-main/common/geo';
import { insertAnnotations } from '../../src-main/db/annotations';
import { getModelRun } from '../../src-main/db/prelabel';
import { insertModelRun } from '../../src-main/db/modelRuns';
import { detectInProcess } from '../../src-main/inference/detect';
import { preprocess } from '../../src-main/inference/preprocess';
import { releaseSessions } from '../../src-main/inference/sessions';
import { readGeoReference } from '../../src-main/services/geotiff';
import { Media } from '../../src-main/services/media';
import { Pyramids } from '../../src-main/services/pyramid';
import { closeInferenceBackend, inferenceBackend, runPrelabel } from '../../src-main/services/prelabel';
import { Workspace } from '../../src-main/services/workspace';
import { yolov8nInt8Manifest } from '../helpers/models';
import { sharedPath, tempDir } from '../helpers/shared';
import { newWorkspace, ok } from '../helpers/workspace';

const dir = sharedPath('datasets/geotiff_rasterio');
const model = sharedPath('models/yolov8n_int8.onnx');

/**
 * RGB.byte.tif's georeference, read independently from its TIFF tags (ModelPixelScale 33550,
 * ModelTiepoint 33922, GeoKeyDirectory 34735, GDAL_NODATA 42113) with a separate tag reader, and
 * matching rasterio's documented bounds for the file (left 101985, bottom 2611485, right 339315,
 * top 2826915; 791 x 718 pixels): UTM zone 18N, pixel is area, nodata 0.
 */
const RGB_BYTE: GeoTransform = [101985, 300.0379266750948, 0, 2826915, 0, -300.041782729805];

describe('geotransform maths', () => {
  it('builds the transform from a tiepoint and pixel scale, and from a ModelTransformation matrix', () => {
    expect(geoTransformFromTags({ pixelScale: [300.0379266750948, 300.041782729805, 0], tiepoints: [0, 0, 0, 101985, 2826915, 0] })).toEqual(RGB_BYTE);
    // A tiepoint that is not the image corner: pixel (10, 20) sits at (1000, 5000).
    expect(geoTransformFromTags({ pixelScale: [2, 3, 0], tiepoints: [10, 20, 0, 1000, 5000, 0] })).toEqual([980, 2, 0, 5060, 0, -3]);
    // A rotated/sheared grid: X = 500 + 2 px + 0.5 py, Y = 900 + 0.25 px - 2 py.
    const m = [2, 0.5, 0, 500, 0.25, -2, 0, 900, 0, 0, 0, 0, 0, 0, 0, 1];
    expect(geoTransformFromTags({ transformation: m })).toEqual([500, 2, 0.5, 900, 0.25, -2]);
    expect(geoTransformFromTags({ tiepoints: [0, 0, 0, 1, 2, 0] })).toBeNull();
  });

  it('shifts a pixel-is-point tiepoint by half a pixel to the corner convention', () => {
    expect(geoTransformFromTags({ pixelScale: [10, 10, 0], tiepoints: [0, 0, 0, 1000, 2000, 0], pixelIsPoint: true })).toEqual([995, 10, 0, 2005, 0, -10]);
  });

  it('maps pixels to the CRS and back', () => {
    const t: GeoTransform = [500, 2, 0.5, 900, 0.25, -2];
    for (const [px, py] of [
      [0, 0],
      [10.5, 3],
      [791, 718],
    ] as const) {
      const [x, y] = pixelToCrs(t, px, py);
      const [bx, by] = crsToPixel(t, x, y);
      expect(bx).toBeCloseTo(px, 9);
      expect(by).toBeCloseTo(py, 9);
    }
  });

  it('reads EPSG codes and nodata text', () => {
    expect(epsgFromGeoKeys({ ProjectedCSTypeGeoKey: 32618, GeographicTypeGeoKey: 4326 })).toBe(32618);
    expect(epsgFromGeoKeys({ GeographicTypeGeoKey: 4326 })).toBe(4326);
    expect(epsgFromGeoKeys({ ProjectedCSTypeGeoKey: 32767 })).toBeNull();
    expect(parseNodata('0\u0000')).toBe(0);
    expect(parseNodata('-9999')).toBe(-9999);
    expect(parseNodata('nan')).toBeNaN();
    expect(parseNodata('')).toBeNull();
  });
});

describe.runIf(dir)('GeoTIFFs of rasterio', () => {
  it('RGB.byte.tif: geotransform, EPSG:32618, nodata 0; its corners are the documented bounds', async () => {
    const g = (await readGeoReference(path.join(dir!, 'RGB.byte.tif')))!;
    expect(g.transform).toEqual(RGB_BYTE);
    expect(g.epsg).toBe(32618);
    expect(g.crsName).toBe('WGS 84 / UTM zone 18N');
    expect(g.nodata).toBe(0);
    const [left, top] = pixelToCrs(g.transform, 0, 0);
    const [right, bottom] = pixelToCrs(g.transform, 791, 718);
    expect(left).toBeCloseTo(101985, 6);
    expect(top).toBeCloseTo(2826915, 6);
    expect(right).toBeCloseTo(339315, 3);
    expect(bottom).toBeCloseTo(2611485, 3);
  });

  it('world.byte.tif is geographic (EPSG:4326), cogeo.tif web mercator, rgb-byte-tenth.tif a user-defined CRS', async () => {
    const world = (await readGeoReference(path.join(dir!, 'world.byte.tif')))!;
    expect(world.epsg).toBe(4326);
    expect(world.transform).toEqual([-180, 0.125, 0, 75, 0, -0.125]);
    expect(world.nodata).toBeNull();
    expect((await readGeoReference(path.join(dir!, 'cogeo.tif')))!.epsg).toBe(3857);
    const tenth = (await readGeoReference(path.join(dir!, 'rgb-byte-tenth.tif')))!;
    expect(tenth.epsg).toBeNull();
    expect(tenth.crsName).toBe('UTM Zone 18, Northern Hemisphere');
    // No EPSG code, but the file states metres: its ruler lengths are metres.
    expect(tenth.linearUnit).toBe(1);
    expect(world.linearUnit).toBeNull();
  });
});

describe.runIf(dir)('GeoTIFF in a dataset', () => {
  let ws: Workspace;
  let imageId: number;
  beforeAll(async () => {
    const work = tempDir();
    ws = newWorkspace(work);
    await ok(ws, 'dataset:create', { path: path.join(work, 'd.tessera'), root: dir! });
    await ok(ws, 'images:import', { jobId: 'imp', paths: [path.join(dir!, 'RGB.byte.tif'), path.join(dir!, 'world.byte.tif')] });
    const { items } = await ok(ws, 'images:list', {});
    imageId = items.find((i) => i.path === 'RGB.byte.tif')!.id;
  });
  afterAll(closeInferenceBackend);

  it('stores the georeference at import and serves it to the status line', async () => {
    const g = await ok(ws, 'images:geo', { id: imageId });
    expect(g).toEqual({ transform: RGB_BYTE, epsg: 32618, crsName: 'WGS 84 / UTM zone 18N', nodata: 0, linearUnit: 1 });
    const world = (await ok(ws, 'images:list', { offset: 0, limit: 10 })).items.find((i) => i.path === 'world.byte.tif')!;
    expect((await ok(ws, 'images:geo', { id: world.id }))!.linearUnit).toBeNull();
  });

  it('exports a box and a scored prediction as GeoJSON in the image CRS', async () => {
    const db = ws.current!.db;
    const cls = (await ok(ws, 'classes:create', { name: 'field' })).id;
    const runId = await insertModelRun(db, { model: 'm', name: 'm', parameters: {} });
    await insertAnnotations(db, [
      { imageId, classId: cls, geometry: { kind: 'box', x: 10, y: 20, w: 30, h: 40 }, source: 'human' },
      { imageId, classId: cls, geometry: { kind: 'polygon', parts: [[100, 100, 200, 100, 150, 180]] }, source: 'model', modelRunId: runId, score: 0.75 },
    ]);
    const out = path.join(tempDir(), 'geo');
    const report = await ok(ws, 'interchange:export', { jobId: 'e', outDir: out, format: 'geojson', images: 'none', withPredictions: true });
    // One collection per image, each in its own CRS.
    expect(report.files).toBe(2);
    expect(JSON.parse(fs.readFileSync(path.join(out, 'world.byte.geojson'), 'utf8')).crs.properties.name).toBe('urn:ogc:def:crs:EPSG::4326');
    const fc = JSON.parse(fs.readFileSync(path.join(out, 'RGB.byte.geojson'), 'utf8'));
    expect(fc.type).toBe('FeatureCollection');
    expect(fc.crs).toEqual({ type: 'name', properties: { name: 'urn:ogc:def:crs:EPSG::32618' } });
    const box = fc.features.find((f: { properties: { source: string } }) => f.properties.source === 'human');
    expect(box.properties).toMatchObject({ class: 'field', score: null });
    // Corners (10, 20) and (40, 60) in pixel-corner coordinates through the file's geotransform.
    const ring: [number, number][] = box.geometry.coordinates[0];
    expect(box.geometry.type).toBe('Polygon');
    expect(ring).toHaveLength(5);
    expect(ring[0]).toEqual(ring[4]);
    const x0 = 101985 + 10 * 300.0379266750948, x1 = 101985 + 40 * 300.0379266750948;
    const y0 = 2826915 - 20 * 300.041782729805, y1 = 2826915 - 60 * 300.041782729805;
    const expected = [[x0, y0], [x1, y0], [x1, y1], [x0, y1]];
    ring.slice(0, 4).forEach((p, i) => {
      expect(p[0]).toBeCloseTo(expected[i]![0]!, 6);
      expect(p[1]).toBeCloseTo(expected[i]![1]!, 6);
    });
    const pred = fc.features.find((f: { properties: { source: string } }) => f.properties.source === 'model');
    expect(pred.properties.score).toBeCloseTo(0.75);
    expect(pred.geometry.coordinates[0][2][1]).toBeCloseTo(2826915 - 180 * 300.041782729805, 6);
  });

  it('pyramid tiles of a nodata GeoTIFF are WebP with nodata transparent; others stay JPEG', async () => {
    const ds = ws.current!;
    const pyramids = new Pyramids(ds, new Media(ds, 1e9), { thresholdPixels: 1000, limitInputPixels: 1e9 });
    const info = await pyramids.ensure(imageId);
    expect(info.state).toBe('ready');
    const top = info.levels - 1; // full resolution
    const corner = await pyramids.tile(imageId, top, 0, 0);
    expect(corner.mime).toBe('image/webp');
    const a = await sharp(corner.file).raw().toBuffer({ resolveWithObject: true });
    expect(a.info.channels).toBe(4);
    expect(a.data[3]).toBe(0); // pixel (0, 0): nodata
    // Pixel (395, 359) is in tile (1, 1) at (139, 103): data, opaque, its colour kept (lossy WebP).
    const mid = await sharp((await pyramids.tile(imageId, top, 1, 1)).file).raw().toBuffer({ resolveWithObject: true });
    const src = await sharp(path.join(dir!, 'RGB.byte.tif')).extract({ left: 395, top: 359, width: 1, height: 1 }).raw().toBuffer();
    const at = (103 * mid.info.width + 139) * 4;
    expect(mid.data[at + 3]).toBe(255);
    for (let c = 0; c < 3; c++) expect(Math.abs(mid.data[at + c]! - src[c]!)).toBeLessThan(24);
    // Transparent tile pixels are exactly the file's all-zero pixels over the whole top-left tile.
    const whole = await sharp(path.join(dir!, 'RGB.byte.tif')).extract({ left: 0, top: 0, width: 256, height: 256 }).raw().toBuffer();
    let wrong = 0;
    for (let p = 0; p < 256 * 256; p++) {
      const nodata = whole[p * 3] === 0 && whole[p * 3 + 1] === 0 && whole[p * 3 + 2] === 0;
      if ((a.data[p * 4 + 3] === 0) !== nodata) wrong++;
    }
    expect(wrong).toBe(0);
    // world.byte.tif sets no nodata: JPEG tiles as for any large image.
    const { items } = await ok(ws, 'images:list', {});
    const world = items.find((i) => i.path === 'world.byte.tif')!.id;
    await pyramids.ensure(world);
    expect((await pyramids.tile(world, (await pyramids.info(world)).levels - 1, 0, 0)).mime).toBe('image/jpeg');
    pyramids.close();
  });

  it('marks a region holding only nodata in preprocessing', async () => {
    const file = path.join(dir!, 'RGB.byte.tif');
    const m = yolov8nInt8Manifest('unused.onnx');
    // The scene is a rotated Landsat footprint: the top-left corner is nodata (0), the centre is not.
    const corner = await preprocess({ path: file, region: { x: 0, y: 0, w: 64, h: 64 } }, m, [320, 320], { nodata: 0 });
    const centre = await preprocess({ path: file, region: { x: 360, y: 320, w: 64, h: 64 } }, m, [320, 320], { nodata: 0 });
    expect(corner.nodataOnly).toBe(true);
    expect(centre.nodataOnly).toBeFalsy();
  });

  it.runIf(model)('does not run the model on tiles holding only nodata', async () => {
    const file = path.join(dir!, 'RGB.byte.tif');
    const m = yolov8nInt8Manifest(model!);
    const run = (region: { x: number; y: number; w: number; h: number }) => detectInProcess({ file: model! }, { path: file, region }, m, {}, { nodata: 0 });
    try {
      // The session runs for the centre tile (some time spent in it), never for the nodata corner.
      const centre = await run({ x: 360, y: 320, w: 64, h: 64 });
      const corner = await run({ x: 0, y: 0, w: 64, h: 64 });
      expect(centre.timings.runMs).toBeGreaterThan(0);
      expect(corner.timings.runMs).toBe(0);
      expect(corner.detections).toEqual([]);
    } finally {
      await releaseSessions();
    }
  });

  it.runIf(model)('a tiled run over the GeoTIFF completes and records its tiling', async () => {
    const { detector } = await inferenceBackend();
    const s = await runPrelabel(ws.current!, detector, {
      manifest: yolov8nInt8Manifest(model!),
      modelFile: model!,
      imageIds: [imageId],
      skipLabeled: false,
      tiling: { size: 384, overlap: 32 },
    });
    expect(s.done).toBe(1);
    expect((await getModelRun(ws.current!.db, s.runId))!.parameters['tiling']).toEqual({ size: 384, overlap: 32 });
  });
});

describe.runIf(dir)('GeoTIFF in an annotated-dataset import', () => {
  it('a COCO dataset whose image is a GeoTIFF stores the georeference like the image import does', async () => {
    // A copy of the GeoTIFF in a temporary COCO dataset (never in the repository).
    const work = tempDir();
    const src = path.join(work, 'coco');
    fs.mkdirSync(src, { recursive: true });
    fs.copyFileSync(path.join(dir!, 'RGB.byte.tif'), path.join(src, 'scene.tif'));
    fs.writeFileSync(
      path.join(src, 'annotations.json'),
      JSON.stringify({
        images: [{ id: 7, file_name: 'scene.tif', width: 791, height: 718 }],
        categories: [{ id: 1, name: 'field' }],
        annotations: [{ id: 1, image_id: 7, category_id: 1, bbox: [100, 120, 40, 30], area: 1200, iscrowd: 0 }],
      }),
    );
    const ws = newWorkspace(work);
    await ok(ws, 'dataset:create', { path: path.join(work, 'd.tessera'), root: src });
    const report = await ok(ws, 'interchange:import', { jobId: 'i', path: path.join(src, 'annotations.json'), format: 'coco' });
    expect(report.images.added).toBe(1);
    const { items } = await ok(ws, 'images:list', {});
    expect(items.map((i) => i.path)).toEqual(['scene.tif']);
    const g = await ok(ws, 'images:geo', { id: items[0]!.id });
    expect(g).toEqual({ transform: RGB_BYTE, epsg: 32618, crsName: 'WGS 84 / UTM zone 18N', nodata: 0, linearUnit: 1 });
  });
});
