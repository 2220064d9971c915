/**
 * Debian's Chromium, driven headless through playwright-core (no browser download). Locally, the
 * browser tests are skipped with the reason when /usr/bin/chromium is missing; in CI (CI set)
 * they run and fail, so a missing browser can never pass unnoticed.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { CHECKOUT } from './checkout.js';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM_PATH = process.env.SSEHUB_TEST_CHROMIUM ?? '/usr/bin/chromium';
const SCREENSHOTS = `${CHECKOUT}test-results/screenshots/`;

export function chromiumSkipReason(): string | undefined {
  if (existsSync(CHROMIUM_PATH) || process.env.CI) return undefined;
  return `Chromium is not installed at ${CHROMIUM_PATH} (apt-get install chromium, or set CI to make this a failure)`;
}

/** Flags for a closed network: no background traffic, no QUIC, no first-run work. */
const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: FLAGS });
}

/** Saves a full-page screenshot under test-results/screenshots/ (git-ignored). */
export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: `${SCREENSHOTS}${name}.png`, fullPage: true });
}

/** Collects errors a page reports (uncaught exceptions, console errors), to assert there are none. */
export function pageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`console: ${message.text()}`);
  });
  return errors;
}
