// The real app window: every section, keyboard navigation, sign-in and sign-out with the keyring.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { spawnSync } from 'node:child_process'
import { readFileSync, readdirSync } from 'node:fs'
import path from 'node:path'
import { goTo, keyringEntries, openApp, screenshot } from './lib.mjs'

const SECTIONS = ['dashboard', 'inbox', 'calls', 'campaigns', 'numbers', 'settings']
let browser

before(async () => {
  browser = await openApp()
})
after(async () => {
  await browser?.deleteSession()
})

test('the window opens on the dashboard with a labelled navigation', async () => {
  assert.equal(await browser.getTitle(), 'Upzento Phone')
  const nav = await browser.$('nav[aria-label="Sections"]')
  assert.ok(await nav.isDisplayed())
  assert.equal(await browser.$('#section-title').getText(), 'Dashboard')
  assert.equal(await browser.$('#nav-dashboard').getAttribute('aria-current'), 'page')
})

test('every section can be visited and says what it will hold', async () => {
  for (const id of SECTIONS) {
    await goTo(browser, id)
    const title = await browser.$('#section-title').getText()
    assert.equal(title.toLowerCase(), id)
    const text = await browser.$('main').getText()
    assert.ok(text.length > title.length + 20, `section ${id} has no explanatory text`)
    await screenshot(browser, `section-${id}`)
  }
})

test('keyboard: Alt+digit switches sections and focus lands on the heading', async () => {
  await goTo(browser, 'dashboard')
  await browser.keys(['Alt', '3'])
  await browser.waitUntil(async () => (await browser.$('#section-title').getText()) === 'Calls', { timeout: 5000 })
  const focused = await browser.execute(() => document.activeElement?.id)
  assert.equal(focused, 'section-title')
})

test('every control has an accessible name', async () => {
  for (const id of SECTIONS) {
    await goTo(browser, id)
    const unnamed = await browser.execute(() =>
      [...document.querySelectorAll('a, button, input, select, textarea')]
        .filter((el) => {
          const label = el.getAttribute('aria-label') || el.labels?.[0]?.textContent || el.textContent || el.getAttribute('title')
          return !label || !label.trim()
        })
        .map((el) => el.outerHTML.slice(0, 80)),
    )
    assert.deepEqual(unnamed, [], `unnamed controls in ${id}`)
  }
})

test('a narrow window keeps every section reachable', async () => {
  const { width, height } = await browser.getWindowSize()
  await browser.setWindowSize(400, 700)
  try {
    await browser.waitUntil(async () => (await browser.execute(() => window.innerWidth)) <= 420, { timeout: 5000 })
    for (const id of SECTIONS) assert.ok(await browser.$(`#nav-${id}`).isDisplayed({ withinViewport: true }), `${id} hidden`)
    const overflow = await browser.execute(() => document.documentElement.scrollWidth > window.innerWidth + 1)
    // What sticks out, for the failure report.
    const wide = await browser.execute(() =>
      [...document.querySelectorAll('body *')]
        .filter((el) => el.getBoundingClientRect().right > window.innerWidth + 1)
        .slice(0, 5)
        .map((el) => `${el.tagName.toLowerCase()}.${el.className} ${Math.round(el.getBoundingClientRect().right)}px`),
    )
    assert.equal(overflow, false, `horizontal scrolling in a narrow window: ${wide.join(', ')}`)
    await screenshot(browser, 'narrow')
  } finally {
    await browser.setWindowSize(width, height)
  }
})

test('sign-in form validates before anything is sent', async () => {
  await goTo(browser, 'settings')
  await (await browser.$('#sign-in')).click()
  assert.match(await browser.$('#signin-cloudUrl-error').getText(), /address/)
  assert.equal(await browser.$('#signin-cloudUrl').getAttribute('aria-invalid'), 'true')
})

test('an unreachable cloud is reported with its code and nothing is stored', async () => {
  await goTo(browser, 'settings')
  await (await browser.$('#signin-cloudUrl')).setValue('http://127.0.0.1:9')
  await (await browser.$('#signin-email')).setValue('agent@demo.upzento.test')
  await (await browser.$('#signin-password')).setValue('whatever')
  await (await browser.$('#sign-in')).click()
  const error = await browser.$('#account-error')
  await error.waitForDisplayed({ timeout: 15000 })
  assert.equal(await error.getAttribute('data-code'), 'unreachable')
  assert.deepEqual(keyringEntries(), [])
})

const CLOUD = process.env.CLOUD_URL
/** Signed in: the keyring holds the cloud token and the local cache's key, nothing else. */
function assertSignedInKeyring() {
  const entries = keyringEntries().sort()
  assert.equal(entries.length, 2, entries.join(', '))
  assert.match(entries[0], new RegExp(`^cache-key:${CLOUD}/:`))
  assert.equal(entries[1], `cloud-token:${CLOUD}/`)
}

