// An SMS from the provider to a desktop notification and back, in the real window:
// a signed Twilio webhook reaches the cloud, the app hears it live and shows a
// notification (dunst, started here), Reply opens the quick-reply window with the cursor
// in its text field, and the answer reaches the local Twilio-format server exactly as
// Twilio's Messages API expects it.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { spawn, spawnSync } from 'node:child_process'
import { createHmac } from 'node:crypto'
import { chmodSync, existsSync, mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { ARTIFACTS, goTo, openApp, screenshot, startDunst } from './lib.mjs'

const BIN = process.env.CLOUD_BIN
const SID = 'ACe2ee2ee2ee2ee2ee2ee2ee2ee2ee2e00'
const AUTH_TOKEN = 'e2e-twilio-auth-token'
const OURS = '+14155552671'
const MARIA = '+14155550101'

let browser
let cloud
let dunst
let monitor
let monitorLog = ''
let twilio
let base
let work
const sent = [] // requests the fake Twilio received

function freePort() {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

/** Twilio's Messages resource, as documented: form in, 201 with the message out. */
function startTwilio() {
  return new Promise((resolve) => {
    twilio = http.createServer((req, res) => {
      let body = ''
      req.on('data', (c) => (body += c))
      req.on('end', () => {
        const expected = `/2010-04-01/Accounts/${SID}/Messages.json`
        const auth = `Basic ${Buffer.from(`${SID}:${AUTH_TOKEN}`).toString('base64')}`
        if (req.method !== 'POST' || req.url !== expected || req.headers.authorization !== auth) {
          res.writeHead(401, { 'content-type': 'application/json' })
          res.end(JSON.stringify({ code: 20003, message: 'Authenticate', more_info: 'https://www.twilio.com/docs/errors/20003', status: 401 }))
          return
        }
        const form = [...new URLSearchParams(body)]
        sent.push({ contentType: req.headers['content-type'], form })
        const get = (k) => form.find(([n]) => n === k)?.[1] ?? null
        const sid = `SM${Date.now().toString(16)}${sent.length}`
        res.writeHead(201, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ account_sid: SID, api_version: '2010-04-01', body: get('Body'), direction: 'outbound-api', from: get('From'), to: get('To'), sid, status: 'queued', num_segments: '1', error_code: null, error_message: null }))
      })
    })
    twilio.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${twilio.address().port}`))
  })
}

/** The X-Twilio-Signature of a form POST to `url`. */
function twilioSignature(url, params) {
  const data = url + [...params].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => k + v).join('')
  return createHmac('sha1', AUTH_TOKEN).update(data).digest('base64')
}

async function inboundWebhook(from, text, messageSid) {
  const url = `${base}/phone-sms/webhooks/twilio/inbound`
  const params = [
    ['AccountSid', SID], ['ApiVersion', '2010-04-01'], ['Body', text], ['From', from], ['FromCountry', 'US'],
    ['MessageSid', messageSid], ['NumMedia', '0'], ['NumSegments', '1'], ['SmsMessageSid', messageSid],
    ['SmsSid', messageSid], ['SmsStatus', 'received'], ['To', OURS], ['ToCountry', 'US'],
  ]
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': twilioSignature(url, params) },
    body: new URLSearchParams(params).toString(),
  })
  assert.equal(response.status, 200, await response.text())
}

const dunstctl = (...args) => dunst.ctl(...args)

before(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'upzento-e2e-notify-'))
  dunst = await startDunst(work)
  monitor = spawn('dbus-monitor', ['--session', "interface='org.freedesktop.Notifications',member='Notify'"], { stdio: ['ignore', 'pipe', 'ignore'] })
  monitor.stdout.on('data', (chunk) => (monitorLog += chunk))

  const api = await startTwilio()
  const port = await freePort()
  base = `http://127.0.0.1:${port}`
  cloud = spawn(BIN, ['serve', '--listen', `127.0.0.1:${port}`, '--data-dir', path.join(work, 'cloud'), '--demo', '--provider', 'twilio', '--public-url', base], {
    stdio: ['ignore', 'ignore', openSync(path.join(ARTIFACTS, 'notify-cloud.log'), 'w')],
    env: { ...process.env, UPZENTO_LOG: 'info', TWILIO_ACCOUNT_SID: SID, TWILIO_AUTH_TOKEN: AUTH_TOKEN, TWILIO_API_URL: api },
  })
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`${base}/healthz`)).ok) break
    } catch {}
    await new Promise((r) => setTimeout(r, 50))
  }

  browser = await openApp()
  await goTo(browser, 'settings')
  if (await (await browser.$('#sign-out')).isExisting()) await (await browser.$('#sign-out')).click()
  const url = await browser.$('#signin-cloudUrl')
  await url.waitForDisplayed({ timeout: 10000 })
  await url.clearValue()
  await url.setValue(base)
  await (await browser.$('#method-password')).click()
  await (await browser.$('#signin-email')).setValue('agent@demo.upzento.test')
  await (await browser.$('#signin-password')).setValue('demo-agent-password')
  await (await browser.$('#sign-in')).click()
  await (await browser.$('#account-user')).waitForDisplayed({ timeout: 15000 })
  await goTo(browser, 'inbox')
  await browser.waitUntil(async () => (await (await browser.$('[data-testid="sync-state"]')).getAttribute('data-state')) === 'online', {
    timeout: 20000,
    timeoutMsg: 'never online',
  })
})

