import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readLabelsFile, readManifestFile } from '../../src-main/services/models';
import { tempDir } from '../helpers/shared';

const manifest = {
  id: 'clf',
  name: 'Classifier',
  task: 'classify',
  size: [224, 224],
  colour: 'rgb',
  scale: 1 / 255,
  letterbox: 'stretch',
  thresholds: { score: 0.1, iou: 0.5, maxDetections: 5 },
  file: 'clf.onnx',
};

describe('labels files', () => {
  it('reads a JSON list, a JSON index object and text with one name per line', () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'a.json'), JSON.stringify(['cat', 'dog']));
    fs.writeFileSync(path.join(dir, 'b.json'), JSON.stringify({ 0: 'cat', 1: 'dog' }));
    fs.writeFileSync(path.join(dir, 'c.txt'), '\uFEFFcat\r\ndog\n\n');
    for (const f of ['a.json', 'b.json', 'c.txt']) expect(readLabelsFile(path.join(dir, f))).toEqual(['cat', 'dog']);
  });

  it('fails naming the file on a bad labels file', () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'bad.json'), '["cat", ');
    fs.writeFileSync(path.join(dir, 'hole.txt'), 'cat\n\ndog\n');
    fs.writeFileSync(path.join(dir, 'num.json'), '[1, 2]');
    expect(() => readLabelsFile(path.join(dir, 'bad.json'))).toThrow(`${path.join(dir, 'bad.json')}: not a labels file: cannot be read as JSON`);
    expect(() => readLabelsFile(path.join(dir, 'hole.txt'))).toThrow(`${path.join(dir, 'hole.txt')}: not a labels file: entry 1 (line 2) is not a name`);
    expect(() => readLabelsFile(path.join(dir, 'num.json'))).toThrow('entry 0 (line 1) is not a name: 1');
    expect(() => readLabelsFile(path.join(dir, 'missing.txt'))).toThrow(`${path.join(dir, 'missing.txt')}: labels file cannot be read`);
  });

  it('a manifest file reads its labels file relative to itself into classes', () => {
    const dir = tempDir();
    fs.mkdirSync(path.join(dir, 'sub'));
    fs.writeFileSync(path.join(dir, 'sub', 'names.txt'), 'healthy\ndiseased\n');
    fs.writeFileSync(path.join(dir, 'clf.json'), JSON.stringify({ ...manifest, labels: 'sub/names.txt' }));
    const m = readManifestFile(path.join(dir, 'clf.json'));
    expect(m.classes).toEqual(['healthy', 'diseased']);
    expect(m.labels).toBe(path.join(dir, 'sub', 'names.txt'));
    expect(m.file).toBe(path.join(dir, 'clf.onnx'));
    fs.writeFileSync(path.join(dir, 'both.json'), JSON.stringify({ ...manifest, labels: 'sub/names.txt', classes: ['a', 'b', 'c'] }));
    expect(() => readManifestFile(path.join(dir, 'both.json'))).toThrow(`lists 3 classes but its labels file ${path.join(dir, 'sub', 'names.txt')} holds 2 names`);
  });
});
