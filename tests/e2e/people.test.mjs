// People in the real window: an admin invites an agent from Settings › Team (resends and
// revokes too), the agent joins through the invitation on the sign-in screen, gets the role
// and sees their sessions, appears to teammates with their presence, sees teammates'
// presence in the assignment picker, and goes away and back; her window holds only her
// scope of the work. Against a cloud of its own.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { after, before, test } from 'node:test'
import { TestCloud, freePort, goTo, openApp, screenshot, signIn } from './lib.mjs'

let cloud
let browser
let adminToken
// A real SMTP server (aiosmtpd) the cloud emails invitations through, into a Maildir.
let smtp
const maildir = mkdtempSync(path.join(os.tmpdir(), 'upzento-e2e-mail-'))
const mails = () => {
  try {
    return readdirSync(path.join(maildir, 'box', 'new')).map((f) => readFileSync(path.join(maildir, 'box', 'new', f), 'utf8'))
  } catch {
    return []
  }
}

async function api(method, path, body, token = adminToken) {
  const response = await fetch(`${cloud.url}${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await response.text()
  return { status: response.status, body: text ? JSON.parse(text) : null }
}

/** Polls `f` until it returns something truthy. */
async function until(f, what, timeout = 15000) {
  const end = Date.now() + timeout
  let last
  while (Date.now() < end) {
    last = await f()
    if (last) return last
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`never: ${what} (last: ${JSON.stringify(last)})`)
}

async function presenceOf(email) {
  const users = (await api('GET', '/phone-sms/users')).body
  const user = users.find((u) => u.email === email)
  const all = (await api('GET', '/phone-sms/presence')).body
  return all.find((p) => p.userId === user?.id)?.status
}

before(async () => {
  const port = await freePort()
  smtp = spawn('/usr/bin/python3', ['-m', 'aiosmtpd', '-n', '-l', `127.0.0.1:${port}`, '-c', 'aiosmtpd.handlers.Mailbox', path.join(maildir, 'box')], { stdio: 'ignore' })
  process.env.UPZENTO_SMTP_URL = `smtp://127.0.0.1:${port}`
  process.env.UPZENTO_MAIL_FROM = 'Upzento Phone <no-reply@demo.upzento.test>'
  cloud = await TestCloud.start()
  adminToken = (await api('POST', '/phone-sms/auth/token', { email: 'admin@demo.upzento.test', password: 'demo-admin-password' }, null)).body.token
  browser = await openApp()
})

after(async () => {
  await browser?.deleteSession()
  await cloud?.kill()
  smtp?.kill()
})

let code

test('an admin invites by email, resends and revokes in Settings › Team', async () => {
  await signIn(browser, cloud.url, 'admin@demo.upzento.test', 'demo-admin-password')
  const email = await browser.$('#invite-email')
  await email.waitForDisplayed({ timeout: 10000 })

  // One to revoke.
  await email.setValue('omar@acme.test')
  await (await browser.$('select[aria-label="Their role"]')).selectByVisibleText('Supervisor')
  await (await browser.$('button=Invite')).click()
  await (await browser.$('[data-testid="invitation-code"]')).waitForDisplayed({ timeout: 10000 })
  const omar = await browser.$('[data-testid="invitation"][data-email="omar@acme.test"]')
  await omar.waitForDisplayed({ timeout: 10000 })
  await (await browser.$('button[aria-label="Revoke the invitation to omar@acme.test"]')).click()
  await browser.waitUntil(async () => (await omar.getAttribute('data-status')) === 'revoked', { timeout: 10000, timeoutMsg: 'not revoked' })

  // The agent's: sent, then sent again (a new code; the first stops working).
  await email.setValue('nina@acme.test')
  await (await browser.$('select[aria-label="Their role"]')).selectByVisibleText('Agent')
  await (await browser.$('button=Invite')).click()
  const codeEl = await browser.$('[data-testid="invitation-code"]')
  await browser.waitUntil(async () => (await codeEl.getText()).length > 0 && (await (await browser.$('[data-testid="issued-invitation"]')).getText()).includes('nina@acme.test'), { timeout: 10000 })
  const first = await codeEl.getText()
  await (await browser.$('button[aria-label="Resend the invitation to nina@acme.test"]')).click()
  await browser.waitUntil(async () => (await codeEl.getText()) !== first, { timeout: 10000, timeoutMsg: 'no new code' })
  code = await codeEl.getText()
  assert.match(code, /^uzi_/)
  // The cloud emailed it, and the window says so.
  await (await browser.$('[data-testid="invitation-emailed"]')).waitForDisplayed({ timeout: 10000 })
  await until(() => mails().some((m) => m.includes(code) && m.includes('To: nina@acme.test')), 'the email with the new code')
  assert.equal((await api('POST', '/phone-sms/invitations/lookup', { code: first }, null)).status, 404, 'the first code stopped')
  const nina = await browser.$('[data-testid="invitation"][data-email="nina@acme.test"]')
  assert.equal(await nina.getAttribute('data-status'), 'pending')
  await screenshot(browser, 'people-invited')
})

