import { describe, expect, it } from 'vitest';
import { orderSeries, planStacks, type StackCandidate } from '../../src-main/common/stacks';

const dicom = (imageId: number, path: string, d: Partial<NonNullable<StackCandidate['dicom']>>): StackCandidate => ({
  imageId,
  path,
  width: 64,
  height: 64,
  channels: 1,
  bitDepth: 16,
  format: 'dicom',
  frames: 1,
  dicom: { seriesInstanceUid: '1.2.3', imagePosition: null, imageOrientation: null, instanceNumber: null, ...d },
});

const file = (imageId: number, path: string, o: Partial<StackCandidate> = {}): StackCandidate => ({
  imageId,
  path,
  width: 32,
  height: 24,
  channels: 1,
  bitDepth: 8,
  format: 'png',
  frames: 1,
  dicom: null,
  ...o,
});

describe('orderSeries', () => {
  it('orders by Image Position projected on the normal of an oblique orientation, not by z, instance or name', () => {
    // Rows along x, columns along (0, cos 30°, -sin 30°): the normal is (0, sin 30°, cos 30°).
    const c = Math.cos(Math.PI / 6);
    const s = Math.sin(Math.PI / 6);
    const orientation: [number, number, number, number, number, number] = [1, 0, 0, 0, c, -s];
    const at = (k: number): [number, number, number] => [5, 100 + k * s * 2, -50 + k * c * 2];
    const members = [
      dicom(1, 'a.dcm', { imagePosition: at(2), imageOrientation: orientation, instanceNumber: 1 }),
      dicom(2, 'b.dcm', { imagePosition: at(0), imageOrientation: orientation, instanceNumber: 3 }),
      dicom(3, 'c.dcm', { imagePosition: at(1), imageOrientation: orientation, instanceNumber: 2 }),
    ];
    const r = orderSeries(members);
    expect(r.order).toBe('position');
    expect(r.members.map((m) => m.imageId)).toEqual([2, 3, 1]);
  });

  it('falls back to Instance Number when a file has no position, then to the file name', () => {
    const some = [
      dicom(1, 'a.dcm', { instanceNumber: 3, imagePosition: [0, 0, 1], imageOrientation: [1, 0, 0, 0, 1, 0] }),
      dicom(2, 'b.dcm', { instanceNumber: 1 }),
      dicom(3, 'c.dcm', { instanceNumber: 2 }),
    ];
    expect(orderSeries(some)).toMatchObject({ order: 'instance' });
    expect(orderSeries(some).members.map((m) => m.imageId)).toEqual([2, 3, 1]);
    const none = [dicom(1, 'x/slice10.dcm', {}), dicom(2, 'x/slice9.dcm', {}), dicom(3, 'x/slice1.dcm', { instanceNumber: 4 })];
    expect(orderSeries(none).order).toBe('name');
    expect(orderSeries(none).members.map((m) => m.imageId)).toEqual([3, 2, 1]);
  });
});

describe('planStacks', () => {
  it('groups DICOM files by series (two or more) and leaves single files and multi-frame objects of their own alone', () => {
    const plan = planStacks([
      dicom(1, 'ct/1.dcm', { instanceNumber: 2 }),
      dicom(2, 'ct/2.dcm', { instanceNumber: 1 }),
      dicom(3, 'mr/1.dcm', { seriesInstanceUid: '9.9' }),
      { ...dicom(4, 'rt/dose.dcm', { seriesInstanceUid: '7.7' }), frames: 15 },
    ]);
    expect(plan).toEqual([{ kind: 'dicom', key: '1.2.3', name: 'ct (series …1.2.3)', order: 'instance', members: [2, 1] }]);
  });

  it('groups numbered greyscale PNG and TIFF files of one folder, pattern, size and depth, at least three', () => {
    const plan = planStacks([
      file(1, 'z/cell_0002.png'),
      file(2, 'z/cell_0001.png'),
      file(3, 'z/cell_0010.png'),
      file(4, 'z/cell_0003.png', { width: 64 }), // another size
      file(5, 'z/cell_004.png'), // another digit count
      file(6, 'y/cell_0004.png'), // another folder
      file(7, 'z/IMG_0001.png', { channels: 3 }),
      file(8, 'z/IMG_0002.png', { channels: 3 }),
      file(9, 'z/IMG_0003.png', { channels: 3 }), // colour: photos, not slices
      file(10, 'z/p001.jpg', { format: 'jpeg' }),
      file(11, 'z/p002.jpg', { format: 'jpeg' }),
      file(12, 'z/p003.jpg', { format: 'jpeg' }),
      file(13, 't/scan2_001.tif', { format: 'tiff' }),
      file(14, 't/scan2_002.tif', { format: 'tiff' }),
      file(15, 't/scan2_003.TIF', { format: 'tiff' }),
      file(16, 'u/a01.png'),
      file(17, 'u/a02.png'),
      file(18, 'u/a03.png'), // two digits: not a slice number
    ]);
    expect(plan.map((p) => [p.name, p.members])).toEqual([
      ['z/cell_####.png', [2, 1, 3]],
      ['t/scan2_###.tif', [13, 14, 15]],
    ]);
  });
});
