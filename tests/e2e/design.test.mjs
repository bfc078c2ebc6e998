// One design system, readable in light and dark: every section (with real data from a cloud
// this file starts) is audited by axe-core in the page for WCAG 2 A/AA, colour contrast
// included, in both themes; and a narrow window goes list → detail instead of stacking panes.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { after, before, test } from 'node:test'
import { TestCloud, goTo, openApp, screenshot, signIn } from './lib.mjs'

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8')
const SECTIONS = ['dashboard', 'inbox', 'calls', 'campaigns', 'numbers', 'settings']
let cloud
let browser

/** axe-core's WCAG 2 A/AA violations in the page as it is now. */
async function audit() {
  // Evaluated through WebDriver, so the app's content security policy does not apply.
  await browser.execute(`if (!window.axe) { ${AXE} }`)
  return browser.executeAsync((done) => {
    window.axe
      .run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa'] }, resultTypes: ['violations'] })
      .then((r) =>
        done(
          r.violations.map((v) => ({
            rule: v.id,
            nodes: v.nodes.slice(0, 4).map((n) => `${n.target.join(' ')}: ${(n.failureSummary ?? '').replace(/\s+/g, ' ').slice(0, 160)}`),
          })),
        ),
      )
      .catch((e) => done([{ rule: 'axe failed', nodes: [String(e)] }]))
  })
}

async function setTheme(choice) {
  await goTo(browser, 'settings')
  await (await browser.$(`#theme-${choice}`)).click()
  await browser.waitUntil(async () => (await browser.execute(() => document.documentElement.dataset.theme)) === choice, {
    timeout: 5000,
    timeoutMsg: `the theme did not become ${choice}`,
  })
}

/** Shows a section the way an agent works in it: a conversation or a call open. */
async function show(section) {
  await goTo(browser, section)
  if (section === 'inbox' || section === 'calls') {
    const row = await browser.$(section === 'inbox' ? '[data-conversation]' : '[data-call]')
    await row.waitForDisplayed({ timeout: 10000 })
    await row.click()
    await (await browser.$(section === 'inbox' ? '#conversation-title' : '.pane .facts')).waitForDisplayed({ timeout: 10000 })
  }
}

before(async () => {
  cloud = await TestCloud.start()
  browser = await openApp()
  await signIn(browser, cloud.url)
})

after(async () => {
  try {
    await setTheme('light')
    await (await browser.$('#theme-system')).click()
    await goTo(browser, 'settings')
    await (await browser.$('#sign-out')).click()
  } catch {}
  await browser?.deleteSession()
  await cloud?.kill()
})

test('the audit finds what it looks for (a planted low-contrast line fails it)', async () => {
  await goTo(browser, 'dashboard')
  await browser.execute(() => {
    const p = document.createElement('p')
    p.id = 'planted'
    p.textContent = 'Hard to read'
    p.style.cssText = 'color:#777;background:#888'
    document.querySelector('main').append(p)
  })
  const found = await audit()
  await browser.execute(() => document.getElementById('planted').remove())
  assert.ok(
    found.some((v) => v.rule === 'color-contrast' && v.nodes.some((n) => n.includes('#planted'))),
    JSON.stringify(found),
  )
})

for (const theme of ['light', 'dark']) {
  test(`every section passes WCAG 2 AA (contrast included) in the ${theme} theme`, async () => {
    await setTheme(theme)
    const failures = []
    for (const section of SECTIONS) {
      await show(section)
      const violations = await audit()
      if (violations.length) failures.push({ section, violations })
      await screenshot(browser, `design-${theme}-${section}`)
    }
    assert.deepEqual(failures, [], JSON.stringify(failures, null, 1))
  })
}

test('a narrow window shows the list, then the chosen item with a way back', async () => {
  const size = await browser.getWindowSize()
  await browser.setWindowSize(600, 800)
  try {
    for (const section of ['inbox', 'calls']) {
      await goTo(browser, section)
      await browser.execute((s) => (location.hash = `#/${s}`), section)
      const list = await browser.$('section.list')
      await list.waitForDisplayed({ timeout: 5000 })
      assert.equal(await (await browser.$('section.pane')).isDisplayed(), false, `${section}: the detail pane is stacked under the list`)
      await (await browser.$(section === 'inbox' ? '[data-conversation]' : '[data-call]')).click()
      await (await browser.$('section.pane')).waitForDisplayed({ timeout: 5000 })
      assert.equal(await list.isDisplayed(), false, `${section}: the list stays beside the detail`)
      await screenshot(browser, `design-narrow-${section}`)
      await (await browser.$('[data-testid="back-to-list"]')).click()
      await list.waitForDisplayed({ timeout: 5000 })
    }
  } finally {
    await browser.setWindowSize(size.width, size.height)
  }
})

