import fs from "fs";
import path from "path";
import { chromium, Browser, Locator, Page } from "playwright-core";

export const ROOT = path.join(__dirname, "..", "..", "..");
/** Where the UI test writes its screenshots, the servers' logs and a copy of the config the UI wrote (git-ignored). */
export const SCREENSHOTS = path.join(ROOT, "screenshots", "ui");
/** Set GPP_UI_DOCS_SCREENSHOTS=1 to refresh the README's screenshots in docs/screenshots/. */
export const DOCS_SCREENSHOTS = path.join(ROOT, "docs", "screenshots");

// Flags that let Chromium run headless as root on this machine's closed network
// (see .library/env/machines/node.md): no sandbox, no GPU, no calls home.
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export async function launchChromium(executablePath: string): Promise<Browser> {
  return chromium.launch({ executablePath, headless: true, args: CHROMIUM_ARGS, timeout: 60000 });
}

export function resetScreenshots(): void {
  fs.rmSync(SCREENSHOTS, { recursive: true, force: true });
  fs.mkdirSync(path.join(SCREENSHOTS, "logs"), { recursive: true });
}

export const VIEWPORT = { width: 1280, height: 900 };

/**
 * A screenshot of the whole page. The UI's sidebar is `position: fixed`, so a plain full-page shot
 * draws it in the middle of a long page: the viewport is made as tall as the page instead.
 */
export async function screenshot(page: Page, name: string): Promise<string> {
  const file = path.join(SCREENSHOTS, `${name}.png`);
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  const height = await page.evaluate(() => (globalThis as any).document.documentElement.scrollHeight as number);
  if (height > VIEWPORT.height) {
    await page.setViewportSize({ width: VIEWPORT.width, height: Math.min(height, 6000) });
    try {
      await page.screenshot({ path: file });
    } finally {
      await page.setViewportSize(VIEWPORT);
    }
  } else {
    await page.screenshot({ path: file });
  }
  return file;
}

/**
 * A small screenshot for the README, only with GPP_UI_DOCS_SCREENSHOTS=1: the part of the viewport
 * right of the sidebar, scrolled so that `focus` is in view.
 */
export async function docsScreenshot(page: Page, name: string, focus?: Locator): Promise<void> {
  if (!process.env.GPP_UI_DOCS_SCREENSHOTS) return;
  fs.mkdirSync(DOCS_SCREENSHOTS, { recursive: true });
  if (focus) await focus.scrollIntoViewIfNeeded();
  // the "saved" toasts of earlier steps are not part of the picture
  await page.evaluate(() => (globalThis as any).document.querySelectorAll(".toast").forEach((t: any) => (t.style.display = "none")));
  const sidebar = 235;
  await page.screenshot({
    path: path.join(DOCS_SCREENSHOTS, `${name}.png`),
    clip: { x: sidebar, y: 0, width: VIEWPORT.width - sidebar, height: VIEWPORT.height },
  });
}

/** The text of every cell of a table's body rows. */
export async function tableRows(table: Locator): Promise<string[][]> {
  return table.locator("tbody tr").evaluateAll((rows: any[]) =>
    rows.map((row) => Array.from(row.querySelectorAll("td") as ArrayLike<any>).map((cell: any) => String(cell.innerText).trim()))
  );
}

/** Waits until `read()` satisfies `ok`, polling; returns the last value read. */
export async function eventually<T>(read: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 20000): Promise<T> {
  const started = Date.now();
  let value = await read();
  while (!ok(value)) {
    if (Date.now() - started > timeoutMs) return value;
    await new Promise((resolve) => setTimeout(resolve, 200));
    value = await read();
  }
  return value;
}

/** Navigation inside the single-page app: wait for the URL, then for its requests to settle. */
export async function arrive(page: Page, url: string | RegExp | ((u: URL) => boolean), timeout = 30000): Promise<void> {
  await page.waitForURL(url, { timeout });
  await page.waitForLoadState("networkidle");
}
