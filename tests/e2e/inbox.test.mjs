// The Inbox, search and Calls in the real window, against a cloud this file starts and
// stops itself: browse, search, lose the cloud, keep browsing, write, get it delivered.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { spawnSync } from 'node:child_process'
import { TestCloud, goTo, openApp, screenshot, signIn } from './lib.mjs'

let browser
let cloud
let base

async function token() {
  const r = await fetch(`${base}/phone-sms/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: 'agent@demo.upzento.test', password: 'demo-agent-password' }),
  })
  return (await r.json()).token
}

async function api(pathname, bearer) {
  return (await fetch(`${base}${pathname}`, { headers: { authorization: `Bearer ${bearer}` } })).json()
}

const syncState = async () => (await browser.$('[data-testid="sync-state"]')).getAttribute('data-state')

before(async () => {
  cloud = await TestCloud.start()
  base = cloud.url
  browser = await openApp()
  await signIn(browser, base)
})

after(async () => {
  try {
    await goTo(browser, 'settings')
    await (await browser.$('#sign-out')).click()
  } catch {}
  await browser?.deleteSession()
  await cloud?.kill()
})

test('the inbox lists every conversation of the cloud, newest first, with unread counts', async () => {
  await goTo(browser, 'inbox')
  await browser.waitUntil(async () => (await syncState()) === 'online', { timeout: 20000, timeoutMsg: 'never online' })
  const server = await api('/phone-sms/conversations', await token())
  await browser.waitUntil(async () => (await browser.$$('[data-conversation]')).length === server.items.length, {
    timeout: 10000,
    timeoutMsg: 'the inbox does not show every conversation',
  })
  const shown = await browser.execute(() => [...document.querySelectorAll('[data-conversation]')].map((a) => a.dataset.conversation))
  assert.deepEqual(shown, server.items.map((c) => c.id))
  const badges = await browser.$$('.badge')
  assert.ok(badges.length > 0, 'unread counts are shown')
  await screenshot(browser, 'inbox')
})

test('each inbox filter shows its count, and the count is the length of its list', async () => {
  await goTo(browser, 'inbox')
  for (const f of ['open', 'closed', 'mine', 'all']) {
    await (await browser.$(`.filters [data-filter="${f}"]`)).click()
    await browser.waitUntil(
      async () => {
        const count = Number(await (await browser.$(`.filters [data-filter="${f}"] [data-testid="filter-count"]`)).getText())
        return count === (await browser.$$('[data-conversation]')).length
      },
      { timeout: 5000, timeoutMsg: `the ${f} count is not the length of its list` },
    )
  }
  const count = async (f) => Number(await (await browser.$(`.filters [data-filter="${f}"] [data-testid="filter-count"]`)).getText())
  assert.equal(await count('all'), (await count('open')) + (await count('closed')))
})

test('Ctrl+K searches messages and opens the conversation of a hit', async () => {
  await browser.keys(['Control', 'k'])
  const input = await browser.$('input[type="search"]')
  await input.waitForDisplayed({ timeout: 5000 })
  await input.setValue('daughter')
  const hit = await browser.$('.hit')
  await hit.waitForDisplayed({ timeout: 5000 })
  assert.equal(await (await hit.$('mark')).getText(), 'daughter')
  await screenshot(browser, 'search')
  await hit.click()
  const log = await browser.$('[data-testid="messages"]')
  await log.waitForDisplayed({ timeout: 5000 })
  assert.match(await log.getText(), /Can I bring my daughter too\?/)
  assert.match(await browser.getUrl(), /#\/inbox\//)
})

test('"/" in the composer picks a template, rendered for the contact, and its use is counted', async () => {
  const title = await (await browser.$('#conversation-title')).getText()
  const first = title.split(' ')[0]
  // The contact sidebar lists the latest calls with this number (from the cache); the
  // sidebar itself is hidden in a narrow window, which an earlier test may have left.
  const calls = await browser.execute(() => document.querySelector('[data-testid="recent-calls"]')?.textContent ?? '')
  assert.match(calls, /Incoming, completed/)
  const composer = await browser.$('#composer-text')
  await composer.setValue('/remi')
  const option = await browser.$('#template-picker [role="option"][aria-selected="true"]')
  await option.waitForDisplayed({ timeout: 5000 })
  assert.match(await option.getText(), /Appointment reminder/)
  assert.match(await option.getText(), new RegExp(`Hi ${first}, a reminder`))
  await screenshot(browser, 'template-picker')
  await browser.keys(['Enter'])
  await browser.waitUntil(async () => (await composer.getValue()).startsWith(`Hi ${first}, a reminder of your appointment`), {
    timeout: 5000,
    timeoutMsg: 'the template was not inserted',
  })
  assert.equal(await (await browser.$('#template-picker')).isExisting(), false)
  await browser.keys(['Enter'])
  const bearer = await token()
  const reminder = async () => (await api('/phone-sms/templates', bearer)).items.find((t) => t.name === 'Appointment reminder')
  await browser.waitUntil(async () => (await reminder()).usageCount === 1, { timeout: 15000, timeoutMsg: 'the use was not counted' })
})

test('a conversation is assigned to me, closed and reopened, and the filters follow', async () => {
  const conversation = (await browser.getUrl()).split('#/inbox/')[1]
  const filter = async (label) => {
    await (await browser.$(`button[role="radio"]=${label}`)).click()
  }
  const listed = () => browser.execute(() => [...document.querySelectorAll('[data-conversation]')].map((a) => a.dataset.conversation))
  await (await browser.$('#assignee')).selectByVisibleText('Me (Alex Agent)')
  await filter('Mine')
  await browser.waitUntil(async () => (await listed()).includes(conversation), { timeout: 10000, timeoutMsg: 'not in Mine' })
  await filter('All')
  await (await browser.$('#toggle-open')).click()
  const state = await browser.$('[data-testid="conversation-state"]')
  await browser.waitUntil(async () => (await state.getText()) === 'Closed', { timeout: 10000, timeoutMsg: 'never closed' })
  await filter('Closed')
  await browser.waitUntil(async () => (await listed()).includes(conversation), { timeout: 10000, timeoutMsg: 'not in Closed' })
  await screenshot(browser, 'closed')
  const cloud = await api(`/phone-sms/conversations/${conversation}`, await token())
  assert.equal(cloud.status, 'closed')
  assert.equal(cloud.assignedTo, (await api('/phone-sms/me', await token())).user.id)
  await (await browser.$('#toggle-open')).click()
  await browser.waitUntil(async () => (await state.getText()) === 'Open', { timeout: 10000, timeoutMsg: 'never reopened' })
  await filter('All')
})

test('offline, history stays readable; a reply waits and is delivered once the cloud is back', async () => {
  await cloud.kill()
  await browser.waitUntil(async () => (await syncState()) === 'offline', { timeout: 20000, timeoutMsg: 'never offline' })
  // Keep browsing: another conversation opens from the cache.
  const rows = await browser.$$('[data-conversation]')
  await rows[rows.length - 1].click()
  await browser.waitUntil(async () => (await browser.$$('[data-testid="messages"] .msg')).length > 0, { timeout: 5000 })
  const body = `On the train ${Date.now()}`
  const composer = await browser.$('#composer-text')
  await composer.setValue(body)
  await browser.keys(['Enter'])
  const stateOf = () =>
    browser.execute((text) => {
      const msg = [...document.querySelectorAll('[data-testid="messages"] .msg')].find((m) => m.querySelector('.text')?.textContent === text)
      return msg ? msg.dataset.state : null
    }, body)
  await browser.waitUntil(async () => (await stateOf()) !== null, { timeout: 5000, timeoutMsg: 'the reply is not shown' })
  assert.equal(await stateOf(), 'pending')
  await screenshot(browser, 'offline-pending')

  await cloud.resume()
  await browser.waitUntil(async () => (await stateOf()) === 'delivered', {
    timeout: 60000,
    timeoutMsg: 'the message was never delivered',
  })
  assert.equal(await syncState(), 'online')
  await screenshot(browser, 'delivered')
  // Exactly once on the cloud.
  const bearer = await token()
  const conversation = (await browser.getUrl()).split('#/inbox/')[1]
  const messages = await api(`/phone-sms/conversations/${conversation}/messages?limit=200`, bearer)
  assert.equal(messages.items.filter((m) => m.message === body).length, 1)
})

test('calls: history with filters and a detail pane', async () => {
  await goTo(browser, 'calls')
  await browser.waitUntil(async () => (await browser.$$('[data-call]')).length > 0, { timeout: 10000 })
  const all = (await browser.$$('[data-call]')).length
  await (await browser.$('#call-kind')).selectByAttribute('value', 'missed')
  await browser.waitUntil(async () => (await browser.$$('[data-call]')).length < all, { timeout: 5000 })
  const missed = await browser.$$('[data-call]')
  assert.ok(missed.length > 0)
  await missed[0].click()
  const details = await browser.$('.pane .facts')
  await details.waitForDisplayed({ timeout: 5000 })
  assert.match(await details.getText(), /Missed/)
  await screenshot(browser, 'calls')
})

test('text back from a call opens its conversation; call back without a phone account says why, right there', async () => {
  await goTo(browser, 'calls')
  const first = await browser.$('[data-call]')
  await first.waitForDisplayed({ timeout: 10000 })
  await first.click()
  const pane = await browser.$('.pane')
  const number = await browser.execute(() => document.querySelector('.pane .facts dd:nth-of-type(2)').textContent.trim())
  await (await pane.$('[data-testid="call-back"]')).click()
  const problem = await pane.$('[data-testid="phone-problem"]')
  await problem.waitForDisplayed({ timeout: 5000 })
  assert.match(await problem.getText(), /phone account/i)
  // Only there: not above every section.
  assert.equal((await browser.$$('[data-testid="phone-problem"]')).length, 1)
  await (await problem.$('button[aria-label="Dismiss"]')).click()
  await problem.waitForExist({ reverse: true, timeout: 5000 })

  await (await pane.$('[data-testid="text-back"]')).click()
  await browser.waitUntil(async () => (await browser.execute(() => location.hash)).startsWith('#/inbox/'), {
    timeout: 10000,
    timeoutMsg: 'text back did not open the inbox',
  })
  const header = await browser.$('#conversation-title')
  await header.waitForDisplayed({ timeout: 10000 })
  const shown = await browser.execute(() => document.querySelector('.conversation header p, header p.muted').textContent)
  assert.ok(shown.replace(/\s/g, '').includes(number.replace(/\s/g, '')), `${shown} is not the conversation with ${number}`)
  await screenshot(browser, 'text-back')
})


test('keyboard first: the shortcuts sheet, j/k/u through the inbox, m assigns to me, arrows and Enter in search', async () => {
  await goTo(browser, 'inbox')
  await (await browser.$('[data-conversation]')).waitForDisplayed({ timeout: 10000 })
  await (await browser.$('#section-title')).click()
  await browser.keys(['?'])
  const sheet = await browser.$('[data-testid="shortcuts"]')
  await sheet.waitForDisplayed({ timeout: 5000 })
  assert.match(await sheet.getText(), /Next unread/)
  await browser.keys(['Escape'])
  await sheet.waitForDisplayed({ reverse: true, timeout: 5000 })

  const ids = await browser.execute(() => [...document.querySelectorAll('[data-conversation]')].map((a) => a.dataset.conversation))
  const shown = () => browser.execute(() => decodeURIComponent(location.hash.split('/')[2] ?? ''))
  await browser.execute(() => (location.hash = '#/inbox'))
  await browser.keys(['j'])
  await browser.waitUntil(async () => (await shown()) === ids[0], { timeout: 5000, timeoutMsg: 'j did not open the first' })
  await browser.keys(['j'])
  await browser.waitUntil(async () => (await shown()) === ids[1], { timeout: 5000, timeoutMsg: 'j did not move on' })
  await browser.keys(['k'])
  await browser.waitUntil(async () => (await shown()) === ids[0], { timeout: 5000, timeoutMsg: 'k did not move back' })

  // m: assigned to me, as the cloud says.
  await (await browser.$('#conversation-title')).waitForDisplayed({ timeout: 5000 })
  await (await browser.$('#section-title')).click()
  await browser.keys(['m'])
  await browser.waitUntil(
    async () => {
      const c = await api(`/phone-sms/conversations/${ids[0]}`, await token())
      const me = await api('/phone-sms/me', await token())
      return c.assignedTo != null && c.assignedTo === (me.user?.id ?? me.id)
    },
    { timeout: 10000, timeoutMsg: 'm did not assign the conversation to me' },
  )

  // Search: arrows move through the hits, Enter opens one.
  await browser.keys(['Control', 'k'])
  const input = await browser.$('input[type="search"]')
  await input.waitForDisplayed({ timeout: 5000 })
  await input.setValue('appointment')
  await (await browser.$('#hit-0')).waitForExist({ timeout: 5000 })
  await browser.keys(['ArrowDown'])
  const active = await browser.execute(() => document.querySelector('input[type="search"]').getAttribute('aria-activedescendant'))
  assert.equal(active, 'hit-1')
  await browser.keys(['Enter'])
  await input.waitForDisplayed({ reverse: true, timeout: 5000 })
  assert.match(await browser.execute(() => location.hash), /^#\/inbox\//)
})

test('a new conversation with any number, or with a contact found by name', async () => {
  await goTo(browser, 'inbox')
  await (await browser.$('[data-testid="new-conversation"]')).click()
  const to = await browser.$('#new-to')
  await to.waitForDisplayed({ timeout: 5000 })
  await to.setValue('+1 415 555 0177')
  await browser.keys(['Enter'])
  await browser.waitUntil(async () => /^#\/inbox\/.+/.test(await browser.execute(() => location.hash)), { timeout: 10000 })
  await (await browser.$('#conversation-title')).waitForDisplayed({ timeout: 10000 })
  assert.match(await (await browser.$('#conversation-title')).getText(), /\+1 415 555 0177/)
  const id = await browser.execute(() => decodeURIComponent(location.hash.split('/')[2]))
  const remote = await api(`/phone-sms/conversations/${id}`, await token())
  assert.equal(remote.contactNumber, '+14155550177')

  // By name: the contact's conversation opens.
  await (await browser.$('[data-testid="new-conversation"]')).click()
  await (await browser.$('#new-to')).waitForDisplayed({ timeout: 5000 })
  await (await browser.$('#new-to')).setValue('Maria')
  const match = await browser.$('dialog.new .matches button')
  await match.waitForDisplayed({ timeout: 5000 })
  await match.click()
  await browser.waitUntil(async () => (await browser.execute(() => decodeURIComponent(location.hash.split('/')[2] ?? ''))) !== id, { timeout: 10000 })
  await (await browser.$('#conversation-title')).waitForDisplayed({ timeout: 10000 })
  assert.match(await (await browser.$('#conversation-title')).getText(), /Maria/)
})

test('bulk: tick conversations, then close them and mark them read at once', async () => {
  await goTo(browser, 'inbox')
  await (await browser.$('.filters [data-filter="open"]')).click()
  await browser.waitUntil(async () => (await browser.$$('[data-tick]')).length >= 2, { timeout: 10000 })
  const ids = await browser.execute(() => [...document.querySelectorAll('[data-tick]')].slice(0, 2).map((b) => b.dataset.tick))
  for (const id of ids) await (await browser.$(`[data-tick="${id}"]`)).click()
  const bar = await browser.$('[data-testid="bulk"]')
  await bar.waitForDisplayed({ timeout: 5000 })
  assert.match(await bar.getText(), /2 ticked/)
  await (await bar.$('button=Mark read')).click()
  await (await bar.$('button=Close')).click()
  await bar.waitForDisplayed({ reverse: true, timeout: 10000 })
  await browser.waitUntil(
    async () => {
      const all = await Promise.all(ids.map(async (id) => (await api(`/phone-sms/conversations/${id}`, await token())).status))
      return all.every((s) => s === 'closed')
    },
    { timeout: 10000, timeoutMsg: 'the ticked conversations were not closed in the cloud' },
  )
  for (const id of ids) {
    const c = await api(`/phone-sms/conversations/${id}`, await token())
    assert.equal(c.unreadCount ?? 0, 0)
  }
})

test('a phone number inside a message is one click from a call', async () => {
  await goTo(browser, 'inbox')
  await (await browser.$('[data-conversation]')).click()
  const composer = await browser.$('#composer-text')
  await composer.waitForDisplayed({ timeout: 10000 })
  const marker = `${Date.now()}`
  await composer.setValue(`Ref ${marker}: call me on +1 415 555 0188 tomorrow`)
  await browser.keys(['Enter'])
  const number = await browser.$('[data-testid="messages"] [data-testid="call-number"][title="Call +14155550188"]')
  await number.waitForDisplayed({ timeout: 10000 })
  assert.equal(await number.getText(), '+1 415 555 0188')
  // No phone account in this app: the reason shows under that message, and can be dismissed.
  await number.click()
  const problem = await browser.$('[data-testid="messages"] [data-testid="phone-problem"]')
  await problem.waitForDisplayed({ timeout: 5000 })
  assert.match(await problem.getText(), /phone account/i)
  await (await problem.$('button[aria-label="Dismiss"]')).click()
  await problem.waitForExist({ reverse: true, timeout: 5000 })
})

test('an internal note stays with the team, and a snoozed conversation leaves Open until woken', async () => {
  await goTo(browser, 'inbox')
  await (await browser.$('.filters [data-filter="open"]')).click()
  const row = await browser.$('[data-conversation]')
  await row.waitForDisplayed({ timeout: 10000 })
  const id = await row.getAttribute('data-conversation')
  await row.click()
  const bearer = await token()
  const before = (await api(`/phone-sms/conversations/${id}/messages?limit=200`, bearer)).items.length

  // The composer writes a note instead of a reply: shown among the messages, never sent.
  await (await browser.$('[data-testid="note-mode"]')).click()
  const composer = await browser.$('#composer-text')
  await composer.setValue('She prefers texts after 5 pm')
  await browser.keys(['Enter'])
  const note = await browser.$('[data-testid="conversation-note"]')
  await note.waitForDisplayed({ timeout: 10000, timeoutMsg: 'the note is not in the conversation' })
  assert.match(await note.getText(), /Internal note · You/)
  assert.match(await note.getText(), /She prefers texts after 5 pm/)
  const notes = await api(`/phone-sms/conversations/${id}/notes`, bearer)
  assert.deepEqual(notes.items.map((n) => n.text), ['She prefers texts after 5 pm'])
  assert.equal((await api(`/phone-sms/conversations/${id}/messages?limit=200`, bearer)).items.length, before, 'a note is never sent')
  await screenshot(browser, 'conversation-note')
  await (await browser.$('button[aria-pressed="false"]=Reply')).click()

  // Snoozed until tomorrow: out of Open, in Snoozed with its count, and back when woken.
  const listed = () => browser.execute(() => [...document.querySelectorAll('[data-conversation]')].map((a) => a.dataset.conversation))
  await (await browser.$('#snooze')).selectByVisibleText('Until tomorrow (9:00)')
  const until = await browser.$('[data-testid="snoozed-until"]')
  await until.waitForDisplayed({ timeout: 10000, timeoutMsg: 'not snoozed' })
  assert.match(await until.getText(), /Snoozed until Tomorrow/)
  await browser.waitUntil(async () => !(await listed()).includes(id), { timeout: 10000, timeoutMsg: 'still in Open' })
  const count = async (f) => (await (await browser.$(`.filters [data-filter="${f}"] [data-testid="filter-count"]`)).getText())
  assert.equal(await count('snoozed'), '1')
  assert.ok((await api(`/phone-sms/conversations/${id}`, bearer)).snoozedUntil, 'snoozed in the cloud')
  await (await browser.$('.filters [data-filter="snoozed"]')).click()
  await browser.waitUntil(async () => (await listed()).includes(id), { timeout: 10000, timeoutMsg: 'not in Snoozed' })
  await (await browser.$('button=Wake now')).click()
  await until.waitForExist({ reverse: true, timeout: 10000 })
  await (await browser.$('.filters [data-filter="open"]')).click()
  await browser.waitUntil(async () => (await listed()).includes(id), { timeout: 10000, timeoutMsg: 'not back in Open' })
  assert.equal((await api(`/phone-sms/conversations/${id}`, bearer)).snoozedUntil, null)
})

test('a tenant made by the operator: its admin signs in with the initial password and must choose a new one first', async () => {
  const made = spawnSync(process.env.CLOUD_BIN, ['tenant', 'create', '--name', 'Acme Plumbing', '--admin-email', 'ann@acme.test', '--data-dir', cloud.dataDir], {
    encoding: 'utf8',
  })
  assert.equal(made.status, 0, made.stderr)
  const initial = made.stdout.match(/initial password (\S+)/)[1]
  await signIn(browser, base, 'ann@acme.test', initial)
  const required = await browser.$('[data-testid="password-required"]')
  await required.waitForDisplayed({ timeout: 10000, timeoutMsg: 'no request for a new password' })
  // Every other section says so too.
  await goTo(browser, 'inbox')
  await (await browser.$('a=Settings › Account')).waitForDisplayed({ timeout: 5000 })
  await goTo(browser, 'settings')
  await (await browser.$('#password-current')).setValue(initial)
  await (await browser.$('#password-new')).setValue('short')
  await (await browser.$('#password-again')).setValue('short')
  await (await browser.$('button=Change password')).click()
  const refused = await browser.$('form[aria-label="Change password"] .field-error')
  await refused.waitForDisplayed({ timeout: 5000 })
  assert.match(await refused.getText(), /12 characters/)
  await screenshot(browser, 'password-required')
  await (await browser.$('#password-new')).setValue('plumbing pipes and copper fittings')
  await (await browser.$('#password-again')).setValue('plumbing pipes and copper fittings')
  await (await browser.$('button=Change password')).click()
  await (await browser.$('[data-testid="password-changed"]')).waitForDisplayed({ timeout: 10000 })
  await browser.waitUntil(async () => !(await (await browser.$('[data-testid="password-required"]')).isExisting()), {
    timeout: 5000,
    timeoutMsg: 'still asked for a new password',
  })
  // Now the new tenant's (empty) inbox syncs.
  await goTo(browser, 'inbox')
  await browser.waitUntil(async () => (await syncState()) === 'online', { timeout: 20000, timeoutMsg: 'never online' })
  const signedIn = await fetch(`${base}/phone-sms/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: 'ann@acme.test', password: 'plumbing pipes and copper fittings' }),
  })
  assert.equal(signedIn.status, 200)
  assert.equal((await signedIn.json()).user.passwordChangeRequired, false)
})

