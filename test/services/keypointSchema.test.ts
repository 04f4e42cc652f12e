import { beforeAll, describe, expect, it } from 'vitest';
import { COCO_PERSON_KEYPOINTS, schemaFromText, schemaToText } from '../../src-main/common/keypoints';
import type { KeypointSchema } from '../../src-main/common/model';
import { fails, importedDataset, makeImageDir, ok } from '../helpers/workspace';

let imageDir: string;
beforeAll(async () => {
  imageDir = await makeImageDir();
});

const THREE: KeypointSchema = { names: ['head', 'neck', 'tail'], skeleton: [[0, 1], [1, 2]] };

async function session() {
  const { ws, items } = await importedDataset(imageDir);
  const pose = await ok(ws, 'classes:create', { name: 'pose' });
  const image = items.find((i) => i.path.endsWith('a.jpg'))!.id;
  return { ws, pose: pose.id, image };
}

const create = (classId: number, points: number[]) => ({ op: 'create' as const, draft: { classId, geometry: { kind: 'keypoints' as const, points } } });

describe('classes:setKeypoints', () => {
  it('stores, reads back and clears a schema', async () => {
    const { ws, pose } = await session();
    expect((await ok(ws, 'classes:setKeypoints', { id: pose, keypoints: THREE })).keypoints).toEqual(THREE);
    expect((await ok(ws, 'classes:list', {})).find((c) => c.id === pose)!.keypoints).toEqual(THREE);
    expect((await ok(ws, 'classes:setKeypoints', { id: pose, keypoints: COCO_PERSON_KEYPOINTS })).keypoints).toEqual(COCO_PERSON_KEYPOINTS);
    expect((await ok(ws, 'classes:setKeypoints', { id: pose, keypoints: null })).keypoints).toBeNull();
  });

  it('refuses repeated or empty names, edges out of range, and too many points, naming the problem', async () => {
    const { ws, pose } = await session();
    const bad: [KeypointSchema, RegExp][] = [
      [{ names: ['a', 'a'], skeleton: [] }, /"a" is used twice/],
      [{ names: ['a', ''], skeleton: [] }, /empty/],
      [{ names: ['a', 'b'], skeleton: [[0, 2]] }, /index 2, outside 0..1/],
      [{ names: ['a', 'b'], skeleton: [[1, 1]] }, /joins a keypoint to itself/],
      [{ names: Array.from({ length: 201 }, (_, i) => `p${i}`), skeleton: [] }, /200/],
    ];
    for (const [keypoints, message] of bad) {
      const e = await fails(ws, 'classes:setKeypoints', { id: pose, keypoints });
      expect(e.code).toBe('INVALID_ARGUMENT');
      expect(e.message).toMatch(message);
    }
    expect((await ok(ws, 'classes:list', {})).find((c) => c.id === pose)!.keypoints).toBeNull();
  });

  it('keeps annotations readable: renames and new edges pass, a new count or clearing is refused while keypoints exist', async () => {
    const { ws, pose, image } = await session();
    await ok(ws, 'classes:setKeypoints', { id: pose, keypoints: THREE });
    const r = await ok(ws, 'annotations:edit', { imageId: image, label: 'Add keypoints', ops: [create(pose, [1, 2, 2, 3, 4, 1, 0, 0, 0])] });
    const renamed: KeypointSchema = { names: ['nose', 'neck', 'tail'], skeleton: [[0, 2]] };
    expect((await ok(ws, 'classes:setKeypoints', { id: pose, keypoints: renamed })).keypoints).toEqual(renamed);

    const more = await fails(ws, 'classes:setKeypoints', { id: pose, keypoints: { names: ['a', 'b', 'c', 'd'], skeleton: [] } });
    expect(more.code).toBe('INVALID_ARGUMENT');
    expect(more.message).toMatch(/has 1 keypoint annotation of 3 keypoints: cannot change its keypoint count from 3 to 4/);
    expect((await fails(ws, 'classes:setKeypoints', { id: pose, keypoints: null })).message).toMatch(/cannot remove its keypoint schema/);
    // The annotation is untouched.
    const [a] = await ok(ws, 'annotations:list', { imageId: image });
    expect(a!.geometry).toEqual({ kind: 'keypoints', points: [1, 2, 2, 3, 4, 1, 0, 0, 0] });

    // Once deleted, the count may change; the history holding the old object is cleared so undo cannot bring it back.
    await ok(ws, 'annotations:edit', { imageId: image, label: 'Delete', ops: [{ op: 'delete', id: r.created[0]! }] });
    expect((await ok(ws, 'annotations:history', { imageId: image })).canUndo).toBe(true);
    await ok(ws, 'classes:setKeypoints', { id: pose, keypoints: { names: ['a', 'b', 'c', 'd'], skeleton: [] } });
    expect((await ok(ws, 'annotations:history', { imageId: image })).canUndo).toBe(false);
  });

  it('refuses putting the keypoints in another order, or moving keypoint objects to a class with other keypoints, while they exist', async () => {
    const { ws, pose, image } = await session();
    await ok(ws, 'classes:setKeypoints', { id: pose, keypoints: THREE });
    await ok(ws, 'annotations:edit', { imageId: image, label: 'Add keypoints', ops: [create(pose, [1, 2, 2, 3, 4, 1, 5, 6, 2])] });
    const reordered = await fails(ws, 'classes:setKeypoints', { id: pose, keypoints: { names: ['tail', 'neck', 'head'], skeleton: [] } });
    expect(reordered.message).toMatch(/cannot be put in another order/);

    const other = (await ok(ws, 'classes:create', { name: 'other' })).id;
    await ok(ws, 'classes:setKeypoints', { id: other, keypoints: { names: ['a', 'b', 'c'], skeleton: [] } });
    const moved = await fails(ws, 'classes:delete', { id: pose, moveTo: other });
    expect(moved.message).toMatch(/has 1 keypoint annotation of 3 keypoints; "other" has other keypoints \(a, b, c\)/);
    const plain = (await ok(ws, 'classes:create', { name: 'plain' })).id;
    expect((await fails(ws, 'classes:delete', { id: pose, moveTo: plain })).message).toMatch(/"plain" has no keypoints/);
    // Nothing moved; a class with the same keypoints takes them.
    expect((await ok(ws, 'annotations:list', { imageId: image }))[0]!.classId).toBe(pose);
    const same = (await ok(ws, 'classes:create', { name: 'same' })).id;
    await ok(ws, 'classes:setKeypoints', { id: same, keypoints: { names: ['head', 'neck', 'tail'], skeleton: [] } });
    expect(await ok(ws, 'classes:delete', { id: pose, moveTo: same })).toMatchObject({ moved: 1 });
  });

  it('refuses keypoints whose count differs from the class schema, or of a class without one', async () => {
    const { ws, pose, image } = await session();
    const none = await fails(ws, 'annotations:edit', { imageId: image, label: 'Add', ops: [create(pose, [1, 2, 2])] });
    expect(none.code).toBe('INVALID_GEOMETRY');
    expect(none.message).toMatch(/"pose" has no keypoint schema/);
    await ok(ws, 'classes:setKeypoints', { id: pose, keypoints: THREE });
    const wrong = await fails(ws, 'annotations:edit', { imageId: image, label: 'Add', ops: [create(pose, [1, 2, 2, 3, 4, 2])] });
    expect(wrong.message).toMatch(/"pose" has 3 keypoints, the object has 2/);
    // Moving a 3-point object to a class without a schema is refused the same way.
    const other = await ok(ws, 'classes:create', { name: 'other' });
    const made = await ok(ws, 'annotations:edit', { imageId: image, label: 'Add', ops: [create(pose, [1, 2, 2, 3, 4, 2, 5, 6, 2])] });
    const moved = await fails(ws, 'annotations:edit', { imageId: image, label: 'Class', ops: [{ op: 'update', id: made.created[0]!, patch: { classId: other.id } }] });
    expect(moved.message).toMatch(/"other" has no keypoint schema/);
  });
});

describe('the class panel text form', () => {
  it('reads names one per line and edges by name or number from 1', () => {
    const r = schemaFromText('head\n\n neck \ntail-tip\n', 'head-neck\n2-3, tail-tip-head');
    expect(r).toEqual({ schema: { names: ['head', 'neck', 'tail-tip'], skeleton: [[0, 1], [1, 2], [2, 0]] } });
  });

  it('names the edge it cannot read, and repeated names', () => {
    expect(schemaFromText('a\nb', 'a-c')).toEqual({ problem: 'edge "a-c" must be two keypoints, by name or number (1..2), joined by "-"' });
    expect(schemaFromText('a\nb', 'a b')).toMatchObject({ problem: expect.stringMatching(/edge "a b"/) });
    expect(schemaFromText('a\na', '')).toEqual({ problem: 'keypoint name "a" is used twice (keypoints 1 and 2)' });
  });

  it('writes what it reads back', () => {
    const t = schemaToText(COCO_PERSON_KEYPOINTS);
    expect(schemaFromText(t.names, t.edges)).toEqual({ schema: { names: COCO_PERSON_KEYPOINTS.names, skeleton: COCO_PERSON_KEYPOINTS.skeleton } });
  });
});
