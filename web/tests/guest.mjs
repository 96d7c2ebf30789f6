// The console on a real QEMU guest (run by tests/e2e_virt.rs as root):
// serial console in the page (prompt, a command, keystroke-to-echo
// latency), the graphical console (keys typed through noVNC change the
// guest), suspend/resume under the Watch chart, the usage graph while the
// guest reads its disk, and a live migration A -> B from the page.
import assert from 'node:assert/strict';
import { browser, open, shots, until, log } from './harness.mjs';

const { TPLAB_URL, GUEST_IP, DOMAIN = 'web' } = process.env;
const shot = shots();
const { ctx, close } = await browser({ width: 1280, height: 1000 });
const { page, problems } = await open(ctx, TPLAB_URL);
const row = (name, host = 0) => page.locator(`tr[data-domain="${name}"][data-host="${host}"]`).first();
const stateOf = async (name, host = 0) => (await row(name, host).locator('[data-testid="state"]').textContent()).trim();
const tab = (t) => page.locator(`nav button[data-tab="${t}"]`).click();
const termText = () => page.evaluate(() => {
  const b = window.tplabTerm.buffer.active;
  const out = [];
  for (let i = 0; i < b.length; i++) out.push(b.getLine(i).translateToString(true));
  return out.join('\n');
});

await until('the guest running in the page', async () => (await row(DOMAIN).count()) === 1 && (await stateOf(DOMAIN)) === 'running', 15000);
await shot(page, 'console-guest');

// Another guest, shut off, started from the page (a real boot), then
// pulled off again.
const { BOOT_DOMAIN, BOOT_IP } = process.env;
if (BOOT_DOMAIN) {
  await row(BOOT_DOMAIN).locator('button[data-action="start"]').click();
  await until(`${BOOT_DOMAIN} running`, async () => (await stateOf(BOOT_DOMAIN)) === 'running', 20000);
  const booted = Date.now();
  await until(`${BOOT_DOMAIN}'s web server after the boot`, async () => {
    try { // The static page: node's strict HTTP parser refuses the CGI's bare-LF headers.
    return (await fetch(`http://${BOOT_IP}/`, { signal: AbortSignal.timeout(1000) })).ok; } catch { return false; }
  }, 90000);
  log(`started ${BOOT_DOMAIN} from the page: its web server answered ${((Date.now() - booted) / 1000).toFixed(1)} s after the start`);
  await row(BOOT_DOMAIN).locator('button[data-action="destroy"]').click();
  await until(`${BOOT_DOMAIN} off`, async () => (await stateOf(BOOT_DOMAIN)) === 'shut off', 20000);
}

