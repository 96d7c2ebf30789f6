// The Logs and Traffic pages. MODE=logs: the numbers shown equal tplog's
// own answers (EXPECT, from the CLI), and hostile values from the log are
// text. MODE=traffic (root: the console captures lo): an HTTP login and a
// TLS session made here appear live, the password masked until clicked.
import assert from 'node:assert/strict';
import http from 'node:http';
import tls from 'node:tls';
import { readFileSync, appendFileSync } from 'node:fs';
import { browser, open, shots, until, log } from './harness.mjs';

const shot = shots();
const mode = process.env.MODE;
const { ctx, close } = await browser();
const { page, problems } = await open(ctx, process.env.TPLAB_URL);
const tab = (t) => page.locator(`nav button[data-tab="${t}"]`).click();

if (mode === 'logs') {
  const expect = JSON.parse(process.env.EXPECT);
  await tab('logs');
  const kpi = (k) => page.locator(`[data-testid="log-${k}"]`).textContent();
  await until('the overview', async () => (await kpi('requests')) !== '–', 10000);
  assert.equal(await kpi('requests'), String(expect.stats.requests));
  assert.equal(await kpi('distinct-IPs'), String(expect.stats.distinct_ips));
  assert.equal(await kpi('malformed'), String(expect.stats.malformed));
  await until('the IP panel', async () => (await page.locator('[data-testid="log-ips-key"]').count()) > 0, 10000);
  const ips = await page.locator('[data-log-panel="ips"] tr').evaluateAll((rows) => rows.map((r) => ({ count: Number(r.children[0].textContent), key: r.children[1].textContent })));
  assert.deepEqual(ips, expect.ips.slice(0, ips.length));
  // Hostile agents are shown as written, as text. Each panel is its own
  // request, so the agents panel may fill after the IP panel.
  await until('the agents panel', async () => (await page.locator('[data-testid="log-agents-key"]').count()) > 0, 10000);
  const agents = await page.locator('[data-testid="log-agents-key"]').allTextContents();
  for (const evil of expect.hostile) assert.ok(agents.includes(evil), `agent ${evil} shown as text: ${agents}`);
  assert.equal(await page.evaluate(() => window.__xss), undefined, 'no script from the log ran');
  assert.equal(await page.locator('main img, main script').count(), 0);
  // A filter is tplog's --page.
  await page.locator('input[placeholder="--page"]').fill('truc.html');
  await page.locator('button[data-submit="Filter"]').click();
  await until('the filtered overview', async () => (await kpi('requests')) === String(expect.truc_requests), 10000);
  // The framed report, with the same filter: tplog report's numbers.
  const frame = page.frameLocator('iframe[data-testid="log-report"]');
  const reqs = async () => Number((await frame.locator('[data-stat="requests"] .value').innerText()).replace(/[^0-9]/g, ''));
  await until('the framed report', async () => (await reqs()) === expect.truc_requests, 10000);
  const framedAgents = await frame.locator('[data-panel="agents"] tbody tr').evaluateAll((trs) => trs.map((tr) => tr.dataset.key));
  assert.equal(await page.evaluate(() => window.__xss), undefined, 'no script from the log ran in the report');
  assert.equal(await frame.locator('img, iframe').count(), 0, 'nothing from the log became an element in the report');
  // The panels above the frame fill in any order and move it: click once
  // they are all in.
  await until('every panel', async () => (await page.locator('[data-log-panel][aria-busy]').count()) === 0, 10000);
  await frame.locator('[data-panel="clients"] tbody tr').first().click();
  await until('the report narrowed by a click', async () => (await frame.locator('[data-narrow="client"]').count()) === 1, 5000);
  await page.locator('iframe[data-testid="log-report"]').scrollIntoViewIfNeeded();
  await shot(page, 'console-logs');
  // The log grows: the panels are redone, the framed report keeps its
  // narrowing and offers to be redone.
  appendFileSync(process.env.LOG, '10.7.7.7 - - [10/Feb/2014:00:00:01 +0100] "GET /truc.html HTTP/1.1" 200 5 "-" "grower"\n'.repeat(2));
  await until('the grown overview', async () => (await kpi('requests')) === String(expect.truc_requests + 2), 10000);
  await until('the offer to redo the report', async () => page.locator('[data-testid="log-report-reload"]').isVisible(), 5000);
  assert.equal(await frame.locator('[data-narrow="client"]').count(), 1, 'the framed report kept its narrowing');
  await page.locator('[data-testid="log-report-reload"]').click();
  await until('the redone report', async () => (await frame.locator('[data-narrow="client"]').count()) === 0 && (await reqs()) === expect.truc_requests + 2, 10000);
  log(`logs: overview, IPs and the --page filter equal tplog; hostile values are text; the framed report shows ${expect.truc_requests} requests for --page truc.html and narrows by a click (agents: ${framedAgents.length}); 2 lines appended: the panels redone, the report kept its narrowing until redone`);
}

if (mode === 'traffic') {
  await tab('traffic');
  // An HTTP server that takes a login form, and a TLS server with SNI.
  const srv = http.createServer((req, res) => { req.resume(); req.on('end', () => { res.end('ok'); }); });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const port = srv.address().port;
  const body = 'user=alice&password=S3cret-42';
  await fetch(`http://127.0.0.1:${port}/login`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
  const tsrv = tls.createServer({ key: readFileSync(process.env.TLS_KEY), cert: readFileSync(process.env.TLS_CERT) }, (s) => { s.end('HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n'); });
  await new Promise((r) => tsrv.listen(0, '127.0.0.1', r));
  await new Promise((r) => {
    const c = tls.connect({ host: '127.0.0.1', port: tsrv.address().port, servername: 'files.lab.test', rejectUnauthorized: false }, () => {
      c.write('POST /login HTTP/1.1\r\nhost: files.lab.test\r\ncontent-length: ' + body.length + '\r\n\r\n' + body);
    });
    c.on('data', () => {}); c.on('end', r); c.on('error', r);
  });
  const row = page.locator(`tr[data-kind="credential"]`).filter({ hasText: `127.0.0.1:${port}` }).first();
  await until('the HTTP login in the page', async () => (await row.count()) === 1, 15000);
  assert.equal((await row.locator('[data-testid="user"]').textContent()), 'alice');
  const masked = await row.locator('[data-testid="secret"]').textContent();
  assert.ok(masked.startsWith('S') && !masked.includes('3cret'), `masked: ${masked}`);
  await until('the TLS session in the page', async () => (await page.locator('tr[data-kind="tls"]').filter({ hasText: 'files.lab.test' }).count()) >= 1, 15000);
  await shot(page, 'console-traffic');
  await row.locator('button', { hasText: 'show' }).click();
  await until('the password revealed', async () => (await row.locator('[data-testid="secret"]').textContent()) === 'S3cret-42');
  const tlsRow = await page.locator('tr[data-kind="tls"]').filter({ hasText: 'files.lab.test' }).first().textContent();
  assert.ok(!tlsRow.includes('3cret'), `the TLS session shows no password: ${tlsRow}`);
  srv.close(); tsrv.close();
  log(`traffic: HTTP login (masked, then revealed) and the TLS session to files.lab.test, live; ${await page.locator('[data-testid="cred-count"]').textContent()} in clear, ${await page.locator('[data-testid="tls-count"]').textContent()} TLS`);
}

assert.deepEqual(problems, [], 'console errors, dialogs or off-origin requests');
await close();
