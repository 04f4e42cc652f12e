import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MIGRATIONS, SCHEMA_VERSION } from '../../src-main/db/migrations';
import { openDatabase } from '../../src-main/db/open';
import { insertAnnotations } from '../../src-main/db/annotations';
import { insertClass } from '../../src-main/db/classes';
import { insertImages } from '../../src-main/db/images';
import { insertVersion, listVersions, versionImageAnnotations } from '../../src-main/db/versions';
import { tempDir } from '../helpers/shared';

describe('migration 15 (versions)', () => {
  it('adds empty version tables to a version-14 dataset, whose rows a first version then freezes, independent of later deletes', async () => {
    const file = path.join(tempDir(), 'v14.tessera');
    const v14 = openDatabase(file, { create: true, migrations: MIGRATIONS.filter((m) => m.version <= 14) });
    const [a] = await insertImages(v14, [{ path: 'a.png', external: false, contentHash: 'ha', fileSize: 1, fileMtimeMs: 1, width: 10, height: 10, channels: 3, bitDepth: 8, format: 'png', frames: 1, orientation: 1 }]);
    const cls = (await insertClass(v14, { name: 'cell', color: '#ff0000' })).id;
    const [box] = await insertAnnotations(v14, [{ imageId: a!, classId: cls, geometry: { kind: 'box', x: 1, y: 2, w: 3, h: 4 }, source: 'human', attributes: { occluded: true } }]);
    await v14.close();

    const db = openDatabase(file);
    expect(db.sqlite!.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    for (const t of ['versions', 'version_images', 'version_classes', 'version_annotations']) expect(await db.prepare(`SELECT count(*) FROM ${t}`).pluck().get()).toBe(0);
    expect(await listVersions(db)).toEqual([]);

    const v = await insertVersion(db, { name: 'after upgrade', note: 'n' }, 1_700_000_000_000);
    expect(v).toEqual({ number: 1, name: 'after upgrade', note: 'n', createdAt: 1_700_000_000_000, withPredictions: false, recipe: null, images: 1, classes: 1, annotations: 1 });
    expect(await db.prepare('SELECT path, content_hash, status, split FROM version_images').all()).toEqual([{ path: 'a.png', content_hash: 'ha', status: 'new', split: null }]);
    db.sqlite!.pragma('foreign_keys = ON');
    await db.prepare('DELETE FROM annotations').run();
    await db.prepare('DELETE FROM images').run();
    await db.prepare('DELETE FROM classes').run();
    const kept = await versionImageAnnotations(db, 1, a!, v.createdAt);
    expect(kept.map((r) => [r.id, r.classId, r.geometry, r.attributes])).toEqual([[box, cls, { kind: 'box', x: 1, y: 2, w: 3, h: 4 }, { occluded: true }]]);
    expect(await db.prepare('SELECT name, color FROM version_classes').all()).toEqual([{ name: 'cell', color: '#ff0000' }]);
    await db.close();
  });
});

describe('frozen georeferences and COCO ids', () => {
  it('reads back as the live ones did when the version was made, after the live rows change', async () => {
    const { setGeoReferences, getGeo } = await import('../../src-main/db/geo');
    const { cocoExportIds } = await import('../../src-main/db/interchange');
    const { versionGeo, versionCocoIds, versionClasses } = await import('../../src-main/db/versions');
    const { listClasses } = await import('../../src-main/db/classes');
    const db = openDatabase(path.join(tempDir(), 'g.tessera'), { create: true });
    const img = (p: string) => ({ path: p, external: false, contentHash: p, fileSize: 1, fileMtimeMs: 1, width: 10, height: 10, channels: 3, bitDepth: 8, format: 'tiff', frames: 1, orientation: 1 });
    const [a, b, c] = await insertImages(db, [img('a.tif'), img('b.tif'), img('c.tif')]);
    const k1 = (await insertClass(db, { name: 'one', color: '#000000', attributes: [{ name: 'occluded', type: 'boolean' }] })).id;
    const k2 = (await insertClass(db, { name: 'two', color: '#ffffff' })).id;
    await setGeoReferences(db, [
      { imageId: a!, geo: { transform: [500000, 0.5, 0, 4100000, 0, -0.5], epsg: 32618, crsName: 'WGS 84 / UTM zone 18N', nodata: Number.NaN, linearUnit: 1 } },
      { imageId: b!, geo: { transform: [1, 2, 0, 3, 0, -2], epsg: null, crsName: null, nodata: -9999, linearUnit: null } },
    ]);
    await db.prepare('INSERT INTO coco_image_ids (image_id, coco_id) VALUES (?, 7000)').run(b!);
    await db.prepare('INSERT INTO coco_category_ids (class_id, coco_id) VALUES (?, 90)').run(k2);
    const liveGeo = [];
    for (const id of [a!, b!, c!]) liveGeo.push(await getGeo(db, id));
    const liveIds = await cocoExportIds(db);
    const ids = [a!, b!, c!].map((id) => liveIds.image(id));
    const cats = (await listClasses(db)).map((k, i) => liveIds.category(k.id, i));
    const classes = await listClasses(db);
    await insertVersion(db, { name: 'v' });

    await db.prepare('DELETE FROM image_geo').run();
    await db.prepare('DELETE FROM coco_image_ids').run();
    await db.prepare('UPDATE classes SET attributes = ? WHERE id = ?').run('[]', k1);
    const frozenGeo = [];
    for (const id of [a!, b!, c!]) frozenGeo.push(await versionGeo(db, 1, id));
    expect(frozenGeo).toEqual(liveGeo);
    expect(Number.isNaN((await versionGeo(db, 1, a!))!.nodata)).toBe(true);
    const frozen = await versionCocoIds(db, 1);
    expect([a!, b!, c!].map((id) => frozen.image(id))).toEqual(ids);
    expect((await versionClasses(db, 1)).map((k, i) => frozen.category(k.id, i))).toEqual(cats);
    expect((await versionClasses(db, 1)).map(({ cocoId: _, ...k }) => k)).toEqual(classes.map((k) => ({ ...k, hotkey: null })));
    await db.close();
  });
});