test('the invited agent joins through the code on the sign-in screen', async () => {
  await goTo(browser, 'settings')
  await (await browser.$('#sign-out')).click()
  const url = await browser.$('#signin-cloudUrl')
  await url.waitForDisplayed({ timeout: 10000 })
  await url.clearValue()
  await url.setValue(cloud.url)
  await (await browser.$('#method-invitation')).click()
  // A wrong code says so where it was typed.
  const codeField = await browser.$('#signin-code')
  await codeField.setValue('uzi_wrong')
  await (await browser.$('#signin-name')).click()
  const preview = await browser.$('[data-testid="invitation-preview"]')
  await browser.waitUntil(async () => (await preview.getText()).includes('unknown'), { timeout: 10000, timeoutMsg: 'no refusal shown' })
  await codeField.clearValue()
  // The whole invitation pasted: the code is picked out of it.
  await codeField.setValue(`You are invited. Cloud address: ${cloud.url}/ Invitation code: ${code} (it works for a week).`)
  await (await browser.$('#signin-name')).click()
  await browser.waitUntil(async () => (await codeField.getValue()) === code, { timeout: 5000, timeoutMsg: 'the code was not picked out' })
  await browser.waitUntil(async () => (await preview.getText()).includes('as an agent'), { timeout: 10000, timeoutMsg: 'no preview' })
  assert.match(await preview.getText(), /Demo Dental Clinic.*nina@acme\.test/)

  await (await browser.$('#signin-name')).setValue('Nina Novak')
  await (await browser.$('#signin-newPassword')).setValue('a long enough secret')
  await (await browser.$('#signin-confirm')).setValue('a long enough secreT')
  await (await browser.$('#sign-in')).click()
  await (await browser.$('#signin-confirm-error')).waitForDisplayed({ timeout: 5000 })
  await (await browser.$('#signin-confirm')).clearValue()
  await (await browser.$('#signin-confirm')).setValue('a long enough secret')
  await (await browser.$('#sign-in')).click()
  const user = await browser.$('#account-user')
  await user.waitForDisplayed({ timeout: 15000 })
  assert.equal(await user.getText(), 'Nina Novak (nina@acme.test)')
  assert.match(await (await browser.$('#account-details')).getText(), /Role\s+Agent/)

  // Her sessions: this app, named after this computer.
  const session = await browser.$('[data-testid="session"][data-current="true"]')
  await session.waitForDisplayed({ timeout: 10000 })
  assert.match(await session.getText(), /Upzento Phone.*\(this app\)/)
  // An agent gets no invitation controls (absent, not failing).
  assert.equal(await (await browser.$('#invite-email')).isExisting(), false)
  const invitations = (await api('GET', '/phone-sms/invitations')).body
  assert.equal(invitations.find((i) => i.email === 'nina@acme.test').status, 'accepted')
  await screenshot(browser, 'people-joined')
})

