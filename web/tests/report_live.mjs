// tplog report --follow in Chromium while a real apache2 writes its log:
// the page's request count follows the requests made (measured, must be
// within 2 s), through a logrotate-style rotation (rename, then a graceful
// restart that reopens the log) in the middle, losing no line.
//
// Env: LIVE_URL (the URL tplog printed), APACHE_PORT, ROTATE (a shell
// command that rotates the log), SHOTS.
import { execFileSync, execSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { browser, shots, log } from './harness.mjs';

const { LIVE_URL, APACHE_PORT, ROTATE } = process.env;
const { ctx, close } = await browser();
const shot = shots();
try {
  const page = await ctx.newPage();
  const problems = [];
  const origin = new URL(LIVE_URL).origin;
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('request', (r) => { if (!r.url().startsWith(origin)) problems.push(`off-origin request: ${r.url()}`); });
  await page.goto(LIVE_URL);
  await page.waitForSelector('body[data-ready]');
  const count = async () => Number((await page.locator('[data-stat="requests"] .value').innerText()).replace(/[^0-9]/g, ''));
  let made = await count();
  log(`page opened: ${made} requests already in the log`);
  const lags = [];
  const batch = async (n, tag) => {
    for (let i = 0; i < n; i++) {
      // A new connection each time (curl): a graceful restart closes kept-alive ones.
      const code = execFileSync('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${APACHE_PORT}/index.html?${tag}=${i}`], { encoding: 'utf8' });
      assert.equal(code, '200');
    }
    made += n;
    const t0 = Date.now();
    for (;;) {
      const c = await count();
      if (c === made) break;
      assert.ok(c <= made, `the page counts ${c} requests, more than the ${made} made`);
      if (Date.now() - t0 > 5000) throw new Error(`the page shows ${c} requests, ${made} were made, after 5 s`);
      await new Promise((r) => setTimeout(r, 25));
    }
    lags.push(Date.now() - t0);
  };
  // A batch the page took over 2 s to show is measured again once (a
  // shared machine can stall a process for a moment); twice is a failure.
  const within2s = async (tag) => {
    await batch(10, tag);
    if (lags[lags.length - 1] > 2000) {
      log(`batch ${tag}: ${lags[lags.length - 1]} ms, measured again`);
      await batch(10, `${tag}-again`);
      assert.ok(lags[lags.length - 1] <= 2000, `the page followed within 2 s (${lags.join(', ')} ms)`);
    }
  };
  for (let b = 0; b < 3; b++) await within2s(`before${b}`);
  execSync(ROTATE, { stdio: 'inherit' });
  log('log rotated (renamed, then apache2 -k graceful)');
  for (let b = 0; b < 3; b++) await within2s(`after${b}`);
  const sorted = [...lags].sort((a, b) => a - b);
  log(`request count in the page after each batch: median ${sorted[Math.floor(sorted.length / 2)]} ms, max ${sorted[sorted.length - 1]} ms (in order: ${lags.join(', ')})`);
  await shot(page, 'report-live');
  assert.deepEqual(problems, []);
  console.log(`TOTAL ${made}`);
} finally {
  await close();
}
