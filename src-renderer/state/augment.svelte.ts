import { AUGMENT_OPS, RESIZE_MODES, augmentSchema, preprocessSchema, type AugmentOpName, type AugmentStep, type Augment, type Preprocess, type Recipe, type RecipeInput } from '../../src-main/common/augment/recipe';
import { jsonPath, parseRecipeText } from '../../src-main/common/augment/parseRecipe';
import type { PreviewResult } from '../../src-main/common/augment/preview';
import { call, errorMessage } from '../bridge';

export { AUGMENT_OPS, RESIZE_MODES };
export type ResizeMode = (typeof RESIZE_MODES)[number];
type Param = number | [number, number];

/** The values each step starts with when enabled: mild, the usual choices for detection training. */
export const STEP_DEFAULTS: Record<AugmentOpName, Record<string, Param>> = {
  flip: { horizontal: 0.5, vertical: 0 },
  rot90: { p: 0.5 },
  rotate: { p: 0.5, degrees: [-15, 15], fill: 0 },
  scaleCrop: { p: 0.5, scale: [0.8, 1.2], fill: 0 },
  shear: { p: 0.3, x: [-10, 10], y: [-10, 10], fill: 0 },
  brightness: { p: 0.5, factor: [0.75, 1.25] },
  contrast: { p: 0.5, factor: [0.75, 1.25] },
  gamma: { p: 0.3, gamma: [0.8, 1.25] },
  hue: { p: 0.3, degrees: [-15, 15] },
  saturation: { p: 0.3, factor: [0.7, 1.3] },
  blur: { p: 0.2, sigma: [0.5, 1.5] },
  noise: { p: 0.2, sigma: [2, 10] },
  cutout: { p: 0.3, count: 2, size: [0.05, 0.15], fill: 0 },
  mosaic: { p: 0.2 },
};

export const STEP_LABELS: Record<AugmentOpName, string> = {
  flip: 'Flip',
  rot90: 'Rotate 90°',
  rotate: 'Rotate',
  scaleCrop: 'Scale and crop',
  shear: 'Shear',
  brightness: 'Brightness',
  contrast: 'Contrast',
  gamma: 'Gamma',
  hue: 'Hue',
  saturation: 'Saturation',
  blur: 'Blur',
  noise: 'Noise',
  cutout: 'Cutout',
  mosaic: 'Mosaic (4 images)',
};

export interface StepRow {
  op: AugmentOpName;
  enabled: boolean;
  params: Record<string, Param>;
}

function clone(p: Record<string, Param>): Record<string, Param> {
  return Object.fromEntries(Object.entries(p).map(([k, v]) => [k, Array.isArray(v) ? [v[0], v[1]] : v])) as Record<string, Param>;
}

/**
 * The export panel's preprocessing and augmentation settings (a recipe's `preprocess` and
 * `augment`), recipe files, and the preview of augmented samples.
 */
export class AugmentState {
  resize = $state(false);
  resizeMode = $state<ResizeMode>('letterbox');
  width = $state(640);
  height = $state(640);
  pad = $state(114);
  grayscale = $state(false);
  tile = $state(false);
  tileSize = $state(640);
  tileOverlap = $state(64);
  tileMinVisible = $state(0.25);

  augment = $state(false);
  outputs = $state(3);
  seed = $state(1);
  minVisible = $state(0.25);
  steps = $state<StepRow[]>(AUGMENT_OPS.map((op) => ({ op, enabled: false, params: clone(STEP_DEFAULTS[op]) })));

  recipeError = $state<string | null>(null);
  previewing = $state(false);
  preview = $state.raw<PreviewResult | null>(null);
  previewError = $state<string | null>(null);

  /** Whether anything would change the exported images. */
  get active(): boolean {
    return this.resize || this.grayscale || this.tile || this.augment;
  }