test('Settings › Team: an admin changes a role, deactivates an agent handing over their work, and reactivates them', async () => {
  await signIn(browser, base, 'admin@demo.upzento.test', 'demo-admin-password')
  const team = await browser.$('[data-testid="team"]')
  await team.waitForDisplayed({ timeout: 10000 })
  await browser.waitUntil(async () => (await browser.$$('[data-testid="member"]')).length >= 3, { timeout: 10000, timeoutMsg: 'the team is not listed' })
  const bearer = await (
    await fetch(`${base}/phone-sms/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'admin@demo.upzento.test', password: 'demo-admin-password' }),
    })
  ).json()
  const users = async () => (await fetch(`${base}/phone-sms/users`, { headers: { authorization: `Bearer ${bearer.token}` } })).json()
  const agentSignIn = async () =>
    (
      await fetch(`${base}/phone-sms/auth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'agent@demo.upzento.test', password: 'demo-agent-password' }),
      })
    ).status

  // The last admin cannot step down: the cloud says why, right there.
  await (await browser.$('select[aria-label="Role of Dana Admin"]')).selectByVisibleText('Agent')
  const refusal = await team.$('.alert')
  await refusal.waitForDisplayed({ timeout: 10000 })
  assert.match(await refusal.getText(), /at least one active admin/)

  // A supervisor made an agent.
  await (await browser.$('select[aria-label="Role of Sam Supervisor"]')).selectByVisibleText('Agent')
  await browser.waitUntil(async () => (await users()).find((u) => u.name === 'Sam Supervisor')?.role === 'agent', {
    timeout: 10000,
    timeoutMsg: 'the role did not change in the cloud',
  })

  // Alex deactivated, their open work to Sam; then back.
  const alex = await browser.$('[data-testid="member"][data-email="agent@demo.upzento.test"]')
  await (await alex.$('button=Deactivate')).click()
  await (await browser.$('form[aria-label="Deactivate Alex Agent"] select')).selectByVisibleText('Sam Supervisor')
  await screenshot(browser, 'team-deactivate')
  await (await browser.$('button=Deactivate Alex Agent')).click()
  await browser.waitUntil(async () => (await alex.getAttribute('data-active')) === 'false', { timeout: 10000, timeoutMsg: 'not shown deactivated' })
  assert.equal((await users()).find((u) => u.name === 'Alex Agent').active, false)
  assert.equal(await agentSignIn(), 401, 'a deactivated agent cannot sign in')
  await (await alex.$('button=Reactivate')).click()
  await browser.waitUntil(async () => (await alex.getAttribute('data-active')) === 'true', { timeout: 10000, timeoutMsg: 'not reactivated' })
  assert.equal(await agentSignIn(), 200)
  await (await browser.$('select[aria-label="Role of Sam Supervisor"]')).selectByVisibleText('Supervisor')
  await browser.waitUntil(async () => (await users()).find((u) => u.name === 'Sam Supervisor')?.role === 'supervisor', { timeout: 10000 })
})
