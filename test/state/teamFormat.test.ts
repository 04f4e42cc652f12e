import { describe, expect, it } from 'vitest';
import { auditText, describeFilter, durationText } from '../../src-renderer/state/teamFormat';

describe('team dashboard wording', () => {
  it('writes durations in seconds, minutes or hours', () => {
    expect(durationText(44_600)).toBe('45 s');
    expect(durationText(210_000)).toBe('3.5 min');
    expect(durationText(4_320_000)).toBe('1.2 h');
  });

  it('says which images a filter selects', () => {
    expect(describeFilter({})).toBe('all images');
    expect(describeFilter({ status: 'in_progress', split: 'none', labeled: false })).toBe('status in progress, no split, unlabeled');
    expect(describeFilter({ ids: [1, 2, 3] })).toBe('3 chosen images');
  });

  it('names audit actions plainly, with the edit label or verdict from the detail', () => {
    expect(auditText({ action: 'annotations:edit', detail: JSON.stringify({ label: 'Box', ops: [] }) })).toBe('edited shapes: Box');
    expect(auditText({ action: 'images:review', detail: JSON.stringify({ verdict: 'rejected' }) })).toBe('reviewed: rejected');
    expect(auditText({ action: 'lease:take', detail: null })).toBe('opened for editing');
    expect(auditText({ action: 'custom:thing', detail: 'not json' })).toBe('custom:thing: not json');
  });
});