test('she is present for teammates, sees theirs in the picker, and goes away and back', async () => {
  // The admin, on another device (their app here signed out, which made them offline),
  // says do not disturb.
  assert.equal((await api('PUT', '/phone-sms/me/presence', { status: 'dnd' })).status, 200)
  // The app tells the cloud she is available once it is online.
  await until(async () => (await presenceOf('nina@acme.test')) === 'available', 'Nina available on the cloud')
  const mine = await browser.$('[data-testid="my-presence"]')
  assert.equal(await mine.getAttribute('data-shown'), 'available')

  // The assignment picker names teammates with their presence.
  await goTo(browser, 'inbox')
  const first = await browser.$('[data-conversation]')
  await first.waitForDisplayed({ timeout: 15000 })
  await first.click()
  const picker = await browser.$('#assignee')
  await picker.waitForDisplayed({ timeout: 10000 })
  const options = await browser.execute(() => [...document.querySelectorAll('#assignee option')].map((o) => o.textContent.trim()))
  assert.ok(options.includes('Me (Nina Novak)'), JSON.stringify(options))
  assert.ok(options.some((o) => /Admin · Do not disturb$/.test(o)), JSON.stringify(options))

  // Away, chosen in the sidebar: the cloud and the team list say so; then back.
  await (await browser.$('select[aria-label="Your availability"]')).selectByVisibleText('Away')
  await until(async () => (await presenceOf('nina@acme.test')) === 'away', 'Nina away on the cloud')
  await browser.waitUntil(async () => (await mine.getAttribute('data-shown')) === 'away', { timeout: 5000 })
  await goTo(browser, 'settings')
  const me = await browser.$('[data-testid="member"][data-email="nina@acme.test"] [data-testid="member-presence"]')
  await me.waitForDisplayed({ timeout: 10000 })
  await browser.waitUntil(async () => (await me.getText()) === 'Away', { timeout: 10000, timeoutMsg: 'the team list does not say Away' })
  await screenshot(browser, 'people-away')
  await (await browser.$('select[aria-label="Your availability"]')).selectByVisibleText('Available')
  await until(async () => (await presenceOf('nina@acme.test')) === 'available', 'Nina back on the cloud')

  // A teammate's change reaches her list live, through the feed.
  assert.equal((await api('PUT', '/phone-sms/me/presence', { status: 'away' })).status, 200)
  const admin = await browser.$('[data-testid="member"][data-email="admin@demo.upzento.test"] [data-testid="member-presence"]')
  await browser.waitUntil(async () => (await admin.getText()) === 'Away', { timeout: 15000, timeoutMsg: "the admin's Away did not arrive" })
})

test('her inbox holds her work and unassigned work; handed away it leaves, handed to her it comes with its history', async () => {
  const users = (await api('GET', '/phone-sms/users')).body
  const id = (email) => users.find((u) => u.email === email).id
  const [nina, adminId, alex] = [id('nina@acme.test'), id('admin@demo.upzento.test'), id('agent@demo.upzento.test')]
  const all = (await api('GET', '/phone-sms/conversations?limit=200')).body.items
  const [free, alexs] = all.filter((c) => !c.assignedTo && !c.teamId)
  assert.ok(free && alexs, 'the demo has unassigned work')
  await goTo(browser, 'inbox')
  await (await browser.$('[data-filter="all"]')).click()
  const rows = () => browser.execute(() => [...document.querySelectorAll('[data-conversation]')].map((r) => r.getAttribute('data-conversation')))
  // Unassigned work is hers to see; given to Alex, it leaves her window.
  assert.equal((await api('POST', '/phone-sms/messages', { conversationId: alexs.id, message: 'Alex will take this' })).status, 201)
  await until(async () => (await rows())[0] === alexs.id, 'the unassigned conversation on top')
  assert.equal((await api('PATCH', `/phone-sms/conversations/${alexs.id}/assign`, { userId: alex })).status, 200)
  await until(async () => !(await rows()).includes(alexs.id), "Alex's conversation left her window")
  assert.equal((await api('POST', '/phone-sms/messages', { conversationId: free.id, message: 'For whoever is free' })).status, 201)
  await until(async () => (await rows())[0] === free.id, 'the other unassigned conversation on top')
  assert.ok(!(await rows()).includes(alexs.id), "Alex's work came back to her window")
  // Handed to the admin: it leaves her window.
  const assign = `/phone-sms/conversations/${free.id}/assign`
  assert.equal((await api('PATCH', assign, { userId: adminId })).status, 200)
  await until(async () => !(await rows()).includes(free.id), 'the conversation left her window')
  assert.equal((await api('POST', '/phone-sms/messages', { conversationId: free.id, message: 'Said while it was not hers' })).status, 201)
  // Handed to her: it comes back with what was said meanwhile.
  assert.equal((await api('PATCH', assign, { userId: nina })).status, 200)
  const row = await browser.$(`[data-conversation="${free.id}"]`)
  await row.waitForDisplayed({ timeout: 15000 })
  await row.click()
  await browser.waitUntil(
    async () => browser.execute(() => [...document.querySelectorAll('[data-testid="messages"] .msg .text')].some((t) => t.textContent === 'Said while it was not hers')),
    { timeout: 15000, timeoutMsg: 'the history of the handed-over conversation is not shown' },
  )
  await screenshot(browser, 'people-handed-over')
})