after(async () => {
  try {
    const main = (await browser.getWindowHandles())[0]
    await browser.switchToWindow(main)
    await goTo(browser, 'settings')
    await (await browser.$('#sign-out')).click()
  } catch {}
  await browser?.deleteSession()
  for (const p of [cloud, monitor]) if (p && p.exitCode === null) p.kill()
  await dunst?.stop()
  twilio?.close()
})

test('an inbound SMS is notified; Reply opens the quick reply, whose answer reaches Twilio as documented', async () => {
  const text = `Running late, can we make it 3:30? ${Date.now()}`
  await inboundWebhook(MARIA, text, `SM${Date.now()}e2e`)

  // The notification: shown by dunst, from Maria, with Open, Reply and Mark done.
  await browser.waitUntil(async () => Number(dunstctl('count', 'displayed')) >= 1, { timeout: 15000, timeoutMsg: 'no notification shown' })
  writeFileSync(path.join(work, 'pick'), 'reply')
  dunstctl('context')
  // dunst runs the menu on its own time.
  const menuLog = path.join(work, 'menu.log')
  await browser.waitUntil(async () => existsSync(menuLog) && readFileSync(menuLog, 'utf8').includes('Reply'), {
    timeout: 10000,
    timeoutMsg: 'dunst offered no menu',
  })
  const menu = readFileSync(menuLog, 'utf8')
  for (const action of ['Open', 'Reply', 'Mark done']) assert.match(menu, new RegExp(`#${action} \\(Maria Garcia\\)`), menu)
  // What the app asked the server to show: app name, summary, body, actions.
  const call = monitorLog.split('method call').find((c) => c.includes('member=Notify') && c.includes(text))
  assert.ok(call, monitorLog)
  const strings = [...call.matchAll(/string "((?:[^"\\]|\\.)*)"/g)].map((m) => m[1])
  assert.deepEqual(strings.slice(0, 4), ['Upzento Phone', 'mail-message-new', 'Maria Garcia', text])
  assert.deepEqual(strings.slice(4, 10), ['default', 'Open', 'reply', 'Reply', 'done', 'Mark done'])

  // Reply: the quick-reply window, with the cursor in its text field.
  const main = await browser.getWindowHandle()
  await browser.waitUntil(async () => (await browser.getWindowHandles()).length === 2, { timeout: 10000, timeoutMsg: 'no quick-reply window' })
  const quick = (await browser.getWindowHandles()).find((h) => h !== main)
  await browser.switchToWindow(quick)
  await (await browser.$('[data-testid="quick-reply"]')).waitForDisplayed({ timeout: 10000 })
  await browser.waitUntil(async () => (await browser.execute(() => document.activeElement?.id)) === 'quick-text', {
    timeout: 5000,
    timeoutMsg: 'the cursor is not in the reply field',
  })
  assert.match(await (await browser.$('#quick-title')).getText(), /Maria Garcia/)
  assert.match(await (await browser.$('.recent')).getText(), /Running late/)
  await screenshot(browser, 'quick-reply')
  const answer = 'No problem, see you at 3:30!'
  await (await browser.$('#quick-text')).addValue(answer)
  try {
    await browser.keys(['Enter'])
  } catch (e) {
    // Enter sends and closes the window before the driver releases the key.
    if (!/no such window/.test(String(e))) throw e
  }
  await browser.waitUntil(async () => (await browser.getWindowHandles()).length === 1, { timeout: 10000, timeoutMsg: 'the quick reply did not close' })
  await browser.switchToWindow(main)

  // Twilio receives the answer once, exactly as its Messages API expects.
  await browser.waitUntil(async () => sent.some((r) => r.form.some(([k, v]) => k === 'Body' && v === answer)), {
    timeout: 20000,
    timeoutMsg: `Twilio never received the answer; it got ${JSON.stringify(sent)}`,
  })
  const request = sent.filter((r) => r.form.some(([k, v]) => k === 'Body' && v === answer))
  assert.equal(request.length, 1)
  assert.equal(request[0].contentType, 'application/x-www-form-urlencoded')
  const form = request[0].form
  assert.deepEqual(form.map(([k]) => k), ['To', 'From', 'Body', 'StatusCallback'])
  assert.deepEqual(form.slice(0, 3), [['To', MARIA], ['From', OURS], ['Body', answer]])
  assert.match(form[3][1], new RegExp(`^${base}/phone-sms/webhooks/twilio/status\\?ref=`))
})

test('Mark done on a notification reads and closes the conversation for everyone', async () => {
  const text = `Thanks, all sorted! ${Date.now()}`
  const shownBefore = monitorLog.split('member=Notify').length
  await inboundWebhook(MARIA, text, `SM${Date.now()}done`)
  await browser.waitUntil(async () => monitorLog.split('member=Notify').length > shownBefore && monitorLog.includes(text), {
    timeout: 15000,
    timeoutMsg: 'no notification for the second message',
  })
  writeFileSync(path.join(work, 'pick'), 'done')
  dunstctl('context')
  const bearer = await (
    await fetch(`${base}/phone-sms/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'agent@demo.upzento.test', password: 'demo-agent-password' }),
    })
  ).json()
  const list = async () =>
    (await (await fetch(`${base}/phone-sms/conversations?limit=100`, { headers: { authorization: `Bearer ${bearer.token}` } })).json()).items
  await browser.waitUntil(
    async () => {
      const c = (await list()).find((c) => c.contactNumber === MARIA && c.ourNumber === OURS)
      return c && c.status === 'closed' && c.unreadCount === 0
    },
    { timeout: 15000, timeoutMsg: 'the conversation was not read and closed' },
  )
})
