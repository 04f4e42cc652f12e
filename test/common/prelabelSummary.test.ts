import { describe, expect, it } from 'vitest';
import { plural, prelabelSummaryText, type PrelabelSummary } from '../../src-main/common/prelabel';

const base: PrelabelSummary = {
  runId: 4,
  model: 'yolov8n',
  images: 6,
  done: 6,
  skipped: 0,
  failed: 0,
  pending: 0,
  detections: 31,
  byKind: { box: 31 },
  replaced: 0,
  alreadyLabeled: 0,
  alreadyRejected: 0,
  msPerImage: 41.6,
  provider: 'cpu',
  warnings: [],
  cancelled: false,
};

describe('pre-labeling job summaries', () => {
  it('a cancelled run with no image done says so, and how many are left, not "6 images, 0 predictions"', () => {
    const text = prelabelSummaryText({ ...base, done: 0, pending: 6, detections: 0, msPerImage: null, cancelled: true });
    expect(text).toBe('Cancelled after 0 of 6 images; 6 images left to do (Resume continues)');
  });

  it('a run where every image was skipped gives the reason', () => {
    expect(prelabelSummaryText({ ...base, done: 0, skipped: 6, detections: 0, msPerImage: null })).toBe(
      'No image run: all 6 images hold human labels and "skip images with human labels" is on',
    );
    expect(prelabelSummaryText({ ...base, images: 1, done: 0, skipped: 1, detections: 0, msPerImage: null })).toBe(
      'No image run: the image holds human labels and "skip images with human labels" is on',
    );
  });

  it('counts in the singular for one', () => {
    expect(prelabelSummaryText({ ...base, images: 1, done: 1, detections: 1, msPerImage: 40 })).toBe('Pre-labeled 1 image: 1 prediction; 40 ms per image');
    expect(plural(1, 'image')).toBe('1 image');
    expect(plural(0, 'image')).toBe('0 images');
    expect(plural(12_000, 'image')).toBe('12,000 images');
  });

  it('names skipped, failed, replaced and already reviewed objects', () => {
    const text = prelabelSummaryText({ ...base, done: 4, skipped: 1, failed: 1, replaced: 7, alreadyLabeled: 2, alreadyRejected: 1 });
    expect(text).toBe(
      'Pre-labeled 4 of 6 images: 31 predictions; 7 older predictions of this model replaced; 3 objects left out (2 already labeled, 1 rejected before); 1 skipped (human labels); 1 failed; 42 ms per image',
    );
  });

  it('says what the predictions are unless they are all boxes', () => {
    expect(prelabelSummaryText({ ...base, images: 2, done: 2, detections: 7, byKind: { tag: 7 }, msPerImage: 40 })).toBe('Pre-labeled 2 images: 7 predictions (7 tags); 40 ms per image');
    expect(prelabelSummaryText({ ...base, images: 1, done: 1, detections: 3, byKind: { mask: 1, box: 2 }, msPerImage: 40 })).toBe('Pre-labeled 1 image: 3 predictions (1 mask, 2 boxes); 40 ms per image');
  });
});
