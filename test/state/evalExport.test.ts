import { describe, expect, it } from 'vitest';
import type { EvalResult } from '../../src-main/common/eval/types';
import { evalCsv, evalJson, fileStem } from '../../src-renderer/state/evalExport';

const pr = { recall: [0, 0.5, 1], precision: [1, 0.5, -1], scores: [0.9, 0.4, -1] };

const result: EvalResult = {
  runId: 3,
  runName: 'run "A", v2',
  iouType: 'bbox',
  images: 2,
  groundTruths: 3,
  detections: 4,
  scoreThreshold: 0.5,
  iouThreshold: 0.5,
  stats: [0.1, 0.2, 0.3, -1, 0.5, 0.6, 0.7, 0.8, 0.9, -1, 0.11, 0.12],
  perClass: [
    { classId: 1, name: 'cell, red', ap: 0.4, ap50: 0.6, ap75: 0.3, groundTruths: 2, detections: 3, detectionsAtThreshold: 2, tp: 1, fp: 2, fn: 1, precision: 1 / 3, recall: 0.5, f1: 0.4, pr },
    { classId: 2, name: 'weed', ap: -1, ap50: -1, ap75: -1, groundTruths: 0, detections: 1, detectionsAtThreshold: 1, tp: 0, fp: 1, fn: 0, precision: 0, recall: 0, f1: 0, pr },
  ],
  confidence: { thresholds: [0, 0.5], precision: [0.25, 0.5], recall: [0.66, 0.33], f1: [0.36, 0.4], best: { threshold: 0.5, f1: 0.4 } },
  confusion: {
    labels: ['cell, red', 'weed', 'background'],
    classIds: [1, 2, null],
    matrix: [
      [1, 0, 1],
      [0, 0, 0],
      [1, 1, 0],
    ],
  },
  errors: [
    {
      kind: 'false_positive',
      imageId: 7,
      image: 'dir/a "b".png',
      annotationId: 11,
      otherAnnotationId: null,
      replaced: false,
      classId: 2,
      className: 'weed',
      otherClassName: null,
      score: 0.7,
      iou: 0,
      area: 120,
      bbox: [1, 2, 10, 12],
    },
  ],
};

/** Splits CSV text into rows of cells, honouring quotes (RFC 4180). */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(cell);
      cell = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
      i++;
    } else cell += c;
  }
  return rows;
}

describe('evaluation numbers as CSV and JSON', () => {
  it('writes the 12 stats with their names, undefined ones as -1', () => {
    const rows = parseCsv(evalCsv(result, 'stats'));
    expect(rows[0]).toEqual(['stat', 'value']);
    expect(rows.slice(1).map((r) => r[0])).toEqual(['AP', 'AP50', 'AP75', 'APs', 'APm', 'APl', 'AR1', 'AR10', 'AR100', 'ARs', 'ARm', 'ARl']);
    expect(rows[4]).toEqual(['APs', '-1']);
  });

  it('quotes names holding commas and quotes, and keeps one row per class', () => {
    const rows = parseCsv(evalCsv(result, 'classes'));
    expect(rows).toHaveLength(3);
    expect(rows[1]!.slice(0, 3)).toEqual(['1', 'cell, red', '0.4']);
    const col = (name: string) => rows[0]!.indexOf(name);
    expect(Number(rows[1]![col('precision')])).toBeCloseTo(1 / 3, 12);
    // Both detection counts, each named for what it counts.
    expect([rows[1]![col('detections')], rows[1]![col('detections_at_threshold')]]).toEqual(['3', '2']);
    const errors = parseCsv(evalCsv(result, 'errors'));
    expect(errors[1]!.slice(0, 3)).toEqual(['false_positive', '7', 'dir/a "b".png']);
    expect(errors[1]![errors[0]!.indexOf('replaced')]).toBe('0');
    expect(errors[1]!.slice(-4)).toEqual(['1', '2', '10', '12']);
  });

  it('writes the confusion matrix with ground truth down and predictions across', () => {
    const rows = parseCsv(evalCsv(result, 'confusion'));
    expect(rows[0]).toEqual(['ground_truth \\ predicted', 'cell, red', 'weed', 'background']);
    expect(rows[3]).toEqual(['background', '1', '1', '0']);
    expect(parseCsv(evalCsv(result, 'confidence'))).toHaveLength(3);
  });

  it('keeps the whole result in the JSON with the stat names', () => {
    const back = JSON.parse(evalJson(result)) as EvalResult & { statNames: string[] };
    expect(back.stats).toEqual(result.stats);
    expect(back.statNames[8]).toBe('AR100');
    expect(back.errors).toEqual(result.errors);
  });

  it('makes file names safe on every platform', () => {
    expect(fileStem('my data', 'run "A", v2', 'bbox')).toBe('my_data-run_A_v2-bbox');
    expect(fileStem('..', '')).toBe('evaluation');
    expect(fileStem('', '///')).toBe('evaluation');
  });
});
