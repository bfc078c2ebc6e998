// The softphone in the real window: a SIP account added in Settings registers with a
// kamailio this file starts; the agent dials a customer (baresip, auto-answer) from the
// Calls section, talks, hangs up, and the call shows in the history from the cloud; the
// customer calls back, the call panel rings, Answer takes it. Sound goes through the
// PulseAudio null sinks the harness started (PULSE_SERVER).
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { ARTIFACTS, goTo, openApp, screenshot, startDunst } from './lib.mjs'

const BIN = process.env.CLOUD_BIN
const PEERS = path.resolve(import.meta.dirname, '../../crates/upzento-voice/tests/peers')
const AGENT = '14155552671'
const CUSTOMER = '14155552672'

let browser
let cloud
let kamailio
let baresip
let base
let sipPort
let ctrlPort
let work
let dunst

function freePort() {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

async function until(what, check, timeout = 15000) {
  const end = Date.now() + timeout
  let lastError = null
  while (Date.now() < end) {
    try {
      if (await check()) return
      lastError = null
    } catch (err) {
      // An element can go stale between finding and reading it while the UI
      // changes (the call panel leaving): look again. Kept for the report.
      lastError = err
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  // What the window showed, for the failure report.
  let shown = ''
  if (browser) {
    await screenshot(browser, `phone-timeout-${what.replace(/[^a-z]+/gi, '-')}`).catch(() => {})
    shown = await browser.execute(() => document.querySelector('main')?.innerText ?? '').catch(() => '')
  }
  const why = lastError ? `\n--- the last check failed with: ${lastError.message}` : ''
  throw new Error(`timed out: ${what}${why}\n--- the window showed:\n${shown}`)
}

function kamailioModules() {
  for (const dir of readdirSync('/usr/lib')) {
    const p = path.join('/usr/lib', dir, 'kamailio/modules')
    if (existsSync(p)) return p
  }
  throw new Error('kamailio modules not found')
}

async function startKamailio() {
  sipPort = await freePort()
  const cfg = readFileSync(path.join(PEERS, 'kamailio.cfg'), 'utf8')
    .replaceAll('@PORT@', String(sipPort))
    .replaceAll('@WS_PORT@', String(await freePort()))
    .replaceAll('@MPATH@', kamailioModules())
  const dir = path.join(work, 'kamailio')
  mkdirSync(dir)
  writeFileSync(path.join(dir, 'kamailio.cfg'), cfg)
  kamailio = spawn('kamailio', ['-DD', '-E', '-A', 'WITH_WS', '-f', path.join(dir, 'kamailio.cfg'), '-Y', dir], {
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let log = ''
  kamailio.stderr.on('data', (d) => (log += d))
  await until('kamailio listening', () => new Promise((resolve) => {
    const s = net.connect(sipPort, '127.0.0.1', () => { s.destroy(); resolve(true) })
    s.on('error', () => resolve(false))
  }), 10000).catch((e) => { throw new Error(`${e.message}\n${log}`) })
}

async function startBaresip() {
  const dir = path.join(work, 'baresip')
  mkdirSync(path.join(dir, 'rec'), { recursive: true })
  ctrlPort = await freePort()
  const rtp = 30000 + Math.floor(Math.random() * 20000)
  const config = readFileSync(path.join(PEERS, 'baresip.config'), 'utf8')
    .replaceAll('@SIP_PORT@', String(await freePort()))
    .replaceAll('@CTRL_PORT@', String(ctrlPort))
    .replaceAll('@RTP_FIRST@', String(rtp))
    .replaceAll('@RTP_LAST@', String(rtp + 19))
    .replaceAll('@TONE@', '1000')
    .replaceAll('@REC@', path.join(dir, 'rec'))
  writeFileSync(path.join(dir, 'config'), config)
  writeFileSync(
    path.join(dir, 'accounts'),
    `<sip:${CUSTOMER}@127.0.0.1:${sipPort}>;auth_pass=${CUSTOMER}pw;answermode=auto;regint=300;audio_codecs=PCMU,PCMA\n`,
  )
  writeFileSync(path.join(dir, 'contacts'), '')
  baresip = spawn('baresip', ['-f', dir], { stdio: ['ignore', 'pipe', 'pipe'] })
  let log = ''
  baresip.stdout.on('data', (d) => (log += d))
  baresip.stderr.on('data', (d) => (log += d))
  baresip.log = () => log
  await until('the customer registered', () => log.includes('200 OK'), 10000)
}

/** A command to baresip's ctrl_tcp (netstring-framed JSON). */
function command(cmd, params) {
  return new Promise((resolve) => {
    const body = JSON.stringify({ command: cmd, params, token: 't' })
    const s = net.connect(ctrlPort, '127.0.0.1', () => s.write(`${Buffer.byteLength(body)}:${body},`))
    s.on('data', () => { s.destroy(); resolve() })
    s.on('error', () => resolve())
    setTimeout(() => { s.destroy(); resolve() }, 2000)
  })
}

async function token(email, password) {
  const r = await fetch(`${base}/phone-sms/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password }),
  })
  return (await r.json()).token
}

const agentToken = () => token('agent@demo.upzento.test', 'demo-agent-password')

async function text(selector) {
  const el = await browser.$(selector)
  return (await el.isExisting()) ? el.getText() : ''
}

before(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'upzento-e2e-phone-'))
  const port = await freePort()
  base = `http://127.0.0.1:${port}`
  cloud = spawn(BIN, ['serve', '--listen', `127.0.0.1:${port}`, '--data-dir', path.join(work, 'cloud'), '--demo'], { stdio: 'ignore' })
  await until('the cloud', async () => {
    try {
      return (await fetch(`${base}/healthz`)).ok
    } catch {
      return false
    }
  })
  await startKamailio()
  await startBaresip()
  dunst = await startDunst(work)
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
})

after(async () => {
  try {
    await goTo(browser, 'settings')
    await (await browser.$('#sign-out')).click()
  } catch {}
  await browser?.deleteSession()
  for (const p of [baresip, kamailio, cloud]) {
    if (p && p.exitCode === null) {
      p.kill('SIGTERM')
      await new Promise((r) => { p.once('exit', r); setTimeout(r, 3000) })
    }
  }
  await dunst?.stop()
  if (baresip) writeFileSync(path.join(ARTIFACTS, 'phone-baresip.log'), baresip.log())
})

test('a SIP account added in Settings registers, and a wrong password says why', async () => {
  await goTo(browser, 'settings')
  await (await browser.$('#sip-add')).click()
  await (await browser.$('#sip-registrar')).addValue(`127.0.0.1:${sipPort}`)
  await (await browser.$('#sip-user')).addValue(AGENT)
  await (await browser.$('#sip-password')).addValue('not-the-password')
  await (await browser.$('#sip-caller-id')).addValue('+1 415 555 2671')
  await (await browser.$('button=Save account')).click()
  await until('failing', async () => /Failing: Wrong user name or password/.test(await text('[data-testid="sip-state"]')))
  await (await browser.$('button*=Edit')).click()
  await (await browser.$('#sip-password')).addValue(`${AGENT}pw`)
  await (await browser.$('button=Save account')).click()
  await until('registered', async () => (await text('[data-testid="sip-state"]')) === 'Registered')
  // The sound devices of the PulseAudio the harness runs, by their names.
  const outputs = await browser.execute(() =>
    [...document.querySelectorAll('.devices select')].map((s) => [...s.options].map((o) => o.textContent)),
  )
  assert.ok(outputs[1].includes('TestSpeaker'), JSON.stringify(outputs))
  assert.ok(outputs[0].includes('TestMic'), JSON.stringify(outputs))
  // The microphone test shows a live level from the core.
  await (await browser.$('#mic-test')).click()
  await until('a level', async () => {
    const meter = await browser.$('[data-testid="level-meter"]')
    return (await meter.isExisting()) && /^-?\d+$/.test((await meter.getAttribute('data-db')) ?? '')
  }, 5000)
  await screenshot(browser, 'phone-settings')
})

test('the agent dials a customer, talks, hangs up, and the call is in the history', async () => {
  await goTo(browser, 'calls')
  const dial = await browser.$('#dial-number')
  await dial.waitForDisplayed({ timeout: 5000 })
  await dial.addValue('+14155552672')
  assert.equal(await dial.getValue(), '+1 415 555 2672', 'the number is grouped as typed')
  await (await browser.$('form[aria-label="Dialer"] button[type="submit"]')).click()
  await until('connected', async () => (await text('[data-testid="call-state"]')) === 'Connected')
  await until('the timer runs', async () => /^0:0[1-9]$/.test(await text('[data-testid="call-timer"]')))
  await until('the line is rated', async () => /MOS [0-9.]+/.test(await text('[data-testid="call-quality"]')), 10000)
  await until('the microphone level shows', async () => {
    const meter = await browser.$('[data-testid="call-panel"] [data-testid="level-meter"]')
    return (await meter.isExisting()) && /^-?\d+$/.test((await meter.getAttribute('data-db')) ?? '')
  }, 5000)
  await screenshot(browser, 'phone-in-call')
  await (await browser.$('button=Mute')).click()
  await until('muted', async () => (await (await browser.$('button=Unmute')).isExisting()))
  await (await browser.$('button=Hang up')).click()
  await until('ended', async () => (await text('[data-testid="call-state"]')) === 'Call ended')
  // After-call work: the wrap-up card asks for the outcome, tags, a note, a follow-up.
  const card = await browser.$('[data-testid="wrap-up"]')
  await card.waitForDisplayed({ timeout: 10000, timeoutMsg: 'no wrap-up card after the call' })
  assert.match(await card.getText(), /Wrap up: \+1 415 555 2672/)
  assert.equal(await (await browser.$('[data-testid="wrap-up-timer"]')).isExisting(), false, 'the demo tenant sets no wrap-up time')
  await (await card.$('label=Sale')).click()
  await (await card.$('input[id^="wrap-tags-"]')).setValue('vip, renewal')
  await (await card.$('textarea')).setValue('Wants the yearly plan')
  await (await card.$('label*=Follow up later')).click()
  await (await card.$('input[placeholder="e.g. Send the quote"]')).setValue('Send the quote')
  await screenshot(browser, 'phone-wrap-up')
  await (await card.$('button=Save wrap-up')).click()
  await until('the card went', async () => !(await (await browser.$('[data-testid="wrap-up"]')).isExisting()))
  // The record reaches the cloud, and comes back through the sync into the history.
  const token = await agentToken()
  let ours = []
  await until('in the cloud', async () => {
    const calls = await (await fetch(`${base}/phone-sms/calls?limit=200`, { headers: { authorization: `Bearer ${token}` } })).json()
    ours = calls.items.filter((c) => c.sipCallId)
    return ours.length > 0
  }, 20000)
  assert.equal(ours.length, 1, 'one record for the call')
  assert.equal(ours[0].to, '+14155552672')
  assert.equal(ours[0].type, 'outgoing')
  assert.equal(ours[0].status, 'completed')
  // Its wrap-up follows it, with the note on its timeline and the follow-up as a task.
  const headers = { authorization: `Bearer ${token}` }
  const { items: outcomes } = await (await fetch(`${base}/phone-sms/dispositions`, { headers })).json()
  const sale = outcomes.find((d) => d.name === 'Sale')
  await until('the wrap-up in the cloud', async () => {
    const call = await (await fetch(`${base}/phone-sms/calls/${ours[0].id}`, { headers })).json()
    return call.dispositionId === sale.id && call.tags.join() === 'vip,renewal'
  }, 20000)
  const wrapNotes = await (await fetch(`${base}/phone-sms/calls/${ours[0].id}/notes`, { headers })).json()
  assert.deepEqual(wrapNotes.items.map((n) => n.text), ['Wants the yearly plan'])
  const row = await browser.$(`[data-call="${ours[0].id}"]`)
  await row.waitForExist({ timeout: 20000, timeoutMsg: 'the call is not in the history' })
  assert.match(await browser.execute((el) => el.textContent, row), /Answered/)
  await row.click()
  await until('the outcome in the call detail', async () => (await text('[data-testid="call-outcome"]')) === 'Sale')
  const pills = await browser.execute(() => [...document.querySelectorAll('[data-testid="call-tags"] .pill')].map((p) => p.textContent))
  assert.deepEqual(pills, ['vip', 'renewal'])
  // Follow-up from the history: notes and an assignee, saved in the cloud.
  const notes = await browser.$('#call-notes')
  await notes.waitForExist({ timeout: 10000 })
  await notes.setValue('Customer wants a quote by Friday')
  await (await browser.$('button=Add note')).click()
  await until('the note is on the timeline', async () => /Customer wants a quote by Friday/.test(await text('[data-testid="call-notes"]')))
  assert.match(await text('[data-testid="call-notes"]'), /You ·/)
  await (await browser.$('#call-assignee')).selectByIndex(1)
  await until('note and assignee in the cloud', async () => {
    const headers = { authorization: `Bearer ${token}` }
    const call = await (await fetch(`${base}/phone-sms/calls/${ours[0].id}`, { headers })).json()
    const notes = await (await fetch(`${base}/phone-sms/calls/${ours[0].id}/notes`, { headers })).json()
    return notes.items.some((n) => n.text === 'Customer wants a quote by Friday') && call.assignedTo != null
  }, 10000)
  // The follow-up waits on the Dashboard (due tomorrow at 9), and is ticked done there.
  await goTo(browser, 'dashboard')
  const task = await browser.$('[data-testid="follow-up"]')
  await task.waitForDisplayed({ timeout: 10000, timeoutMsg: 'no follow-up on the dashboard' })
  assert.match(await task.getText(), /Send the quote/)
  assert.match(await task.getText(), /Tomorrow/)
  assert.match(await text('[data-testid="follow-ups-count"]'), /1 to do/)
  await screenshot(browser, 'dashboard-follow-ups')
  await (await task.$('input[type="checkbox"]')).click()
  await until('done in the cloud', async () => {
    const tasks = await (await fetch(`${base}/phone-sms/tasks?assignee=me`, { headers })).json()
    return tasks.items.length === 1 && tasks.items[0].doneAt != null
  }, 10000)
  await until('shown done', async () => (await (await browser.$('[data-testid="follow-up"]')).getAttribute('data-done')) === 'true')
  // "Open the call" goes to the call it follows up.
  await (await (await browser.$('[data-testid="follow-up"]')).$('a=Open the call')).click()
  await until('the call opened', async () => (await text('[data-testid="call-outcome"]')) === 'Sale')
})

test('call back from a row of the history places the call', async () => {
  await goTo(browser, 'calls')
  const row = await browser.$('a[data-call] + .reach [data-testid="call-back"]')
  await row.waitForDisplayed({ timeout: 10000 })
  await row.click()
  await until('connected again', async () => (await text('[data-testid="call-state"]')) === 'Connected')
  await (await browser.$('button=Hang up')).click()
  await until('ended', async () => (await text('[data-testid="call-state"]')) === 'Call ended')
  // A wrap-up can be skipped.
  const card = await browser.$('[data-testid="wrap-up"]')
  await card.waitForDisplayed({ timeout: 10000 })
  await (await card.$('button=Skip')).click()
  await until('skipped', async () => !(await (await browser.$('[data-testid="wrap-up"]')).isExisting()))
})

test('a call from the customer rings in the call panel and Answer takes it', async () => {
  await until('the last call left the panel', async () => !(await (await browser.$('[data-testid="call"]')).isExisting()), 10000)
  // The tenant gives wrap-ups 10 seconds: the agent sees it once the sync brings it.
  const admin = await token('admin@demo.upzento.test', 'demo-admin-password')
  const set = await fetch(`${base}/phone-sms/settings`, {
    method: 'PATCH',
    headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
    body: JSON.stringify({ wrapUpSeconds: 10 }),
  })
  assert.equal(set.status, 200)
  await goTo(browser, 'settings')
  await until('the wrap-up time synced', async () => /Wrap-up time: 10 seconds/.test(await text('[data-testid="wrap-up-settings"]')))
  const controls = await browser.execute(() => document.querySelectorAll('[data-testid="wrap-up-settings"] button, [data-testid="wrap-up-settings"] select').length)
  assert.equal(controls, 0, 'agents get no admin controls')
  await command('dial', `sip:${AGENT}@127.0.0.1:${sipPort}`)
  await until('ringing', async () => (await text('[data-testid="call-state"]')) === 'Incoming call')
  assert.match((await text('[data-testid="call"]')).replace(/\D/g, ''), new RegExp(CUSTOMER))
  // The screen-pop: the line they called, and a new caller made a contact in one step.
  await until('the screen-pop', async () => (await text('[data-testid="caller-name"]')) === 'New caller')
  assert.notEqual(await text('[data-testid="caller-pop"] .line'), '')
  await (await browser.$('[data-testid="create-contact"]')).click()
  await (await browser.$('[data-testid="caller-pop"] input')).setValue('Carol Customer')
  await (await browser.$('[data-testid="caller-pop"] button[type="submit"]')).click()
  await until('the caller is a contact', async () => (await text('[data-testid="caller-name"]')) === 'Carol Customer')
  await screenshot(browser, 'phone-ringing')
  await (await browser.$('button=Answer')).click()
  await until('connected', async () => (await text('[data-testid="call-state"]')) === 'Connected')
  await command('hangup', '')
  await until('ended by the customer', async () => (await text('[data-testid="call-state"]')) === 'The other side hung up')
  // The wrap-up counts down, and is saved as it stands when the time is up.
  const card = await browser.$('[data-testid="wrap-up"]')
  await card.waitForDisplayed({ timeout: 10000 })
  await until('the countdown', async () => /^0:(0\d|10) left$/.test(await text('[data-testid="wrap-up-timer"]')))
  await (await card.$('textarea')).setValue('Asked about opening hours')
  await until('saved when the time was up', async () => !(await (await browser.$('[data-testid="wrap-up"]')).isExisting()), 20000)
  const agent = await agentToken()
  await until('the note in the cloud', async () => {
    const calls = await (await fetch(`${base}/phone-sms/calls?type=incoming&limit=200`, { headers: { authorization: `Bearer ${agent}` } })).json()
    const taken = calls.items.find((c) => c.sipCallId && c.status === 'completed')
    if (!taken?.wrappedUpAt) return false
    const notes = await (await fetch(`${base}/phone-sms/calls/${taken.id}/notes`, { headers: { authorization: `Bearer ${agent}` } })).json()
    return notes.items.some((n) => n.text === 'Asked about opening hours')
  }, 20000)
  await fetch(`${base}/phone-sms/settings`, {
    method: 'PATCH',
    headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
    body: JSON.stringify({ wrapUpSeconds: null }),
  })
})

test('a missed call is notified, and Call back on the notification places the call', async () => {
  await until('the last call left the panel', async () => !(await (await browser.$('[data-testid="call"]')).isExisting()), 10000)
  await command('dial', `sip:${AGENT}@127.0.0.1:${sipPort}`)
  await until('ringing', async () => (await text('[data-testid="call-state"]')) === 'Incoming call')
  // The customer gives up before anyone answers.
  await command('hangup', '')
  await until('the ring ended', async () => !(await (await browser.$('[data-testid="call"][data-state="incoming"]')).isExisting()), 10000)
  await until('the missed-call notification', async () => {
    dunst.pick('call-back')
    return /Call back/.test(dunst.menu())
  }, 10000)
  assert.match(dunst.menu(), /#Call back \(Missed call from/, dunst.menu())
  await until('calling back', async () => (await text('[data-testid="call-state"]')) === 'Connected', 20000)
  assert.match((await text('[data-testid="call"]')).replace(/\D/g, ''), new RegExp(CUSTOMER))
  await (await browser.$('button=Hang up')).click()
  const card = await browser.$('[data-testid="wrap-up"]')
  await card.waitForDisplayed({ timeout: 10000 })
  await (await card.$('button=Skip')).click()
  await until('skipped', async () => !(await (await browser.$('[data-testid="wrap-up"]')).isExisting()))
})

test('a tel: link opened elsewhere puts its number in the dialer of the running app', async () => {
  await until('the last call left the panel', async () => !(await (await browser.$('[data-testid="call"]')).isExisting()), 10000)
  await goTo(browser, 'settings')
  // The desktop starts the app again with the link; the running one takes it over.
  const second = spawn(process.env.APP, ['tel:%2B1-415-555-2672;phone-context=example.com'], { stdio: 'ignore' })
  const exited = await new Promise((resolve) => {
    second.once('exit', (code) => resolve(code))
    setTimeout(() => resolve('still running'), 15000)
  })
  assert.equal(exited, 0, 'the second launch hands over and exits')
  await until('the dialer has the number', async () => {
    const dial = await browser.$('#dial-number')
    return (await dial.isExisting()) && (await dial.getValue()) === '+1 415 555 2672'
  })
  assert.match(await browser.getUrl(), /#\/calls/)
  // A link never dials by itself.
  assert.equal(await (await browser.$('[data-testid="call"]')).isExisting(), false)
})
