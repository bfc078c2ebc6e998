// The app on a desktop without any Secret Service: it says so and refuses to keep credentials.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { goTo, openApp, screenshot } from './lib.mjs'

let browser
before(async () => {
  browser = await openApp()
})
after(async () => {
  await browser?.deleteSession()
})

test('without a keyring the UI says so and sign-in is disabled', async () => {
  await goTo(browser, 'settings')
  const alert = await browser.$('#keyring-unavailable')
  await alert.waitForDisplayed({ timeout: 10000 })
  assert.match(await alert.getText(), /keyring/i)
  assert.equal(await browser.$('#sign-in').isEnabled(), false)
  await screenshot(browser, 'no-keyring')
})
