// Campaigns in the real window: an admin creates a campaign from pasted numbers, starts it
// and watches it run to the end against the sandbox carrier; keeps the do-not-contact list
// (adds, imports with a bad row, takes one off); an agent sees the campaigns and may add to
// the list, without the controls only admins have. Against a cloud of its own.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { TestCloud, goTo, openApp, screenshot, signIn } from './lib.mjs'

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

before(async () => {
  cloud = await TestCloud.start()
  browser = await openApp()
})

after(async () => {
  await browser?.deleteSession()
  await cloud?.kill()
})

const card = (name) => browser.$(`[data-testid="campaign"][data-name="${name}"]`)

test('an admin creates a campaign from pasted numbers and watches it run to the end', async () => {
  await signIn(browser, cloud.url, 'admin@demo.upzento.test', 'demo-admin-password')
  await goTo(browser, 'campaigns')
  await (await browser.$('button=New campaign')).click()
  const name = await browser.$('#campaign-name')
  await name.waitForDisplayed({ timeout: 10000 })
  await name.setValue('Spring checkups')
  await (await browser.$('#campaign-message')).setValue('Hi {{contact.firstName|there}}, spring checkups are open: reply YES to book.')
  // The counter follows the text as it is typed.
  await browser.waitUntil(async () => /SMS · GSM-7/.test(await (await browser.$('[data-testid="campaign-counter"]')).getText()), { timeout: 5000 })
  await fill('#campaign-numbers', '+1 415 555 0141\n+1 415 555 0142\n+14155550141')
  await (await browser.$('button=Create and start')).click()
  const created = await browser.$('[data-testid="campaign-created"]')
  await browser.waitUntil(async () => (await created.isDisplayed()) || (await (await browser.$('form[aria-label="New campaign"] .alert')).isExisting()), { timeout: 15000, timeoutMsg: 'no answer to the creation' })
  if (!(await created.isDisplayed())) {
    await screenshot(browser, 'campaigns-refused')
    assert.fail(await (await browser.$('form[aria-label="New campaign"] .alert')).getText())
  }
  assert.match(await created.getText(), /Spring checkups: 2 recipients, 1 already on the list; started/)

  // Live: the card runs to Finished, both delivered.
  const spring = await card('Spring checkups')
  await spring.waitForDisplayed({ timeout: 10000 })
  await browser.waitUntil(async () => (await spring.getAttribute('data-status')) === 'completed', { timeout: 30000, timeoutMsg: 'the campaign did not finish' })
  await browser.waitUntil(async () => (await (await spring.$('[data-testid="campaign-delivered"]')).getText()) === '100%', { timeout: 15000, timeoutMsg: 'not all delivered' })
  assert.equal(await (await spring.$('[data-testid="campaign-sent"]')).getText(), '2 of 2')
  assert.equal(await (await spring.$('[data-testid="campaign-status"]')).getText(), 'Finished')

  // A draft waits for its Start, and can be paused and stopped.
  await (await browser.$('button=New campaign')).click()
  await (await browser.$('#campaign-name')).setValue('Later')
  await (await browser.$('#campaign-message')).setValue('See you soon')
  await (await browser.$('#campaign-tags')).setValue('patient')
  await (await browser.$('#campaign-start')).click()
  await (await browser.$('button=Save as draft')).click()
  const later = await card('Later')
  await later.waitForDisplayed({ timeout: 15000 })
  assert.equal(await later.getAttribute('data-status'), 'draft')
  await (await browser.$('button[aria-label="Start Later"]')).click()
  await browser.waitUntil(async () => ['active', 'completed'].includes(await later.getAttribute('data-status')), { timeout: 10000 })
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
