// Shared by the browser tests: Debian's Chromium, headless, through
// playwright-core, with an empty profile and no background traffic.
import { chromium } from 'playwright-core';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';

export const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic'];

export async function browser(viewport = { width: 1280, height: 900 }) {
  const profile = mkdtempSync(join(tmpdir(), 'tplab-chromium-'));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: FLAGS,
    viewport,
  });
  const close = async () => { await ctx.close(); rmSync(profile, { recursive: true, force: true }); };
  return { ctx, close };
}

/// A page with every console error, dialog and off-origin request recorded.
export async function open(ctx, url) {
  const page = ctx.pages()[0] || await ctx.newPage();
  const origin = new URL(url).origin;
  const problems = [];
  // Chromium logs every 4xx answer as an error; the tests cause some on
  // purpose (an action refused by libvirt), and check their messages.
  page.on('console', (m) => { if (m.type() === 'error' && !/Failed to load resource: the server responded with a status of 4\d\d/.test(m.text())) problems.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  // A dialog the test expects (page.acceptDialogs > 0) is accepted; any
  // other (an injected alert()) is a failure.
  page.acceptDialogs = 0;
  page.on('dialog', async (d) => {
    if (page.acceptDialogs > 0) { page.acceptDialogs--; await d.accept(); return; }
    problems.push(`dialog: ${d.message()}`);
    await d.dismiss();
  });
  page.on('request', (r) => { if (!r.url().startsWith(origin) && !r.url().startsWith('data:') && !r.url().startsWith('blob:')) problems.push(`off-origin request: ${r.url()}`); });
  // On a failure, say what the page showed: its messages and a screenshot.
  process.on('uncaughtException', async (e) => {
    console.error(e);
    try {
      console.error('[browser] page messages:', await page.locator('#log').innerText());
      await page.screenshot({ path: join(process.env.SHOTS || 'target/screenshots', 'FAILED.png'), fullPage: true });
    } catch { /* the page is gone */ }
    process.exit(1);
  });
  await page.goto(url);
  await page.waitForFunction(() => window.tplabReady === true, null, { timeout: 15000 });
  return { page, problems };
}

export function shots() {
  const dir = process.env.SHOTS || 'target/screenshots';
  mkdirSync(dir, { recursive: true });
  return (page, name) => page.screenshot({ path: join(dir, `${name}.png`), fullPage: true });
}

/// tpvirt's output; exit 1 ("nothing found", an empty list) is an answer too.
export function tpvirt(...args) {
  try {
    return execFileSync(process.env.TPVIRT, ['-c', process.env.TPLAB_URI, ...args], { encoding: 'utf8' });
  } catch (e) {
    if (e.status === 1) return e.stdout;
    throw e;
  }
}

export function tpvirtJson(...args) {
  return JSON.parse(tpvirt('--json', ...args));
}

export async function until(what, f, ms = 5000) {
  const t0 = Date.now();
  for (;;) {
    let v;
    try { v = await f(); } catch (e) { v = undefined; }
    if (v) return Date.now() - t0;
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export function log(...a) {
  console.log('[browser]', ...a);
}
