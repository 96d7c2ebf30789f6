// tplog report's page in Chromium: its numbers against tplog's own on the
// same log, every chart drawn, nothing fetched, narrowing by a drag and by
// a click equal to tplog's --from/--to and --ip, the URL fragment reopening
// the same view; with MODE=hostile, a log of hostile values shown as text.
//
// Env: REPORT (the page, a file), LOG (the log it was made from), TPLOG,
// SHOTS (screenshots), MODE (full | hostile | shots), NAME (screenshot prefix).
import { execFileSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import assert from 'node:assert/strict';
import { browser, shots, log } from './harness.mjs';

const { REPORT, LOG, TPLOG } = process.env;
const MODE = process.env.MODE || 'full';
const NAME = process.env.NAME || 'report';
const url = pathToFileURL(REPORT).href;

function tplog(...args) {
  try {
    return execFileSync(TPLOG, [...args, '-q', LOG], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 1 << 28 });
  } catch (e) {
    if (e.status === 1) return e.stdout; // nothing matched is an answer
    throw e;
  }
}
const tplogJson = (...a) => JSON.parse(tplog(...a, '--format', 'json'));
const num = (s) => Number(String(s).replace(/[^0-9]/g, ''));

async function openReport(ctx, hash = '') {
  const page = await ctx.newPage();
  const problems = [];
  const requests = [];
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('dialog', async (d) => { problems.push(`dialog: ${d.message()}`); await d.dismiss(); });
  page.on('request', (r) => requests.push(r.url()));
  await page.goto(url + hash);
  await page.waitForSelector('body[data-ready]');
  return { page, problems, requests };
}

const stat = (page, id) => page.locator(`[data-stat="${id}"] .value`).innerText();

/// A panel's rows as [key, requests], in the order shown.
async function panelRows(page, id) {
  return page.locator(`[data-panel="${id}"] tbody tr`).evaluateAll((trs) =>
    trs.map((tr) => [tr.dataset.key, Number(tr.children[1].textContent.replace(/[^0-9]/g, ''))]));
}

/// tplog GROUP --sort count --top N as [key, count].
function groupRows(cmd, top, ...filters) {
  return tplogJson(cmd, '--sort', 'count', '--top', String(top), ...filters).map((r) => [r.key, r.count]);
}

const ALL_PANELS = [['clients', 'ips'], ['pages', 'pages'], ['status', 'status'], ['methods', 'methods'], ['referers', 'referers'], ['agents', 'agents']];
async function equalsTplog(page, filters, what, panels = ALL_PANELS) {
  const stats = tplogJson('stats', ...filters);
  assert.equal(num(await stat(page, 'requests')), stats.requests, `${what}: requests`);
  assert.equal(num(await stat(page, 'clients')), stats.distinct_ips, `${what}: clients`);
  assert.equal(num(await stat(page, 'pages')), stats.distinct_pages, `${what}: pages`);
  const top = await page.evaluate(() => JSON.parse(document.getElementById('report-data').textContent).top);
  for (const [panel, cmd] of panels) {
    const shown = await panelRows(page, panel);
    const want = groupRows(cmd, top, ...filters);
    assert.deepEqual(shown, want, `${what}: panel ${panel} against tplog ${cmd} ${filters.join(' ')}`);
  }
  log(`${what}: ${stats.requests} requests, ${stats.distinct_ips} clients, ${stats.distinct_pages} pages: the page equals tplog ${filters.join(' ') || '(whole log)'}`);
}

