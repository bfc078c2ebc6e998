// What the app says about its connection must be true: at every launch of a signed-in app
// the status line reaches the real state and stays there (a late answer must never turn it
// back to "Not signed in"), and when the cloud dies and comes back it says so, as does the
// composer. Against a cloud this file starts, kills and restarts itself.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { TestCloud, goTo, openApp, screenshot, signIn } from './lib.mjs'

const LAUNCHES = Number(process.env.E2E_LAUNCHES ?? 20)
let cloud
let browser

const stateOf = async () => {
  const el = await browser.$('[data-testid="sync-state"]')
  return { state: await el.getAttribute('data-state'), label: await el.getText() }
}

/** The states the status line shows from now until it is `want` (polled every 50 ms). */
async function watchUntil(want, timeout) {
  const seen = []
  const end = Date.now() + timeout
  while (Date.now() < end) {
    const now = await stateOf()
    if (seen.at(-1)?.state !== now.state) seen.push(now)
    if (now.state === want) return seen
    await browser.pause(50)
  }
  throw new Error(`never ${want}; seen: ${JSON.stringify(seen)}`)
}

/** The states shown for `ms` more. */
async function watchFor(ms) {
  const seen = []
  const end = Date.now() + ms
  while (Date.now() < end) {
    const now = await stateOf()
    if (seen.at(-1)?.state !== now.state) seen.push(now)
    await browser.pause(50)
  }
  return seen
}

async function openFirstConversation() {
  await goTo(browser, 'inbox')
  const first = await browser.$('[data-conversation]')
  await first.waitForDisplayed({ timeout: 10000 })
  await first.click()
  await (await browser.$('textarea')).waitForDisplayed({ timeout: 5000 })
}

before(async () => {
  cloud = await TestCloud.start()
  browser = await openApp()
  await signIn(browser, cloud.url)
  await watchUntil('online', 20000)
  await browser.deleteSession()
  browser = null
})

after(async () => {
  try {
    if (!browser) browser = await openApp()
    await goTo(browser, 'settings')
    await (await browser.$('#sign-out')).click()
  } catch {}
  await browser?.deleteSession()
  await cloud?.kill()
})

test(`a signed-in app shows its real connection state at each of ${LAUNCHES} launches`, async () => {
  for (let launch = 1; launch <= LAUNCHES; launch++) {
    browser = await openApp()
    const seen = await watchUntil('online', 20000)
    seen.push(...(await watchFor(1500)))
    const wrong = seen.filter((s) => s.state !== 'syncing' && s.state !== 'online')
    assert.deepEqual(wrong, [], `launch ${launch}: the status line showed ${JSON.stringify(seen)}`)
    assert.equal((await stateOf()).label, 'Online', `launch ${launch}`)
    if (launch === LAUNCHES) {
      await openFirstConversation()
      assert.equal(await (await browser.$('[data-testid="composer-offline"]')).isExisting(), false)
      await screenshot(browser, 'launch-online')
    }
    await browser.deleteSession()
    browser = null
  }
})

test('when the cloud dies the app says offline, and online again when it is back', async () => {
  browser = await openApp()
  await watchUntil('online', 20000)
  await openFirstConversation()
  await cloud.kill()
  await watchUntil('offline', 30000)
  assert.match((await stateOf()).label, /^Offline/)
  await (await browser.$('[data-testid="composer-offline"]')).waitForDisplayed({ timeout: 5000 })
  await screenshot(browser, 'launch-cloud-down')
  await cloud.resume()
  // The app retries on its own (backoff of a few seconds); no click needed.
  const back = await watchUntil('online', 60000)
  assert.ok(back.every((s) => s.state !== 'idle'), JSON.stringify(back))
  await browser.waitUntil(async () => !(await (await browser.$('[data-testid="composer-offline"]')).isExisting()), {
    timeout: 5000,
    timeoutMsg: 'the composer still says offline',
  })
})
