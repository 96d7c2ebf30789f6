// The Machines page on libvirt's test driver: every action by clicks, its
// result read in the page and, when the console and this script share a
// daemon (TPLAB_URI set), with tpvirt from outside; a change made from the
// terminal must show in the page within 1 s.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { browser, open, shots, tpvirt, tpvirtJson, until, log } from './harness.mjs';

const URL_ = process.env.TPLAB_URL;
const outside = Boolean(process.env.TPLAB_URI);
const shot = shots();
const { ctx, close } = await browser();
const { page, problems } = await open(ctx, URL_);

const row = (name) => page.locator(`tr[data-domain="${name}"]`).first();
const stateOf = async (name) => (await row(name).locator('[data-testid="state"]').textContent()).trim();
const lastResult = async () => (await page.locator('#log .msg').last().textContent()) || '';
const click = async (name, action) => { await row(name).locator(`button[data-action="${action}"]`).click(); };
const submit = async (label) => { await page.locator(`.panel.detail button[data-submit="${label}"], .panel button[data-submit="${label}"]`).first().click(); };
const fill = async (placeholder, v) => { await page.locator(`.panel.detail input[placeholder="${placeholder}"]`).fill(v); };

await until('the domain list', async () => (await page.locator('tr[data-domain]').count()) > 0, 10000);
assert.equal(await stateOf('test'), 'running');
await shot(page, 'console-machines');

// Lifecycle by clicks, checked in the page and from outside.
await click('test', 'suspend');
await until('paused in the page', async () => (await stateOf('test')) === 'paused');
if (outside) assert.equal(tpvirtJson('info', 'test').state, 'paused');
if (outside) {
  // From the terminal: the page follows within 1 s.
  const t0 = Date.now();
  tpvirt('resume', 'test');
  const ms = await until('the terminal\'s resume in the page', async () => (await stateOf('test')) === 'running', 1000);
  log(`terminal resume shown in the page after ${Date.now() - t0} ms (${ms} ms after tpvirt returned)`);
} else {
  await click('test', 'resume');
  await until('running again', async () => (await stateOf('test')) === 'running');
}

// Reboot keeps it running; shutdown (ACPI) turns it off; start again.
await click('test', 'reboot');
await until('reboot result', async () => (await lastResult()).includes('reboot test: done'));
assert.equal(await stateOf('test'), 'running');
await click('test', 'shutdown');
await until('shut off in the page', async () => (await stateOf('test')) === 'shut off');
if (outside) assert.equal(tpvirtJson('info', 'test').state, 'shut off');
await click('test', 'start');
await until('running in the page', async () => (await stateOf('test')) === 'running');

// Resources in the detail panel.
await row('test').locator('td.name').click();
await page.locator('[data-testid="detail"] h2').first().waitFor();
await fill('memory, e.g. 512M', '1G');
await submit('Set memory');
await until('setmem result', async () => (await lastResult()).includes('setmem test: done'));
await until('1 GiB in the page', async () => (await row('test').locator('[data-testid="memory"]').textContent()).startsWith('1.0 GiB'));
if (outside) assert.equal(tpvirtJson('info', 'test').memory_kib, 1048576);
await fill('memory, e.g. 512M', '64G');
await submit('Set memory');
await until('the maximum refused', async () => /maximum/.test(await page.locator('#log .msg.error').last().textContent()));
await fill('vCPUs', '1');
await submit('Set vCPUs');
await until('1 vCPU in the page', async () => (await row('test').locator('[data-testid="vcpus"]').textContent()).startsWith('1 /'));
if (outside) assert.equal(tpvirtJson('info', 'test').vcpus, 1);

// Snapshots: create, see, revert, delete.
await fill('snapshot name', 'before-upgrade');
await submit('Take snapshot');
await page.locator('tr[data-snapshot="before-upgrade"]').waitFor({ timeout: 5000 });
if (outside) assert.ok(tpvirtJson('snapshot', 'list', 'test').some((s) => s.name === 'before-upgrade'));
await page.locator('tr[data-snapshot="before-upgrade"] button[data-action="snapshot-revert"]').click();
await until('revert result', async () => (await lastResult()).includes('revert test: done'));
await page.locator('tr[data-snapshot="before-upgrade"] button[data-action="snapshot-delete"]').click();
await until('snapshot gone', async () => (await page.locator('tr[data-snapshot="before-upgrade"]').count()) === 0);
if (outside) assert.ok(!tpvirtJson('snapshot', 'list', 'test').some((s) => s.name === 'before-upgrade'));

// XML of a running domain.
await submit('dumpxml');
await until('the XML', async () => (await page.locator('[data-testid="xml"]').textContent()).includes('<name>test</name>'));