const { ctx, close } = await browser();
const shot = shots();
try {
  const { page, problems, requests } = await openReport(ctx);
  if (MODE === 'hostile') {
    // Nothing the log carried became markup or ran.
    const injected = await page.evaluate(() => ({
      xss: window.__xss, scripts: document.scripts.length,
      foreign: document.querySelectorAll('img, iframe, object, embed, a[href^="javascript"], [onerror], [onclick], [onload]').length,
    }));
    assert.equal(injected.xss, undefined, 'a script from the log ran');
    assert.equal(injected.scripts, 2, 'only the page\'s data block and its own script');
    assert.equal(injected.foreign, 0, 'an element from the log was created');
    const agents = await panelRows(page, 'agents');
    const keys = agents.map((r) => r[0]);
    assert.ok(keys.some((k) => k.includes('<script>window.__xss=1</script>')), `the hostile agent is shown as text: ${keys.join(' | ').slice(0, 400)}`);
    assert.ok(keys.some((k) => k.includes('</script><img src=x onerror=window.__xss=2>')), 'the script-closing agent is shown as text');
    assert.ok(keys.some((k) => k.endsWith('bytes)') && k.length < 1200), 'the 100 kB agent is cut and says so');
    const pages = (await panelRows(page, 'pages')).map((r) => r[0]);
    assert.ok(pages.some((k) => k.includes('\\xff')), `invalid UTF-8 shown as \\xff: ${pages.join(' | ')}`);
    const refs = (await panelRows(page, 'referers')).map((r) => r[0]);
    assert.ok(refs.includes('javascript:window.__xss=3'), 'the javascript: referer is text');
    await equalsTplog(page, [], 'hostile log', ALL_PANELS.filter(([p]) => ['clients', 'status', 'methods'].includes(p)));
    // A click on it narrows; it is not followed.
    await page.locator('[data-panel="referers"] tr[data-key="javascript:window.__xss=3"]').click();
    await page.waitForSelector('[data-narrow="referer"]');
    assert.equal(await page.evaluate(() => window.__xss), undefined);
    await shot(page, `${NAME}-hostile`);
  } else {
    await equalsTplog(page, [], 'whole log');
    // Every chart has drawn.
    for (const id of ['requests', 'visitors', 'heatmap']) {
      const marks = await page.locator(`svg[data-chart="${id}"] rect.bar, svg[data-chart="${id}"] rect.cell`).evaluateAll((rs) => rs.map((r) => Number(r.dataset.value)));
      assert.ok(marks.length > 0 && marks.some((v) => v > 0), `chart ${id} has marks`);
    }
    const bars = await page.locator('svg[data-chart="requests"] rect.bar').evaluateAll((rs) => rs.map((r) => Number(r.dataset.value)));
    assert.equal(bars.reduce((a, b) => a + b, 0), num(await stat(page, 'requests')), 'the bars add up to the requests');
    // Sorting and filtering a table.
    await page.locator('[data-panel="clients"] th[data-col="key"]').click();
    const byKey = (await panelRows(page, 'clients')).map((r) => r[0]);
    assert.deepEqual(byKey, [...byKey].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)), 'sorted by key');
    await page.locator('[data-panel="clients"] th[data-col="hits"]').click();
    const first = (await panelRows(page, 'clients'))[0][0];
    await page.locator('[data-panel="clients"] input').fill(first);
    const filtered = await panelRows(page, 'clients');
    assert.ok(filtered.length >= 1 && filtered.every((r) => r[0].includes(first)), 'the filter box keeps the matching rows');
    await page.locator('[data-panel="clients"] input').fill('');
    if (MODE === 'shots') {
      await shot(page, NAME);
    } else {
      // Narrowing by dragging across the chart: a third of the bars from the middle.
      await page.locator('svg[data-chart="requests"]').scrollIntoViewIfNeeded();
      const box = await page.locator('svg[data-chart="requests"]').boundingBox();
      const rects = await page.locator('svg[data-chart="requests"] rect.bar').evaluateAll((rs) => rs.map((r) => { const b = r.getBoundingClientRect(); return [b.x + b.width / 2, b.y]; }));
      const a = rects[Math.floor(rects.length / 3)], b = rects[Math.floor((2 * rects.length) / 3)];
      const y = box.y + box.height / 2;
      await page.mouse.move(a[0], y);
      await page.mouse.down();
      await page.mouse.move((a[0] + b[0]) / 2, y, { steps: 4 });
      await page.mouse.move(b[0], y, { steps: 4 });
      await page.mouse.up();
      await page.waitForSelector('[data-narrow="time"]');
      const h = new URLSearchParams((await page.evaluate(() => location.hash)).slice(1));
      const range = ['--from', h.get('from'), '--to', h.get('to')];
      await equalsTplog(page, range, 'dragged range');
      await shot(page, `${NAME}-narrowed`);
      // Then a click on a client: every panel narrows to both.
      const client = (await panelRows(page, 'clients'))[0][0];
      await page.locator(`[data-panel="clients"] tr[data-key="${client}"]`).click();
      await page.waitForSelector('[data-narrow="client"]');
      const both = [...range, '--ip', client];
      await equalsTplog(page, both, `range and client ${client}`);
      // The URL fragment keeps the view: a new tab on the same URL shows it.
      const hash = await page.evaluate(() => location.hash);
      const again = await openReport(ctx, hash);
      await again.page.waitForSelector('[data-narrow="client"]');
      await equalsTplog(again.page, both, 'reopened link');
      assert.deepEqual(again.problems, []);
      // "show everything" goes back to the whole log.
      await page.locator('button.reset').click();
      await equalsTplog(page, [], 'after reset');
    }
  }
  assert.deepEqual(problems, [], 'no console errors');
  const others = requests.filter((r) => r !== url && !r.startsWith(url + '#'));
  assert.deepEqual(others, [], 'the page fetched nothing beyond itself');
  log(`requests made by the page: ${requests.length} (the file itself)`);
  if (MODE !== 'hostile') {
    // The phone-sized view.
    const phone = await ctx.newPage();
    await phone.setViewportSize({ width: 390, height: 844 });
    await phone.goto(url);
    await phone.waitForSelector('body[data-ready]');
    const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `no sideways scrolling on a phone (${overflow} px too wide)`);
    await phone.screenshot({ path: `${process.env.SHOTS || 'target/screenshots'}/${NAME}-phone.png`, fullPage: false });
  }
} finally {
  await close();
}
