import { describe, expect, it } from 'vitest';
import { cosine, l2NormalizeRows, poolEmbeddings, vectorProblem } from '../../../src-main/common/inference/embed';

const t = (dims: number[], values: number[]) => ({ name: 'out', dims, data: Float32Array.from(values) });

describe('poolEmbeddings', () => {
  it('reads [B, D] as vectors and normalises them to unit length', () => {
    const r = poolEmbeddings(t([2, 2], [3, 4, 0, 2]), { pooling: 'none', l2: true }, 2, 'm.onnx');
    expect(r.dim).toBe(2);
    expect(Array.from(r.data)).toEqual([0.6, 0.8, 0, 1].map((x) => Math.fround(x)));
  });
  it('pools a feature map [B, C, H, W] over H and W (mean or max), channels first', () => {
    // One image, 2 channels of 2x2: channel 0 = 1,2,3,4; channel 1 = 10,0,0,-2.
    const map = t([1, 2, 2, 2], [1, 2, 3, 4, 10, 0, 0, -2]);
    expect(Array.from(poolEmbeddings(map, { pooling: 'mean', l2: false }, 1, 'm.onnx').data)).toEqual([2.5, 2]);
    expect(Array.from(poolEmbeddings(map, { pooling: 'max', l2: false }, 1, 'm.onnx').data)).toEqual([4, 10]);
  });
  it('pools tokens [B, T, C] over T, or takes the class token', () => {
    const tokens = t([2, 3, 2], [1, 2, 3, 4, 5, 6, /* second image */ 0, 1, 1, 0, 2, 2]);
    expect(Array.from(poolEmbeddings(tokens, { pooling: 'mean', l2: false }, 2, 'm.onnx').data)).toEqual([3, 4, 1, 1]);
    expect(Array.from(poolEmbeddings(tokens, { pooling: 'cls', l2: false }, 2, 'm.onnx').data)).toEqual([1, 2, 0, 1]);
    expect(Array.from(poolEmbeddings(tokens, { pooling: 'max', l2: false }, 2, 'm.onnx').data)).toEqual([5, 6, 2, 2]);
  });
  it('refuses outputs that are not vectors, naming the file and the shapes', () => {
    expect(() => poolEmbeddings(t([1, 2, 2, 2], new Array(8).fill(1)), { pooling: 'none', l2: true }, 1, 'm.onnx')).toThrow(
      'm.onnx: output "out" is not a vector and the manifest\'s embedding.pooling is "none": expected [B, D] or [B, D, 1, 1]',
    );
    expect(() => poolEmbeddings(t([1, 1], [1]), { pooling: 'none', l2: true }, 1, 'm.onnx')).toThrow('m.onnx: output "out" is not a vector');
    expect(() => poolEmbeddings(t([1, 2, 2, 2], new Array(8).fill(1)), { pooling: 'cls', l2: true }, 1, 'm.onnx')).toThrow('has no class token');
    expect(() => poolEmbeddings(t([1, 4], [1, 2, 3, 4]), { pooling: 'none', l2: true }, 2, 'm.onnx')).toThrow('does not hold one row per image of the batch');
  });
  it('names broken vectors: NaN, infinite, all equal', () => {
    expect(vectorProblem([1, NaN, 2])).toBe('holds NaN values');
    expect(vectorProblem([1, Infinity])).toBe('holds infinite values');
    expect(vectorProblem([0, 0, 0])).toBe('has all 3 values equal (0)');
    expect(vectorProblem([0.1, 0.2])).toBeNull();
  });
  it('normalises rows and leaves zero rows alone; cosine of unit vectors is their dot product', () => {
    const d = Float32Array.from([0, 0, 1, 1]);
    l2NormalizeRows(d, 2);
    expect(Array.from(d.subarray(0, 2))).toEqual([0, 0]);
    expect(cosine(d.subarray(2), [1, 0])).toBeCloseTo(Math.SQRT1_2, 6);
  });
});