test("an admin's controls pass too: invitations, team management, teams, campaigns, in both themes", async () => {
  await signIn(browser, cloud.url, 'admin@demo.upzento.test', 'demo-admin-password')
  const failures = []
  for (const theme of ['light', 'dark']) {
    // The theme first (it is set in Settings), then what an admin has open there: an issued
    // invitation, the invitations list, the members' controls and a team being edited.
    await setTheme(theme)
    const email = await browser.$('#invite-email')
    await email.waitForDisplayed({ timeout: 10000 })
    await email.setValue(`new.${theme}@demo.upzento.test`)
    await (await browser.$('button=Invite')).click()
    await (await browser.$('[data-testid="invitation-code"]')).waitForDisplayed({ timeout: 10000 })
    if (!(await (await browser.$('[data-testid="team"][data-name="Front desk"]')).isExisting())) {
      await (await browser.$('#new-team')).setValue('Front desk')
      await (await browser.$('button=Create')).click()
      await (await browser.$('[data-testid="team"][data-name="Front desk"]')).waitForDisplayed({ timeout: 10000 })
    }
    await (await browser.$('button[aria-label="Edit the team Front desk"]')).click()
    await (await browser.$('form[aria-label="Edit the team Front desk"]')).waitForDisplayed({ timeout: 5000 })
    let violations = await audit()
    if (violations.length) failures.push({ theme, section: 'settings', violations })
    await screenshot(browser, `design-${theme}-admin-settings`)
    // A conversation, whose header now offers the team.
    await show('inbox')
    await (await browser.$('#conversation-team')).waitForDisplayed({ timeout: 10000 })
    violations = await audit()
    if (violations.length) failures.push({ theme, section: 'inbox', violations })
    // Campaigns: the wizard's steps (its audience with a report, its message as an A/B
    // test), then the do-not-contact list with its import.
    await show('campaigns')
    await (await browser.$('#tab-campaigns')).click()
    if (!(await (await browser.$('#wizard-name')).isExisting())) await (await browser.$('button=New campaign')).click()
    const wizardName = await browser.$('#wizard-name')
    await wizardName.waitForDisplayed({ timeout: 10000 })
    violations = await audit()
    if (violations.length) failures.push({ theme, section: 'campaign wizard: name', violations })
    await wizardName.setValue(`Design ${theme}`)
    await (await browser.$('button=Next: audience')).click()
    await (await browser.$('#wizard-tags')).waitForDisplayed({ timeout: 10000 })
    await (await browser.$('#wizard-tags')).setValue('patient')
    await (await browser.$('#wizard-add')).click()
    await browser.waitUntil(async () => /^[1-9]/.test(await (await browser.$('[data-testid="audience-total"]')).getText().catch(() => '')), { timeout: 10000, timeoutMsg: 'no audience report' })
    violations = await audit()
    if (violations.length) failures.push({ theme, section: 'campaign wizard: audience', violations })
    await (await browser.$('button=Next: message')).click()
    await (await browser.$('#wizard-message')).waitForDisplayed({ timeout: 10000 })
    await (await browser.$('#wizard-message')).setValue('Hi {{contact.firstName|there}}')
    await (await browser.$('button=Test variants (A/B)')).click()
    await (await browser.$('[data-testid="wizard-preview"]')).waitForDisplayed({ timeout: 10000 })
    violations = await audit()
    if (violations.length) failures.push({ theme, section: 'campaign wizard: message', violations })
    await screenshot(browser, `design-${theme}-admin-campaign-wizard`)
    // Its review, then launched; then its analytics with the chart and the variants.
    await (await browser.$('#wizard-variant-1')).setValue('Hello {{contact.firstName|there}}')
    await (await browser.$('button=Next: review')).click()
    const launch = await browser.$('button=Launch')
    await launch.waitForDisplayed({ timeout: 10000 })
    violations = await audit()
    if (violations.length) failures.push({ theme, section: 'campaign wizard: review', violations })
    await launch.click()
    const analyticsButton = await browser.$(`button[aria-label="Analytics of Design ${theme}"]`)
    await analyticsButton.waitForDisplayed({ timeout: 10000 })
    await analyticsButton.click()
    await (await browser.$('[data-testid="analytics-texted"]')).waitForDisplayed({ timeout: 10000 })
    await browser.waitUntil(async () => (await (await browser.$('[data-testid="analytics-chart"] canvas')).isExisting()) || (await (await browser.$('[data-testid="analytics-texted"]')).getText()) === '0', { timeout: 10000 })
    violations = await audit()
    if (violations.length) failures.push({ theme, section: 'campaign analytics', violations })
    await screenshot(browser, `design-${theme}-admin-campaign-analytics`)
    await analyticsButton.click()
    await (await browser.$('#tab-dnc')).click()
    await (await browser.$('#dnc-number')).waitForDisplayed({ timeout: 10000 })
    await (await browser.$('summary=Import a list')).click()
    violations = await audit()
    if (violations.length) failures.push({ theme, section: 'do-not-contact', violations })
    await screenshot(browser, `design-${theme}-admin-campaigns`)
  }
  assert.deepEqual(failures, [], JSON.stringify(failures, null, 1))
})
