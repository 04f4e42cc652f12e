/**
 * Class colours that stay apart for many classes.
 *
 * The sequence starts with the ten colours classes always had (Trubetskoy's qualitative set), so
 * the first classes of a dataset keep their familiar look; every further colour is the candidate
 * farthest, in OKLab (a perceptual space: equal distances look about equally different), from all
 * colours before it. Candidates are a grid of OKLCH lightness, chroma and hue kept inside sRGB,
 * with lightness held to a band that reads as an outline on dark and light images alike. Because
 * each colour depends only on those before it, the nth class gets the same colour however many
 * classes follow.
 */

/** The colours of the first ten classes (unchanged from earlier versions). */
const SEED = ['#e6194b', '#3cb44b', '#4363d8', '#f58231', '#911eb4', '#42d4f4', '#f032e6', '#bfef45', '#469990', '#9a6324'];

/** How many colours are worked out; beyond it the sequence repeats (a dataset with more classes is rare). */
const LENGTH = 256;

export type OkLab = [number, number, number];

function toLinear(c: number): number {
  return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
}

function fromLinear(c: number): number {
  return c <= 0.0031308 ? 12.92 * c : 1.055 * c ** (1 / 2.4) - 0.055;
}

/** '#rrggbb' to OKLab (Björn Ottosson's matrices). */
export function hexToOklab(hex: string): OkLab {
  const n = parseInt(hex.slice(1, 7), 16);
  const r = toLinear(((n >> 16) & 255) / 255);
  const g = toLinear(((n >> 8) & 255) / 255);
  const b = toLinear((n & 255) / 255);
  const l = Math.cbrt(0.4122214708 * r + 0.5363325363 * g + 0.0514459929 * b);
  const m = Math.cbrt(0.2119034982 * r + 0.6806995451 * g + 0.1073969566 * b);
  const s = Math.cbrt(0.0883024619 * r + 0.2817188376 * g + 0.6299787005 * b);
  return [
    0.2104542553 * l + 0.793617785 * m - 0.0040720468 * s,
    1.9779984951 * l - 2.428592205 * m + 0.4505937099 * s,
    0.0259040371 * l + 0.7827717662 * m - 0.808675766 * s,
  ];
}

/** OKLab to linear sRGB; components outside 0..1 mean the colour is outside sRGB. */
function oklabToLinear([L, a, b]: OkLab): [number, number, number] {
  const l = (L + 0.3963377774 * a + 0.2158037573 * b) ** 3;
  const m = (L - 0.1055613458 * a - 0.0638541728 * b) ** 3;
  const s = (L - 0.0894841775 * a - 1.291485548 * b) ** 3;
  return [
    4.0767416621 * l - 3.3077115913 * m + 0.2309699292 * s,
    -1.2684380046 * l + 2.6097574011 * m - 0.3413193965 * s,
    -0.0041960863 * l - 0.7034186147 * m + 1.707614701 * s,
  ];
}

function toHex(rgb: readonly number[]): string {
  return `#${rgb.map((c) => Math.round(Math.min(1, Math.max(0, fromLinear(c))) * 255).toString(16).padStart(2, '0')).join('')}`;
}

/** Euclidean distance in OKLab (ΔE_ok; about 0.02 is a just-noticeable difference). */
export function oklabDistance(p: OkLab, q: OkLab): number {
  return Math.hypot(p[0] - q[0], p[1] - q[1], p[2] - q[2]);
}

function candidates(): { hex: string; lab: OkLab }[] {
  const out: { hex: string; lab: OkLab }[] = [];
  for (let L = 0.45; L <= 0.901; L += 0.05) {
    for (let C = 0.06; C <= 0.301; C += 0.03) {
      for (let h = 0; h < 360; h += 6) {
        const lab: OkLab = [L, C * Math.cos((h * Math.PI) / 180), C * Math.sin((h * Math.PI) / 180)];
        const lin = oklabToLinear(lab);
        if (lin.some((c) => c < -1e-6 || c > 1 + 1e-6)) continue;
        const hex = toHex(lin);
        out.push({ hex, lab: hexToOklab(hex) });
      }
    }
  }
  return out;
}

let sequence: string[] | null = null;

/** The colour sequence: SEED, then farthest-point picks among the candidates. */
export function classPalette(): readonly string[] {
  if (sequence) return sequence;
  const pool = candidates();
  const seq = [...SEED];
  // Distance from each candidate to the nearest colour chosen so far.
  const nearest = pool.map(() => Infinity);
  const take = (lab: OkLab) => {
    for (let i = 0; i < pool.length; i++) nearest[i] = Math.min(nearest[i]!, oklabDistance(lab, pool[i]!.lab));
  };
  for (const hex of SEED) take(hexToOklab(hex));
  while (seq.length < LENGTH) {
    let best = 0;
    for (let i = 1; i < pool.length; i++) if (nearest[i]! > nearest[best]!) best = i;
    seq.push(pool[best]!.hex);
    take(pool[best]!.lab);
  }
  sequence = seq;
  return seq;
}

/**
 * Colours for `count` new classes: the first of the sequence that no class has yet (a deleted
 * class's colour comes back), in order.
 */
export function nextClassColours(taken: readonly string[], count: number): string[] {
  const used = new Set(taken.map((c) => c.toLowerCase()));
  const seq = classPalette();
  const out: string[] = [];
  for (let i = 0; out.length < count; i++) {
    const c = seq[i % seq.length]!;
    if (i >= seq.length || !used.has(c)) {
      out.push(c);
      used.add(c);
    }
  }
  return out;
}

/** The colour for one new class. */
export function nextClassColour(taken: readonly string[]): string {
  return nextClassColours(taken, 1)[0]!;
}