test('sign in and out of the demo cloud: the token is created in and deleted from the keyring', { skip: !CLOUD && 'no cloud in this run' }, async () => {
  await goTo(browser, 'settings')
  const url = await browser.$('#signin-cloudUrl')
  await url.clearValue()
  await url.setValue(CLOUD)
  const email = await browser.$('#signin-email')
  await email.clearValue()
  await email.setValue('agent@demo.upzento.test')
  const password = await browser.$('#signin-password')

  // Wrong password first: refused, nothing kept.
  await password.clearValue()
  await password.setValue('wrong-password')
  await (await browser.$('#sign-in')).click()
  await browser.waitUntil(async () => (await browser.$('#account-error').getAttribute('data-code')) === 'unauthorized', { timeout: 15000 })
  assert.deepEqual(keyringEntries(), [])

  await password.clearValue()
  await password.setValue('demo-agent-password')
  await (await browser.$('#sign-in')).click()
  const user = await browser.$('#account-user')
  await user.waitForDisplayed({ timeout: 15000 })
  assert.match(await user.getText(), /agent@demo\.upzento\.test/)
  assertSignedInKeyring()
  await screenshot(browser, 'signed-in')

  await (await browser.$('#sign-out')).click()
  await (await browser.$('#signin-cloudUrl')).waitForDisplayed({ timeout: 10000 })
  assert.deepEqual(keyringEntries(), [])
})

test('sign in with an API token, and sign-out revokes it on the cloud', { skip: !CLOUD && 'no cloud in this run' }, async () => {
  const post = async (path, body, token) =>
    (
      await fetch(`${CLOUD}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify(body),
      })
    ).json()
  const session = await post('/phone-sms/auth/token', { email: 'admin@demo.upzento.test', password: 'demo-admin-password' })
  const issued = await post('/phone-sms/auth/api-tokens', { label: 'e2e desk' }, session.token)
  assert.match(issued.token, /^uzt_/)

  await goTo(browser, 'settings')
  const url = await browser.$('#signin-cloudUrl')
  await url.clearValue()
  await url.setValue(CLOUD)
  await (await browser.$('#method-token')).click()
  await (await browser.$('#signin-token')).setValue(issued.token)
  await (await browser.$('#sign-in')).click()
  const user = await browser.$('#account-user')
  await user.waitForDisplayed({ timeout: 15000 })
  assert.match(await user.getText(), /admin@demo\.upzento\.test/)
  assert.match(await browser.$('#account-details').getText(), /API token/)
  assertSignedInKeyring()

  await (await browser.$('#sign-out')).click()
  await (await browser.$('#signin-cloudUrl')).waitForDisplayed({ timeout: 10000 })
  assert.deepEqual(keyringEntries(), [])
  const me = await fetch(`${CLOUD}/phone-sms/me`, { headers: { authorization: `Bearer ${issued.token}` } })
  assert.equal(me.status, 401, 'the signed-out token no longer works')
})

test('a second launch exits at once and focuses the running window', async () => {
  const second = spawnSync(process.env.APP, [], { timeout: 20000, encoding: 'utf8' })
  assert.equal(second.status, 0, `second instance did not exit cleanly: ${second.signal ?? ''} ${second.stderr}`)
  const logs = path.join(process.env.XDG_DATA_HOME, 'com.upzento.phone', 'logs')
  await browser.waitUntil(
    () => readdirSync(logs).some((f) => readFileSync(path.join(logs, f), 'utf8').includes('second launch: focusing the running instance')),
    { timeout: 5000, timeoutMsg: 'the running instance was not told about the second launch' },
  )
  assert.equal(await browser.$('#section-title').isDisplayed(), true)
})

test('window size is remembered across restarts', async () => {
  await browser.setWindowSize(900, 650)
  const saved = await browser.executeAsync((done) => {
    window.__TAURI_INTERNALS__.invoke('plugin:window-state|save_window_state', { flags: 63 }).then(
      () => done('ok'),
      (e) => done(String(e)),
    )
  })
  assert.equal(saved, 'ok')
  await browser.deleteSession()
  browser = undefined
  // Single instance: a launch while the old instance still holds its D-Bus name would just exit.
  const alive = () =>
    spawnSync('pgrep', ['-f', `^${process.env.APP}`]).status === 0 ||
    spawnSync('dbus-send', ['--session', '--print-reply', '--dest=org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus.ListNames'], {
      encoding: 'utf8',
    }).stdout.includes('com.upzento.phone.SingleInstance')
  for (let i = 0; i < 100 && alive(); i++) await new Promise((r) => setTimeout(r, 100))
  assert.equal(alive(), false, 'the app did not exit when its WebDriver session ended')
  browser = await openApp()
  const { width, height } = await browser.getWindowSize()
  assert.ok(Math.abs(width - 900) <= 2 && Math.abs(height - 650) <= 2, `restored ${width}x${height}, expected 900x650`)
})
