// The operators' console in a real browser: headless Chromium driven by Playwright.
//
//   node tests/browser/console.mjs <gateway url> <admin token> <screenshot dir>
//
// Run by tests/e2e/console.rs, which starts the gateway and the Zendesk simulator. When
// this script needs a ticket handled it prints `NEED_TICKET` and reads the ticket id
// from stdin (the Rust side creates the ticket, notifies the gateway and waits for the
// run). Exits non-zero on the first failed check; screenshots go to <screenshot dir>.

import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';

const [base, token, shots] = process.argv.slice(2);
if (!base || !token || !shots) {
  console.error('usage: node console.mjs <gateway url> <admin token> <screenshot dir>');
  process.exit(2);
}
fs.mkdirSync(shots, { recursive: true });

const lines = readline.createInterface({ input: process.stdin });
const pending = [];
lines.on('line', (l) => pending.shift()?.(l.trim()));
const ask = (what) => new Promise((resolve) => { pending.push(resolve); console.log(what); });

function check(ok, message) {
  if (!ok) throw new Error(`check failed: ${message}`);
  console.error(`ok: ${message}`);
}

const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'console-chromium-'));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  acceptDownloads: true,
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});
const origin = new URL(base).origin;
const violations = [];
const outside = [];
context.on('request', (r) => { if (!r.url().startsWith(origin)) outside.push(r.url()); });
const page = context.pages()[0] ?? await context.newPage();
page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) violations.push(m.text()); });
page.setDefaultTimeout(15000);
const shot = (name) => page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });

let failed = false;
try {
  // Sign in.
  await page.goto(`${base}/console/brands`);
  check(page.url().endsWith('/console/login'), 'not signed in: the sign-in page');
  await page.fill('input[name=token]', 'not-the-token');
  await page.click('button[type=submit]');
  await page.waitForSelector('p.flash.error');
  check((await page.textContent('p.flash.error')).includes('not the admin token'), 'a wrong token is refused');
  await page.fill('input[name=token]', token);
  await page.fill('input[name=operator]', 'Browser Test');
  await page.click('button[type=submit]');
  await page.waitForURL('**/console/brands');
  const cookies = await context.cookies(`${base}/console/brands`);
  const session = cookies.find((c) => c.name === 'zgw_console');
  check(session && session.httpOnly && session.sameSite === 'Strict', 'an HttpOnly, SameSite=Strict session cookie');
  check(await page.evaluate(() => document.cookie === ''), 'the page script cannot read the cookie');
  await shot('01-brands');

  // Switch the triage brand to Listening Mode; the next ticket is drafted, not sent.
  await page.click('tr[data-brand=triage] button:has-text("Listening")');
  await page.waitForURL('**/console/brands');
  check((await page.textContent('tr[data-brand=triage] td.now')).trim() === 'listening', 'triage is listening now');
  check((await page.textContent('tr[data-brand=triage]')).includes('override'), 'shown as an override');
  await shot('02-listening');
  const ticket = await ask('NEED_TICKET');
  await page.goto(`${base}/console/runs?ticket=${ticket}&refresh=off`);
  const row = page.locator(`#runs tr[data-ticket="${ticket}"]`).first();
  check((await row.textContent()).includes('listening'), `ticket ${ticket} ran in listening mode`);
  await row.locator('a:has-text("details")').click();
  const committed = await page.textContent('#committed');
  check(committed.includes('"public": false') && !committed.includes('"public": true'), 'the reply was drafted as an internal note, not sent');
  check((await page.getAttribute('#zendesk-link', 'href')).endsWith(`/agent/tickets/${ticket}`), 'a link to the ticket in Zendesk');
  await shot('03-run');
  await page.goto(`${base}/console/brands`);
  await page.click('tr[data-brand=triage] button:has-text("Back to the config")');
  await page.waitForURL('**/console/brands');
  check((await page.textContent('tr[data-brand=triage] td.now')).trim() === 'live', 'back to the config: live');

  // Release a quarantine.
  await page.goto(`${base}/console/plugins`);
  check((await page.textContent('tr[data-brand=broken] td.quarantine')).includes('quarantined'), 'the broken plugin is quarantined');
  await shot('04-quarantined');
  await page.click('tr[data-brand=broken] button:has-text("Release")');
  await page.waitForURL('**/console/plugins');
  check((await page.textContent('tr[data-brand=broken] td.quarantine')).trim() === 'no', 'released');
  check((await page.textContent('.flash')).includes('quarantine released'), 'the page says so');
  await shot('05-released');

  // The inbox and the report, with its CSV.
  await page.goto(`${base}/console/inbox`);
  check(await page.isVisible('#inbox-stats'), 'the inbox page');
  await page.goto(`${base}/console/report?since=1d`);
  check(await page.locator('svg.chart').count() >= 2, 'the report has charts');
  const total = await page.textContent('#report tr[data-brand=triage][data-day=total] td.resolved');
  check(/^\d+$/.test(total.trim()), `a resolved count for triage (${total.trim()})`);
  await shot('06-report');
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#csv')]);
  const csv = fs.readFileSync(await download.path(), 'utf8');
  check(csv.startsWith('brand,day,runs,resolved'), 'the CSV downloads with its header');
  check(csv.split(/\r?\n/).some((l) => l.startsWith('triage,')), 'the CSV has the triage rows');
  fs.writeFileSync(path.join(shots, 'report.csv'), csv);

  // Sign out.
  await page.click('header button:has-text("Sign out")');
  await page.waitForURL('**/console/login');
  await page.goto(`${base}/console/brands`);
  check(page.url().endsWith('/console/login'), 'signed out');

  check(violations.length === 0, `no Content-Security-Policy violations (${violations.join(' | ')})`);
  check(outside.length === 0, `nothing loaded from outside the gateway (${outside.join(', ')})`);
} catch (e) {
  failed = true;
  console.error(e.stack || String(e));
  await shot('failure').catch(() => {});
} finally {
  await context.close();
  lines.close();
  fs.rmSync(userDataDir, { recursive: true, force: true });
}
console.log(failed ? 'FAILED' : 'PASSED');
process.exit(failed ? 1 : 0);