test('an admin makes a team of people, a conversation becomes the team\'s, the team goes', async () => {
  await signIn(browser, cloud.url, 'admin@demo.upzento.test', 'demo-admin-password')
  const name = await browser.$('#new-team')
  await name.waitForDisplayed({ timeout: 10000 })
  await name.setValue('Support')
  await (await browser.$('button=Create')).click()
  const team = await browser.$('[data-testid="team"][data-name="Support"]')
  await team.waitForDisplayed({ timeout: 10000 })
  await (await browser.$('button[aria-label="Edit the team Support"]')).click()
  const form = await browser.$('form[aria-label="Edit the team Support"]')
  await (await form.$('label*=Nina Novak')).click()
  await (await form.$('label*=Alex Agent')).click()
  await (await form.$('label*=Dana Admin')).click()
  await (await form.$('button=Save')).click()
  const people = await browser.$('[data-testid="team"][data-name="Support"] [data-testid="team-members"]')
  await browser.waitUntil(async () => (await people.getText()) === 'Alex Agent, Dana Admin, Nina Novak', { timeout: 10000, timeoutMsg: 'members not shown' })
  const teams = (await api('GET', '/phone-sms/teams')).body
  const support = teams.find((t) => t.name === 'Support')
  assert.equal(support.memberIds.length, 3)

  // A conversation given to the team, from its header.
  await goTo(browser, 'inbox')
  const first = await browser.$('[data-conversation]')
  await first.waitForDisplayed({ timeout: 15000 })
  await first.click()
  const conversationId = await first.getAttribute('data-conversation')
  const select = await browser.$('#conversation-team')
  await select.waitForDisplayed({ timeout: 10000 })
  await select.selectByVisibleText('Support')
  await until(async () => (await api('GET', `/phone-sms/conversations/${conversationId}`)).body.teamId === support.id, 'the conversation is the team\'s')
  // "My teams" lists the team's open work, and counts it.
  const mine = await browser.$('[data-filter="teams"]')
  await mine.waitForDisplayed({ timeout: 10000 })
  await mine.click()
  await browser.waitUntil(async () => {
    const rows = await browser.execute(() => [...document.querySelectorAll('[data-conversation]')].map((r) => r.getAttribute('data-conversation')))
    return rows.length === 1 && rows[0] === conversationId
  }, { timeout: 10000, timeoutMsg: 'My teams does not list the conversation' })
  assert.equal(await (await mine.$('[data-testid="filter-count"]')).getText(), '1')
  await screenshot(browser, 'people-team')
  await (await browser.$('[data-filter="all"]')).click()

  // Deleted (with a confirmation): the conversation stays, without a team.
  await goTo(browser, 'settings')
  await (await browser.$('button[aria-label="Delete the team Support"]')).click()
  await (await browser.$('button=Delete Support')).click()
  await team.waitForExist({ reverse: true, timeout: 10000 })
  await until(async () => (await api('GET', `/phone-sms/conversations/${conversationId}`)).body.teamId === null, 'the conversation left the team')
  await goTo(browser, 'inbox')
  await (await browser.$(`[data-conversation="${conversationId}"]`)).click()
  await browser.waitUntil(async () => !(await (await browser.$('#conversation-team')).isExisting()) || (await (await browser.$('#conversation-team')).getValue()) === '', { timeout: 10000, timeoutMsg: 'the header still names the team' })
})
