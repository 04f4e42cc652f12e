import { AppError } from '../errors';
import { recipeSchema, type Recipe } from './recipe';

/** A JSON path as written in messages: `augment.steps[2].p`. */
export function jsonPath(path: readonly PropertyKey[]): string {
  let s = '';
  for (const k of path) s += typeof k === 'number' ? `[${k}]` : s ? `.${String(k)}` : String(k);
  return s || '(root)';
}

/**
 * Validates a recipe, reporting every problem with its JSON path and the name of the file it came
 * from, e.g. `recipe.json: augment.steps[0].p: Too big: expected number to be <=1`.
 */
export function parseRecipe(json: unknown, file: string): Recipe {
  const r = recipeSchema.safeParse(json);
  if (r.success) return r.data;
  const lines = r.error.issues.map((i) => `${jsonPath(i.path)}: ${i.message}`);
  throw new AppError('INVALID_ARGUMENT', `${file}: invalid recipe: ${lines.join('; ')}`, { file, issues: lines });
}

/** Parses a recipe file's text (JSON), naming the file when it is not JSON at all. */
export function parseRecipeText(text: string, file: string): Recipe {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new AppError('INVALID_ARGUMENT', `${file}: not a JSON recipe: ${(e as Error).message}`, { file });
  }
  return parseRecipe(json, file);
}
