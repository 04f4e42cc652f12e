import type { Page } from 'playwright-core';

/** The viewer's box on the page, CSS pixels. */
export interface Viewport {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** A middle-button drag around a figure eight in small steps, paced like a mouse reporting at about 125 Hz. */
export async function pan(page: Page, box: Viewport, steps: number): Promise<void> {
  const cx = box.x + box.width / 2;
  const cy = box.y + box.height / 2;
  await page.mouse.move(cx, cy);
  await page.mouse.down({ button: 'middle' });
  for (let i = 1; i <= steps; i++) {
    const t = (i / steps) * Math.PI * 2;
    await page.mouse.move(cx + Math.sin(t) * 300, cy + Math.sin(2 * t) * 150);
    await page.waitForTimeout(8);
  }
  await page.mouse.up({ button: 'middle' });
}

/**
 * Wheel notches towards a point, paced like a quick wheel spin (one notch per 40 ms); positive
 * notches zoom in. `at` is the point as fractions of the box's width and height.
 */
export async function zoom(page: Page, box: Viewport, notches: number, at: { x: number; y: number }): Promise<void> {
  await page.mouse.move(box.x + box.width * at.x, box.y + box.height * at.y);
  for (let i = 0; i < Math.abs(notches); i++) {
    await page.mouse.wheel(0, notches > 0 ? -100 : 100);
    await page.waitForTimeout(40);
  }
}
