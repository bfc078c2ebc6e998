// Campaigns in the real window: an admin builds a campaign in the wizard (a CSV file with a
// bad row, A/B variants, previews for real recipients), launches it and watches it run to
// the end against the sandbox carrier, and carries on a draft; keeps the do-not-contact list
// (adds, imports with a bad row, takes one off); an agent sees the campaigns and may add to
// the list, without the controls only admins have. Against a cloud of its own.
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, before, test } from 'node:test'
import { TestCloud, goTo, openApp, screenshot, signIn, startDunst } from './lib.mjs'

/** Types a text of several lines into a field (WebDriver drops newlines typed into it). */
async function fill(selector, text) {
  await browser.execute(
    (sel, value) => {
      const field = document.querySelector(sel)
      field.value = value
      field.dispatchEvent(new Event('input', { bubbles: true }))
    },
    selector,
    text,
  )
}

let cloud
let browser
let adminToken

/** The cloud's API as the demo admin (what a provider or another app would do meanwhile). */
async function api(method, path, body) {
  if (!adminToken) {
    const r = await fetch(`${cloud.url}/phone-sms/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'admin@demo.upzento.test', password: 'demo-admin-password' }),
    })
    adminToken = (await r.json()).token
  }
  const r = await fetch(`${cloud.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${adminToken}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  })
  const text = await r.text()
  assert.ok(r.ok, `${method} ${path}: ${r.status} ${text}`)
  return text ? JSON.parse(text) : null
}

let dunst

before(async () => {
  // The reply below is announced on the desktop: to a notification server of ours, stopped
  // at the end (one the bus started on demand would outlive the suite and hold the name the
  // notification tests need).
  dunst = await startDunst(mkdtempSync(path.join(os.tmpdir(), 'upzento-e2e-campaigns-')))
  cloud = await TestCloud.start()
  browser = await openApp()
})

after(async () => {
  await browser?.deleteSession()
  await cloud?.kill()
  await dunst?.stop()
})

const card = (name) => browser.$(`[data-testid="campaign"][data-name="${name}"]`)

/** Gives the file input `selector` a file of these bytes, as choosing it in a dialog would. */
async function chooseFile(selector, name, bytes) {
  await browser.execute(
    (sel, fileName, data) => {
      const input = document.querySelector(sel)
      const transfer = new DataTransfer()
      transfer.items.add(new File([new Uint8Array(data)], fileName, { type: 'text/csv' }))
      input.files = transfer.files
      input.dispatchEvent(new Event('change', { bubbles: true }))
    },
    selector,
    name,
    [...bytes],
  )
}

/** Waits for `selector`'s text to match, and says what it was when it does not. */
async function textMatches(selector, pattern, timeout = 15000) {
  const el = await browser.$(selector)
  let last = ''
  await browser
    .waitUntil(async () => {
      last = (await el.isExisting()) ? await el.getText() : ''
      return pattern.test(last)
    }, { timeout })
    .catch(async () => {
      await screenshot(browser, 'campaigns-wizard-stuck')
      const alert = await browser.$('section[aria-label="Campaign wizard"] .alert')
      assert.fail(`${selector}: "${last}" does not match ${pattern}${(await alert.isExisting()) ? `; the wizard says: ${await alert.getText()}` : ''}`)
    })
  return last
}

test('an admin builds a campaign in the wizard from a CSV file with A/B variants and watches it run', async () => {
  await signIn(browser, cloud.url, 'admin@demo.upzento.test', 'demo-admin-password')
  await goTo(browser, 'campaigns')
  await (await browser.$('button=New campaign')).click()
  // 1. Name and sender.
  const name = await browser.$('#wizard-name')
  await name.waitForDisplayed({ timeout: 10000 })
  await name.setValue('Spring checkups')
  await (await browser.$('button=Next: audience')).click()

  // 2. Audience: a Latin-1 file with a bad row and a repeated number, and a pasted number.
  await (await browser.$('#wizard-file')).waitForExist({ timeout: 10000 })
  const csv = Buffer.concat([
    Buffer.from('Name,Phone,Store city\nAna Ruiz,+1 415 555 0141,Oslo\nBad,12,x\n'),
    Buffer.from([0x4a, 0x6f, 0x73, 0xe9]), // "José" in Latin-1
    Buffer.from(',+14155550142,Bergen\nAna again,+14155550141,\n'),
  ])
  await chooseFile('#wizard-file', 'spring.csv', csv)
  const report = await textMatches('[data-testid="wizard-import"]', /spring\.csv \(windows-1252\): 2 recipients added, 1 duplicate row, 1 invalid row\.\s*Merge fields: fields\.storeCity/)
  assert.ok(report)
  const notTaken = await browser.execute(() =>
    [...document.querySelectorAll('table[aria-label="Rows of spring.csv not taken"] tbody tr')].map((tr) => [...tr.cells].map((td) => td.textContent)),
  )
  assert.equal(notTaken.length, 2, JSON.stringify(notTaken))
  assert.deepEqual(notTaken[0].slice(0, 2), ['3', '12'])
  assert.match(notTaken[0][2], /not a valid phone number/)
  assert.deepEqual(notTaken[1], ['5', '+14155550141', 'The same number as row 2.'])
  assert.ok(await (await browser.$('a=Download the rows not taken')).isExisting())
  await fill('#wizard-numbers', '+1 415 555 0143')
  await (await browser.$('#wizard-add')).click()
  await textMatches('[data-testid="audience-total"]', /^3$/)
  assert.equal(await (await browser.$('[data-testid="audience-reachable"]')).getText(), '3')
  await screenshot(browser, 'campaigns-wizard-audience')
  await (await browser.$('button=Next: message')).click()

  // 3. Message: a merge field from the file, then an A/B test of two texts.
  const message = await browser.$('#wizard-message')
  await message.waitForDisplayed({ timeout: 10000 })
  await message.setValue('Hi {{contact.firstName|there}}, checkups are open in ')
  await (await browser.$('button[aria-label="Insert fields.storeCity"]')).click()
  await textMatches('[data-testid="wizard-counter"]', /SMS · GSM-7/)
  await (await browser.$('button=Test variants (A/B)')).click()
  await (await browser.$('#wizard-variant-1')).waitForDisplayed({ timeout: 5000 })
  await fill('#wizard-variant-1', 'Hello {{contact.firstName|there}}! Book a checkup in {{fields.storeCity|town}}: reply YES.')
  // Previews are rendered for real recipients, from the file's own fields.
  await textMatches('[data-testid="wizard-preview"][data-which="first"]', /\+1 415[\s\S]*Ana[\s\S]*Oslo/)
  await screenshot(browser, 'campaigns-wizard-message')
  // "Test first" is saved with the text and said in the review; taken back here, as three
  // recipients make no test (the cloud's tests run one).
  await (await browser.$('#wizard-winner')).click()
  await (await browser.$('#wizard-sample')).waitForDisplayed({ timeout: 5000 })
  await fill('#wizard-wait', '2.5')
  await (await browser.$('button=Next: review')).click()
  await textMatches('[data-testid="review-winner-test"]', /^20% of the recipients get the variants; after 2\.5 hours the one with the best reply rate goes to the rest\.$/)
  await (await browser.$('button=Back')).click()
  await (await browser.$('#wizard-winner')).waitForDisplayed({ timeout: 5000 })
  assert.equal(await (await browser.$('#wizard-winner')).isSelected(), true, 'still chosen')
  await (await browser.$('#wizard-winner')).click()
  await (await browser.$('button=Next: review')).click()
  await (await browser.$('[data-testid="review-reachable"]')).waitForDisplayed({ timeout: 10000 })
  assert.equal(await (await browser.$('[data-testid="review-winner-test"]')).isExisting(), false)

  // 4. Review and launch.
  await textMatches('[data-testid="review-reachable"]', /^3 recipients will get it$/)
  assert.match(await (await browser.$('form[aria-label="Review and launch"]')).getText(), /A · 50%[\s\S]*B · 50%/)
  await screenshot(browser, 'campaigns-wizard-review')
  await (await browser.$('button=Launch')).click()
  await textMatches('[data-testid="campaign-created"]', /Spring checkups has started\./)

  // Live: the card runs to Finished, all delivered.
  const spring = await card('Spring checkups')
  await spring.waitForDisplayed({ timeout: 10000 })
  await browser.waitUntil(async () => (await spring.getAttribute('data-status')) === 'completed', { timeout: 30000, timeoutMsg: 'the campaign did not finish' })
  await browser.waitUntil(async () => (await (await spring.$('[data-testid="campaign-delivered"]')).getText()) === '100%', { timeout: 15000, timeoutMsg: 'not all delivered' })
  assert.equal(await (await spring.$('[data-testid="campaign-sent"]')).getText(), '3 of 3')
  assert.equal(await (await spring.$('[data-testid="campaign-status"]')).getText(), 'Finished')

  // Its analytics: figures, a chart (and the same as a table), the variants side by side.
  await (await browser.$('button[aria-label="Analytics of Spring checkups"]')).click()
  await textMatches('[data-testid="analytics-texted"]', /^3$/)
  await browser.waitUntil(async () => (await (await browser.$('[data-testid="analytics-chart"] canvas')).isExisting()) || (await (await browser.$('[data-testid="chart-error"]')).isExisting()), { timeout: 10000, timeoutMsg: 'no chart' })
  if (await (await browser.$('[data-testid="chart-error"]')).isExisting()) assert.fail(await (await browser.$('[data-testid="chart-error"]')).getText())
  const variants = await browser.execute(() =>
    [...document.querySelectorAll('[data-testid="analytics-variants"] tbody tr')].map((tr) => tr.getAttribute('data-key')),
  )
  assert.deepEqual(variants, ['A', 'B'])
  // A reply moves the figures, live.
  const sender = await api('GET', `/phone-sms/campaigns?limit=200`).then(async (page) => {
    const c = page.items.find((x) => x.name === 'Spring checkups')
    return (await api('GET', `/phone-sms/phone-numbers/${c.phoneNumberId}`)).number
  })
  await api('POST', '/phone-sms/sandbox/inbound', { to: sender, from: '+14155550141', body: 'Yes, Thursday please' })
  await textMatches('[data-testid="analytics-replied"]', /^33% \(1\)$/)
  await (await browser.$('button=Show as table')).click()
  const table = await browser.execute(() =>
    [...document.querySelectorAll('[data-testid="analytics-table"] tbody tr')].map((tr) => [...tr.cells].slice(1).map((td) => Number(td.textContent))),
  )
  const sums = table.reduce((s, r) => s.map((n, i) => n + r[i]), [0, 0, 0])
  assert.deepEqual(sums, [3, 3, 1], JSON.stringify(table))
  await screenshot(browser, 'campaigns-analytics')
  // The recipients with their outcome, saved as CSV in Downloads.
  await (await browser.$('button=Export recipients (CSV)')).click()
  const saved = await textMatches('[data-testid="analytics-exported"]', /^Saved 3 recipients to .*Downloads\/Spring-checkups-recipients\.csv$/)
  const file = readFileSync(saved.replace(/^Saved 3 recipients to /, ''), 'utf8')
  const lines = file.replace(/^\uFEFF/, '').trim().split(/\r?\n/)
  assert.match(lines[0], /^number,firstName,lastName,variant,status,.*,fields\.storeCity$/)
  assert.equal(lines.length, 4, file)
  assert.ok(lines.some((l) => l.startsWith('+14155550141,Ana,Ruiz,') && l.includes(',delivered,') && l.endsWith(',Oslo')), file)
  await (await browser.$('button[aria-label="Analytics of Spring checkups"]')).click()

  // A draft keeps what each step saved: closed after its first step, carried on later.
  await (await browser.$('button=New campaign')).click()
  await (await browser.$('#wizard-name')).setValue('Later')
  // From two of the tenant's numbers.
  await (await browser.$('#wizard-pooled')).click()
  const poolBoxes = await browser.$$('fieldset.pool input[type="checkbox"]')
  assert.ok(poolBoxes.length >= 2, `${poolBoxes.length} numbers to pool`)
  await poolBoxes[0].click()
  await poolBoxes[1].click()
  await (await browser.$('button=Next: audience')).click()
  await (await browser.$('#wizard-tags')).waitForDisplayed({ timeout: 10000 })
  await (await browser.$('button=Close (the draft is saved)')).click()
  const later = await card('Later')
  await later.waitForDisplayed({ timeout: 15000 })
  assert.equal(await later.getAttribute('data-status'), 'draft')
  await (await browser.$('button[aria-label="Continue Later"]')).click()
  const tags = await browser.$('#wizard-tags')
  await tags.waitForDisplayed({ timeout: 10000 })
  assert.equal(await (await browser.$('section[aria-label="Campaign wizard"] h2')).getText(), 'Later')
  await tags.setValue('patient')
  await (await browser.$('#wizard-add')).click()
  await textMatches('[data-testid="audience-total"]', /^[1-9]\d*$/)
  await (await browser.$('button=Next: message')).click()
  // A template gives the text a start, placeholders kept for each recipient.
  const picker = await browser.$('#wizard-template')
  await picker.waitForDisplayed({ timeout: 10000 })
  await picker.selectByIndex(1)
  await browser.waitUntil(async () => (await (await browser.$('#wizard-message')).getValue()).length > 0, { timeout: 5000, timeoutMsg: 'the template did not fill the text' })
  await (await browser.$('#wizard-message')).setValue('See you soon')
  await (await browser.$('button=Next: review')).click()
  await (await browser.$('button=Launch')).waitForDisplayed({ timeout: 10000 })
  await (await browser.$('button=Close (the draft is saved)')).click()
  // Carried on again, it opens at its review; launched for 10:00 of each recipient's own
  // day, which has passed for all of them (the test cloud's recipients are at midday):
  // they wait for tomorrow's.
  await (await browser.$('button[aria-label="Continue Later"]')).click()
  await (await browser.$('#wizard-when-local')).waitForDisplayed({ timeout: 10000 })
  await textMatches('[data-testid="review-pool"]', /^2 numbers: \+1 .*, \+1 /)
  await (await browser.$('#wizard-when-local')).click()
  await fill('#wizard-local', '10:00')
  await (await browser.$('button=Launch')).click()
  await textMatches('[data-testid="campaign-created"]', /^Later has started: each recipient gets it at 10:00 their time\.$/)
  await browser.waitUntil(async () => (await later.getAttribute('data-status')) === 'active', { timeout: 10000 })
  await textMatches('[data-testid="campaign"][data-name="Later"] [data-testid="campaign-held"]', /^[1-9]\d*$/)
  await (await browser.$('button[aria-label="Stop Later"]')).click()
  await browser.waitUntil(async () => (await later.getAttribute('data-status')) === 'completed', { timeout: 10000 })
  // Finished campaigns are one filter away.
  await (await browser.$('#campaign-filter')).selectByVisibleText('Finished')
  const shown = await browser.execute(() => [...document.querySelectorAll('[data-testid="campaign"]')].map((c) => c.getAttribute('data-status')))
  assert.ok(shown.length >= 1 && shown.every((s) => s === 'completed'), JSON.stringify(shown))
  await (await browser.$('#campaign-filter')).selectByVisibleText('All')
  await screenshot(browser, 'campaigns-list')

  // The campaign hours: the law's by default, narrowed by an admin, never widened.
  const hours = await browser.$('[data-testid="campaign-hours"]')
  assert.match(await hours.getText(), /between 08:00 and 21:00/)
  await (await browser.$('button=Change the hours')).click()
  await fill('#hours-start', '07:30')
  await (await browser.$('button=Save hours')).click()
  const refused = await browser.$('form[aria-label="Campaign hours"] ~ .alert')
  await refused.waitForDisplayed({ timeout: 10000 })
  assert.match(await refused.getText(), /08:00 to 21:00/)
  await fill('#hours-start', '09:00')
  await fill('#hours-end', '20:00')
  await (await browser.$('button=Save hours')).click()
  await browser.waitUntil(async () => /between 09:00 and 20:00/.test(await (await browser.$('[data-testid="campaign-hours"]')).getText()), { timeout: 10000, timeoutMsg: 'the hours did not change' })
})

test('the do-not-contact list: added by hand, imported with a bad row, taken off', async () => {
  await (await browser.$('#tab-dnc')).click()
  const number = await browser.$('#dnc-number')
  await number.waitForDisplayed({ timeout: 10000 })
  await number.setValue('+1 415 555 0188')
  await (await browser.$('#dnc-reason')).setValue('Asked on a call')
  await (await browser.$('button=Add')).click()
  const entry = await browser.$('[data-testid="dnc-entry"][data-number="+14155550188"]')
  await entry.waitForDisplayed({ timeout: 10000 })
  assert.match(await entry.getText(), /Added[\s\S]*Asked on a call/)

  await (await browser.$('summary=Import a list')).click()
  await fill('#dnc-import', 'number\n+1 415 555 0189\n415 555\n+14155550188')
  await (await browser.$('button=Import')).click()
  const report = await browser.$('[data-testid="dnc-imported"]')
  await report.waitForDisplayed({ timeout: 10000 })
  assert.match(await report.getText(), /1 added, 1 already listed, 1 not numbers/)
  assert.match(await (await browser.$('ul[aria-label="Rows not imported"]')).getText(), /Row 3: “415 555”/)
  await (await browser.$('[data-testid="dnc-entry"][data-number="+14155550189"]')).waitForDisplayed({ timeout: 10000 })
  await screenshot(browser, 'campaigns-do-not-contact')

  // Taking one off asks first.
  await (await browser.$('button[aria-label="Take +1 415 555 0189 off the list"]')).click()
  await (await browser.$('button=Text +1 415 555 0189 again')).click()
  await (await browser.$('[data-testid="dnc-entry"][data-number="+14155550189"]')).waitForExist({ reverse: true, timeout: 10000 })
})

test('an agent sees the campaigns and adds to the list, without the admins\' controls', async () => {
  await signIn(browser, cloud.url)
  await goTo(browser, 'campaigns')
  const spring = await card('Spring checkups')
  await spring.waitForDisplayed({ timeout: 15000 })
  assert.equal(await (await browser.$('button=New campaign')).isExisting(), false)
  assert.equal(await (await browser.$('button[aria-label^="Pause"]')).isExisting(), false)
  assert.equal(await (await browser.$('button[aria-label^="Stop"]')).isExisting(), false)
  await (await browser.$('#tab-dnc')).click()
  await (await browser.$('#dnc-number')).waitForDisplayed({ timeout: 10000 })
  assert.equal(await (await browser.$('summary=Import a list')).isExisting(), false)
  await (await browser.$('#tab-campaigns')).click()
  await (await browser.$('[data-testid="campaign-hours"]')).waitForDisplayed({ timeout: 10000 })
  assert.equal(await (await browser.$('button=Change the hours')).isExisting(), false)
  assert.equal(await (await browser.$('button[aria-label^="Take"]')).isExisting(), false)
})
