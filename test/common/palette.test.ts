import { describe, expect, it } from 'vitest';
import { classPalette, hexToOklab, nextClassColour, nextClassColours, oklabDistance } from '../../src-main/common/palette';

/** The smallest OKLab distance between any two of the colours. */
function minDistance(colours: readonly string[]): number {
  const labs = colours.map(hexToOklab);
  let min = Infinity;
  for (let i = 0; i < labs.length; i++) for (let j = 0; j < i; j++) min = Math.min(min, oklabDistance(labs[i]!, labs[j]!));
  return min;
}

/** How classes were coloured before: ten colours, repeated. */
const OLD = ['#e6194b', '#3cb44b', '#4363d8', '#f58231', '#911eb4', '#42d4f4', '#f032e6', '#bfef45', '#469990', '#9a6324'];
const oldScheme = (n: number) => Array.from({ length: n }, (_, i) => OLD[i % OLD.length]!);

/** ΔE_ok between two colours: 0.02 is about the least difference one sees; 0.06 is three times it. */
const THRESHOLD = 0.06;

describe('class colours', () => {
  it('80 class colours are at least 0.06 apart in OKLab, where the old repeating palette fails', () => {
    const colours = nextClassColours([], 80);
    expect(colours).toHaveLength(80);
    expect(colours.every((c) => /^#[0-9a-f]{6}$/.test(c))).toBe(true);
    expect(minDistance(colours)).toBeGreaterThan(THRESHOLD);
    expect(minDistance(oldScheme(80))).toBeLessThan(THRESHOLD);
    // The first 20 are further apart still.
    expect(minDistance(colours.slice(0, 20))).toBeGreaterThan(0.12);
  });

  it('the first ten are the colours classes always had; a colour does not depend on how many follow', () => {
    expect(classPalette().slice(0, 10)).toEqual(OLD);
    expect(nextClassColours([], 30)).toEqual(nextClassColours([], 80).slice(0, 30));
  });

  it('a new class takes the first colour no class has, so a deleted class frees its colour', () => {
    const first = nextClassColours([], 5);
    expect(nextClassColour(first)).toBe(classPalette()[5]);
    expect(nextClassColour([first[0]!, first[2]!.toUpperCase()])).toBe(first[1]);
    expect(nextClassColours([first[1]!], 2)).toEqual([first[0], first[2]]);
  });
});