  private preprocessValue(): unknown {
    return {
      grayscale: this.grayscale,
      ...(this.resize ? { resize: { mode: this.resizeMode, width: this.width, height: this.height, pad: this.pad } } : {}),
      ...(this.tile ? { tile: { size: this.tileSize, overlap: this.tileOverlap, minVisible: this.tileMinVisible } } : {}),
    };
  }

  private augmentValue(): unknown {
    const steps = this.steps.filter((s) => s.enabled).map((s) => ({ op: s.op, ...clone(s.params) }));
    return { outputs: this.outputs, seed: this.seed, minVisible: this.minVisible, steps };
  }

  /** The recipe's preprocess and augment parts, validated; a string says what is wrong (with its JSON path). */
  parts(): { preprocess: Preprocess; augment?: Augment } | string {
    const pre = preprocessSchema.safeParse(this.preprocessValue());
    if (!pre.success) return pre.error.issues.map((i) => `preprocess.${jsonPath(i.path)}: ${i.message}`).join('; ');
    if (!this.augment) return { preprocess: pre.data };
    const aug = augmentSchema.safeParse(this.augmentValue());
    if (!aug.success) {
      const issue = aug.error.issues[0]!;
      if (issue.path[0] === 'steps' && issue.path.length === 1) return 'Enable at least one augmentation step.';
      return aug.error.issues.map((i) => `augment.${jsonPath(i.path)}: ${i.message}`).join('; ');
    }
    return { preprocess: pre.data, augment: aug.data };
  }

  /** A recipe file's content for the export's other settings. */
  recipeJson(rest: Pick<Recipe, 'format' | 'only' | 'withPredictions' | 'cocoSegmentation'>): RecipeInput | string {
    const p = this.parts();
    if (typeof p === 'string') return p;
    return { recipe: 1, ...rest, preprocess: p.preprocess, ...(p.augment ? { augment: p.augment } : {}) };
  }

  /** Takes a recipe file's settings; returns the recipe (its format and scope are the panel's to take), or null when refused. */
  load(text: string, fileName: string): Recipe | null {
    let r: Recipe;
    try {
      r = parseRecipeText(text, fileName);
    } catch (e) {
      this.recipeError = errorMessage(e);
      return null;
    }
    this.recipeError = null;
    const pre = r.preprocess;
    this.grayscale = pre.grayscale;
    this.resize = !!pre.resize;
    if (pre.resize) {
      this.resizeMode = pre.resize.mode;
      this.width = pre.resize.width;
      this.height = pre.resize.height;
      this.pad = pre.resize.pad;
    }
    this.tile = !!pre.tile;
    if (pre.tile) {
      this.tileSize = pre.tile.size;
      this.tileOverlap = pre.tile.overlap;
      this.tileMinVisible = pre.tile.minVisible;
    }
    this.augment = !!r.augment;
    if (r.augment) {
      this.outputs = r.augment.outputs;
      this.seed = r.augment.seed;
      this.minVisible = r.augment.minVisible;
      const given = new Map<AugmentOpName, AugmentStep>(r.augment.steps.map((s) => [s.op, s]));
      this.steps = AUGMENT_OPS.map((op) => {
        const s = given.get(op);
        if (!s) return { op, enabled: false, params: clone(STEP_DEFAULTS[op]) };
        const { op: _op, ...params } = s;
        return { op, enabled: true, params: clone(params as Record<string, Param>) };
      });
    }
    this.preview = null;
    return r;
  }

  /** Renders a few augmented samples of the first train images through the export's pipeline. */
  async runPreview(): Promise<void> {
    if (this.previewing) return;
    const p = this.parts();
    if (typeof p === 'string') {
      this.previewError = p;
      return;
    }
    this.previewing = true;
    this.previewError = null;
    try {
      this.preview = await call('augment:preview', { preprocess: p.preprocess, ...(p.augment ? { augment: p.augment } : {}), images: 3, samples: 4, maxSide: 192 });
    } catch (e) {
      this.previewError = errorMessage(e);
    } finally {
      this.previewing = false;
    }
  }
}