// A new machine from XML: define, start, destroy; a clone of it (the
// test driver's own domain has a disk that exists nowhere, so it cannot be
// copied), the diff between the two, then undefine both.
const xml = (name) => `<domain type='test'><name>${name}</name><memory unit='MiB'>128</memory><vcpu>1</vcpu><os><type>hvm</type></os><devices><interface type='network'><mac address='52:54:00:12:34:56'/><source network='default'/></interface></devices></domain>`;
await page.locator('[data-testid="new-xml"]').fill(xml('lab-new'));
await page.locator('button[data-submit="define"]').click();
await until('lab-new defined', async () => (await page.locator('tr[data-domain="lab-new"]').count()) === 1);
assert.equal(await stateOf('lab-new'), 'shut off');
await click('lab-new', 'start');
await until('lab-new running', async () => (await stateOf('lab-new')) === 'running');
if (outside) assert.equal(tpvirtJson('info', 'lab-new').state, 'running');
await click('lab-new', 'destroy');
await until('lab-new off', async () => (await stateOf('lab-new')) === 'shut off');
await row('lab-new').locator('td.name').click();
await fill('clone name (auto)', 'lab-new-clone');
await submit('Clone');
await until('the clone in the list', async () => (await page.locator('tr[data-domain="lab-new-clone"]').count()) === 1, 5000);
if (outside) assert.ok(tpvirtJson('list', '--all').some((d) => d.name === 'lab-new-clone'));
await page.locator('#diffwith').selectOption('lab-new-clone');
await submit('diff');
await page.locator('[data-testid="diff"]').waitFor();
const diff = await page.locator('[data-testid="diff"]').textContent();
assert.ok(/-\s+<name>lab-new<\/name>/.test(diff), diff);
assert.ok(/\+\s+<name>lab-new-clone<\/name>/.test(diff), diff);
assert.ok(/-\s+<mac address='52:54:00:12:34:56'\/>/.test(diff), 'the clone has a new MAC: ' + diff);
await shot(page, 'console-detail');
for (const name of ['lab-new-clone', 'lab-new']) {
  await row(name).locator('td.name').click();
  page.acceptDialogs = 1;
  await submit('Undefine');
  await until(`${name} gone`, async () => (await page.locator(`tr[data-domain="${name}"]`).count()) === 0);
  if (outside) assert.ok(!tpvirtJson('list', '--all').some((d) => d.name === name));
}

// A transient domain: created running, gone once destroyed.
await page.locator('[data-testid="new-xml"]').fill(xml('lab-transient'));
await page.locator('button[data-submit="create"]').click();
await until('lab-transient running', async () => (await page.locator('tr[data-domain="lab-transient"]').count()) === 1 && (await stateOf('lab-transient')) === 'running');
if (outside) assert.equal(tpvirtJson('info', 'lab-transient').persistent, false);
await click('lab-transient', 'destroy');
await until('lab-transient gone', async () => (await page.locator('tr[data-domain="lab-transient"]').count()) === 0);

// Disks (DISKS: a directory with base.qcow2): a qcow2 overlay + import,
// a hot backup while it runs, and a linked clone once it is off; the files
// made are read back with tpvirt's own qcow2 reader.
if (process.env.DISKS) {
  const dir = process.env.DISKS;
  const ov = page.locator('#newdomain');
  await ov.locator('input[placeholder="base image"]').fill(`${dir}/base.qcow2`);
  await ov.locator('input[placeholder="new overlay file"]').fill(`${dir}/lab-ov.qcow2`);
  await ov.locator('input[placeholder="domain name"]').fill('lab-ov');
  await ov.locator('button[data-submit="Overlay + import"]').click();
  await until('lab-ov imported', async () => (await page.locator('tr[data-domain="lab-ov"]').count()) === 1);
  const chain = JSON.parse(execFileSync(process.env.TPVIRT, ['--json', 'disk', 'info', `${dir}/lab-ov.qcow2`], { encoding: 'utf8' }));
  assert.deepEqual(chain.map((c) => c.filename), [`${dir}/lab-ov.qcow2`, `${dir}/base.qcow2`]);
  await click('lab-ov', 'start');
  await until('lab-ov running', async () => (await stateOf('lab-ov')) === 'running');
  await row('lab-ov').locator('td.name').click();
  await page.locator('.panel.detail input[placeholder="backup directory"]').fill(`${dir}/backup`);
  await submit('Hot backup');
  await until('the backup result', async () => /backup lab-ov: done .*frozen_ms/.test(await lastResult()));
  const saved = JSON.parse(execFileSync(process.env.TPVIRT, ['--json', 'disk', 'info', ...readdirSync(`${dir}/backup`).map((f) => `${dir}/backup/${f}`)], { encoding: 'utf8' }));
  assert.equal(saved[0].format, 'qcow2');
  assert.equal(saved[0]['backing-filename'], `${dir}/base.qcow2`, 'the copy keeps the overlay\'s backing file');
  await click('lab-ov', 'destroy');
  await until('lab-ov off', async () => (await stateOf('lab-ov')) === 'shut off');
  await fill('clone name (auto)', 'lab-ov-linked');
  await page.locator('.panel.detail input[name="linked"]').check();
  await submit('Clone');
  await until('the linked clone', async () => (await page.locator('tr[data-domain="lab-ov-linked"]').count()) === 1);
  const linked = readdirSync(dir).find((f) => f.startsWith('lab-ov-linked'));
  assert.ok(linked, `a linked clone's overlay in ${dir}: ${readdirSync(dir)}`);
  const lchain = JSON.parse(execFileSync(process.env.TPVIRT, ['--json', 'disk', 'info', `${dir}/${linked}`], { encoding: 'utf8' }));
  assert.equal(lchain[1].filename, `${dir}/lab-ov.qcow2`, 'the linked clone sits on the original disk');
  log(`disks: overlay ${dir}/lab-ov.qcow2 on base.qcow2, hot backup ${saved[0].filename}, linked clone ${linked} on the overlay`);
}

// A hostile domain name is text, never markup.
const evil = '<img src=x onerror=alert(1)>';
await page.locator('[data-testid="new-xml"]').fill(xml('&lt;img src=x onerror=alert(1)&gt;'));
await page.locator('button[data-submit="define"]').click();
await until('the hostile name listed', async () => (await page.locator('td.name').allTextContents()).includes(evil));
assert.equal(await page.locator('main img').count(), 0, 'no <img> element was made from a name');
await shot(page, 'console-hostile-name');

assert.deepEqual(problems, [], 'console errors, unexpected dialogs or off-origin requests');
await close();
log('machines: every action checked' + (outside ? ' in the page and with tpvirt' : ' in the page (no shared daemon: tpvirt read-back skipped)'));