// Serial console: the prompt, a command and its answer.
await tab('console');
await page.locator('[data-testid="console-domain"]').selectOption(`0/${DOMAIN}`);
await page.locator('button[data-submit="open-serial"]').click();
await until('serial connected', async () => (await page.locator('[data-testid="console-status"]').textContent()).includes('serial console connected'), 10000);
await page.locator('#term').click();
// Enter until the prompt shows, as a user would: under emulation, after
// two migrations, the guest's UART has been seen to hold output until the
// next key.
let prompt = false;
for (let i = 0; i < 10 && !prompt; i++) {
  await page.keyboard.press('Enter');
  prompt = await until('a shell prompt', async () => /[#$] ?$/m.test(await termText()), 2000).then(() => true, () => false);
}
assert.ok(prompt, `no shell prompt on the serial console: ${JSON.stringify(await termText())}`);
await page.keyboard.type('echo TPLAB-SERIAL-$((6*7))\r');
await until('the command\'s answer', async () => (await termText()).includes('TPLAB-SERIAL-42'), 10000);
// Keystroke to echo: one character at a time, timed until xterm shows it.
const lat = [];
for (let i = 0; i < 30; i++) {
  const before = await page.evaluate(() => window.tplabSerialBytes || 0);
  const t0 = Date.now();
  await page.keyboard.type('x');
  await until('the echo', async () => (await page.evaluate(() => window.tplabSerialBytes || 0)) > before, 5000);
  lat.push(Date.now() - t0);
}
for (let i = 0; i < 30; i++) await page.keyboard.press('Backspace');
lat.sort((a, b) => a - b);
log(`serial keystroke-to-echo latency over ${lat.length} keys: p50 ${lat[Math.floor(lat.length * 0.5)]} ms, p99 ${lat[Math.min(lat.length - 1, Math.floor(lat.length * 0.99))]} ms, max ${lat[lat.length - 1]} ms`);
await shot(page, 'console-serial');

// Graphical console: keys typed through noVNC reach the guest's tty1.
await page.locator('button[data-submit="open-vnc"]').click();
await until('VNC connected', async () => /connected/.test(await page.locator('[data-testid="console-status"]').textContent()), 15000);
await page.waitForFunction(() => { const c = document.querySelector('#screen canvas'); return c && c.width > 0 && c.clientWidth > 0; }, null, { timeout: 15000 });
const fb = await page.evaluate(() => { const c = document.querySelector('#screen canvas'); return `${c.width}x${c.height} shown at ${c.clientWidth}x${c.clientHeight}`; });
log(`graphical console: framebuffer ${fb}`);
await page.waitForTimeout(1000);
await page.locator('#screen canvas').click();
await page.keyboard.press('Enter');
// Only unshifted characters: no keymap surprises between noVNC and QEMU.
await page.keyboard.type('mkdir /tmp/tplab-vnc-42', { delay: 40 });
await page.keyboard.press('Enter');
await page.waitForTimeout(1500);
await shot(page, 'console-vnc');
// Checked through the other console: the directory exists in the guest.
await page.locator('button[data-submit="open-serial"]').click();
await until('serial connected again', async () => (await page.locator('[data-testid="console-status"]').textContent()).includes('serial console connected'), 10000);
await page.locator('#term').click();
await page.keyboard.type('ls -d /tmp/tplab-*\r');
await until('the directory typed through VNC', async () => /^\/tmp\/tplab-vnc-42/m.test(await termText()), 10000);
log('graphical console: "mkdir /tmp/tplab-vnc-42" typed through noVNC, seen with ls on the serial console');

// The usage graph while the guest reads its disk.
await page.keyboard.type('dd if=/dev/vda of=/dev/null bs=64k\r');
await tab('usage');
await page.locator('[data-testid="usage-domain"]').selectOption(`0/${DOMAIN}`);
await until('disk reads in the usage samples', async () => page.evaluate((d) => {
  const h = window.tplabState.history.get(`0/${d}`) || [];
  return h.some((x) => (x.rd || 0) > 1e6);
}, DOMAIN), 30000);
const peak = await page.evaluate((d) => Math.max(...(window.tplabState.history.get(`0/${d}`) || []).map((x) => x.rd || 0)), DOMAIN);
log(`usage: disk reads up to ${(peak / 1e6).toFixed(1)} MB/s during dd`);
assert.ok(await page.locator('[data-chart="disk"] path[data-series="read"]').count() === 1, 'the disk chart drew its read line');
await shot(page, 'console-usage');

// Watch heure.php while the guest is suspended for 2 s from the page.
await tab('watch');
await page.locator('input[placeholder="http://GUEST/heure.php"]').fill(`http://${GUEST_IP}/cgi-bin/heure`);
await page.locator('input[placeholder="every (ms)"]').fill('50');
await page.locator('button[data-submit="Start watching"]').click();
await until('watch answers', async () => Number(await page.locator('[data-testid="watch-requests"]').first().textContent()) > 10, 15000);
await tab('machines');
await row(DOMAIN).locator('button[data-action="suspend"]').click();
await until('paused', async () => (await stateOf(DOMAIN)) === 'paused');
await page.waitForTimeout(2000);
await row(DOMAIN).locator('button[data-action="resume"]').click();
await until('running', async () => (await stateOf(DOMAIN)) === 'running');
await page.waitForTimeout(1500);
await tab('watch');
const gapText = await page.locator('[data-testid="watch-gap"]').first().textContent();
const gap = parseFloat(gapText);
log(`watch: longest gap ${gapText} around a 2 s suspend`);
assert.ok(gap >= 1.8 && gap < 10, `the gap shows the suspend: ${gapText}`);
await page.locator('[data-watch] button', { hasText: 'Stop' }).first().click();
await shot(page, 'console-watch');

// Live migration A -> B from the page, with progress and the downtime.
await tab('machines');
await row(DOMAIN).locator('td.name').click();
const panel = page.locator('[data-testid="detail"]');
await panel.locator('select').first().waitFor();
for (const name of ['live', 'persistent', 'undefine_source', 'unsafe']) await panel.locator(`input[name="${name}"]`).check();
await panel.locator('button[data-submit="Migrate"]').click();
await until('the migration report', async () => /migrated .* downtime/.test(await page.locator('[data-testid="job"]').textContent()), 180000);
const job = await page.locator('[data-testid="job"]').textContent();
const samples = await page.evaluate(() => window.tplabState.job.samples.length);
log(`migration from the page: ${job}; ${samples} progress samples pushed`);
await until('the guest listed on host 1', async () => (await row(DOMAIN, 1).count()) === 1 && (await stateOf(DOMAIN, 1)) === 'running', 10000);
assert.equal(await row(DOMAIN, 0).count(), 0, 'gone from host 0');
await shot(page, 'console-migrated');
assert.deepEqual(problems, [], 'console errors, unexpected dialogs or off-origin requests');
await close();
log('guest: every step checked');
