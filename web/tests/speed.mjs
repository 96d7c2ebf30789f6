// How fast the Machines page is with 200 domains on the test driver: the
// time from navigation to a table of 200 rows (median of 5 loads), and how
// long a change takes to be pushed to the page. Figures, printed.
import assert from 'node:assert/strict';
import { browser, open, until, log } from './harness.mjs';

const N = 200;
const { ctx, close } = await browser();
const { page, problems } = await open(ctx, process.env.TPLAB_URL);
// Define N domains through the console's own API, from the page.
await page.evaluate(async (n) => {
  const csrf = window.tplabState.session.csrf;
  for (let i = 0; i < n; i++) {
    const xml = `<domain type='test'><name>vm-${String(i).padStart(3, '0')}</name><memory unit='MiB'>64</memory><vcpu>1</vcpu><os><type>hvm</type></os></domain>`;
    const r = await fetch('/api/hosts/0', { method: 'POST', headers: { 'content-type': 'application/json', 'x-csrf-token': csrf }, body: JSON.stringify({ action: 'define', xml }) });
    if (!r.ok) throw new Error(await r.text());
  }
}, N);
await until(`${N} domains listed`, async () => (await page.locator('tr[data-domain]').count()) >= N, 15000);
const loads = [];
for (let i = 0; i < 5; i++) {
  await page.reload();
  await page.waitForFunction((n) => document.querySelectorAll('tr[data-domain]').length >= n, N, { timeout: 15000 });
  loads.push(await page.evaluate(() => performance.now()));
}
loads.sort((a, b) => a - b);
// Pushed state: start a domain with the API, time until the page shows it.
const push = [];
for (let i = 0; i < 5; i++) {
  const name = `vm-${String(i).padStart(3, '0')}`;
  const t = await page.evaluate(async (name) => {
    const csrf = window.tplabState.session.csrf;
    const t0 = performance.now();
    await fetch(`/api/hosts/0/domains/${name}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-csrf-token': csrf }, body: JSON.stringify({ action: 'start' }) });
    const answered = performance.now();
    await new Promise((res) => {
      const check = () => {
        const cell = document.querySelector(`tr[data-domain="${name}"] [data-testid="state"]`);
        if (cell && cell.textContent === 'running') res(); else requestAnimationFrame(check);
      };
      check();
    });
    return [answered - t0, performance.now() - t0];
  }, name);
  push.push(t[1]);
}
push.sort((a, b) => a - b);
assert.deepEqual(problems, []);
log(`speed: ${N + 1} domains, page interactive (all rows drawn) after ${loads.map((x) => x.toFixed(0)).join(', ')} ms, median ${loads[2].toFixed(0)} ms; action to pushed state ${push.map((x) => x.toFixed(0)).join(', ')} ms, median ${push[2].toFixed(0)} ms`);
await close();
