import type { Browser, Page } from 'playwright-core';
import type { WebServer } from '../src-main/web/server';
import { openApp } from '../test/helpers/browser';

/**
 * Opens the app with its test hooks in a fresh browser context of the given viewport, collecting
 * the page's uncaught errors.
 */
export async function openBenchPage(browser: Browser, server: WebServer, viewport: { width: number; height: number }): Promise<{ page: Page; errors: string[] }> {
  const context = await browser.newContext({ viewport });
  // tsx keeps function names with a `__name` helper that functions sent to the page lack.
  await context.addInitScript({ content: 'globalThis.__name = (f) => f;' });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await openApp(page, server, { hooks: true });
  return { page, errors };
}
