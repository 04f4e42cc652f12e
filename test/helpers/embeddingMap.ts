import type { Page } from 'playwright-core';
import { getProjection } from '../../src-main/db/embeddings';
import { openDatabase } from '../../src-main/db/open';
import { projectionParameters } from '../../src-main/services/embeddingMap';

/** The map's points on the page: the cached PCA projection's coordinates through the canvas's view. */
export async function mapPointsOnPage(page: Page, file: string): Promise<{ ids: number[]; xy: { x: number; y: number }[] }> {
  const db = openDatabase(file);
  const modelId = await db.prepare('SELECT id FROM embedding_models ORDER BY id LIMIT 1').pluck().get() as number;
  const stored = (await getProjection(db, modelId, 'pca', projectionParameters('pca')))!;
  await db.close();
  const canvas = page.getByTestId('map-canvas');
  const box = (await canvas.boundingBox())!;
  const [scale, tx, ty] = (await canvas.getAttribute('data-view'))!.split(',').map(Number) as [number, number, number];
  const ids = [...stored.imageIds];
  return { ids, xy: ids.map((_, i) => ({ x: box.x + stored.coords[2 * i]! * scale + tx, y: box.y + stored.coords[2 * i + 1]! * scale + ty })) };
}

/**
 * Draws a lasso with the mouse around every point right of the widest horizontal gap between
 * points on the map, and returns the ids of those points in id order (what the grid should show).
 */
export async function lassoRightOfWidestGap(page: Page, points: { ids: number[]; xy: { x: number; y: number }[] }): Promise<number[]> {
  const { ids, xy } = points;
  const xs = xy.map((p) => p.x).sort((p, q) => p - q);
  let cut = 1;
  for (let k = 2; k < xs.length; k++) if (xs[k]! - xs[k - 1]! > xs[cut]! - xs[cut - 1]!) cut = k;
  const midX = (xs[cut]! + xs[cut - 1]!) / 2;
  const box = (await page.getByTestId('map-canvas').boundingBox())!;
  const corners = [
    [midX, box.y + 4],
    [box.x + box.width - 4, box.y + 4],
    [box.x + box.width - 4, box.y + box.height - 4],
    [midX, box.y + box.height - 4],
    [midX, box.y + 6],
  ] as const;
  await page.mouse.move(corners[0][0], corners[0][1]);
  await page.mouse.down();
  for (const [x, y] of corners.slice(1)) await page.mouse.move(x, y, { steps: 6 });
  await page.mouse.up();
  return ids.filter((_, i) => xy[i]!.x > midX).sort((p, q) => p - q);
}
