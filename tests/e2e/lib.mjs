// Shared helpers of the real-window tests: a WebdriverIO session on the app through tauri-driver.
import { remote } from 'webdriverio'
import { spawn, spawnSync } from 'node:child_process'
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'

export const ARTIFACTS = process.env.ARTIFACTS ?? '.'

/**
 * Waits until no instance of the app runs (up to 15 s): a launch while the previous one is
 * still closing would be handed to it (the app is single-instance) and never get a window.
 */
async function previousInstanceGone() {
  const started = Date.now()
  while (Date.now() - started < 15000) {
    const r = spawnSync('pgrep', ['-x', 'upzento-phone'])
    if (r.status !== 0) {
      const waited = Date.now() - started
      if (waited > 1000) console.log(`# the previous app instance took ${waited} ms to exit`)
      return
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  console.log('# the previous app instance is still running after 15 s')
}

export async function openApp() {
  await previousInstanceGone()
  const browser = await remote({
    hostname: '127.0.0.1',
    port: Number(process.env.WD_PORT),
    logLevel: 'warn',
    connectionRetryCount: 2,
    capabilities: {
      'tauri:options': { application: process.env.APP },
      'wdio:enforceWebDriverClassic': true,
    },
  })
  await browser.$('.shell[data-ready="true"]').waitForExist({ timeout: 20000 })
  return browser
}

/**
 * What the X display shows, as the agent would see it (every window of the app). Taken
 * from the X server, not through WebDriver: WebKitWebDriver's screenshots never return
 * from a page that WebKit renders in software, which is how the app draws.
 */
export async function screenshot(_browser, name) {
  const r = spawnSync('import', ['-window', 'root', path.join(ARTIFACTS, `${name}.png`)], { encoding: 'utf8' })
  if (r.error) throw r.error
  if (r.status !== 0) throw new Error(`screenshot ${name} failed (${r.status}): ${r.stderr}`)
}

export async function goTo(browser, id) {
  await (await browser.$(`#nav-${id}`)).click()
  await browser.waitUntil(async () => (await browser.$(`#nav-${id}`).getAttribute('aria-current')) === 'page', {
    timeout: 5000,
    timeoutMsg: `section ${id} did not become current`,
  })
}

/** Keyring entries (their `username` attributes) of the app in this D-Bus session's Secret Service. */
export function keyringEntries() {
  // secret-tool prints the item's attributes on stderr and the rest on stdout; exit 1 means no match.
  const r = spawnSync('secret-tool', ['search', '--all', 'service', 'upzento-phone'], { encoding: 'utf8' })
  if (r.error) throw r.error
  if (r.status !== 0 && r.status !== 1) throw new Error(`secret-tool failed (${r.status}): ${r.stderr}`)
  return `${r.stdout}\n${r.stderr}`
    .split('\n')
    .filter((l) => l.startsWith('attribute.username = '))
    .map((l) => l.slice('attribute.username = '.length))
}

/** A free loopback TCP port. */
export function freePort() {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

/** An `upzento-cloud` of a test's own (the demo tenant, in `dataDir`), which it can kill and restart. */
/** How far ahead of now it is 12:00-13:00 in Los Angeles (0 when it is now). */
export function middayInLosAngelesAheadMs(now = new Date()) {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', { timeZone: 'America/Los_Angeles', hour: 'numeric', minute: 'numeric', hourCycle: 'h23' })
      .formatToParts(now)
      .map((p) => [p.type, p.value]),
  )
  const minutes = Number(parts.hour) * 60 + Number(parts.minute)
  const ahead = (12 * 60 - minutes + 24 * 60) % (24 * 60)
  return ahead < 24 * 60 - 60 ? ahead * 60_000 : 0
}

export class TestCloud {
  static async start() {
    const cloud = new TestCloud()
    cloud.port = await freePort()
    cloud.url = `http://127.0.0.1:${cloud.port}`
    cloud.dataDir = mkdtempSync(path.join(os.tmpdir(), 'upzento-e2e-cloud-'))
    await cloud.resume()
    return cloud
  }

  async resume() {
    this.child = spawn(process.env.CLOUD_BIN, ['serve', '--listen', `127.0.0.1:${this.port}`, '--data-dir', this.dataDir, '--demo'], {
      stdio: 'ignore',
      // Recipients' hours judged at midday in Los Angeles, where the demo's numbers are,
      // so that they are inside their allowed hours whenever the tests run.
      env: { ...process.env, UPZENTO_QUIET_HOURS_AHEAD_MS: String(middayInLosAngelesAheadMs()) },
    })
    for (let i = 0; i < 200; i++) {
      try {
        if ((await fetch(`${this.url}/healthz`)).ok) return
      } catch {}
      await new Promise((r) => setTimeout(r, 50))
    }
    throw new Error('the cloud did not start')
  }

  kill() {
    if (!this.child || this.child.exitCode !== null) return Promise.resolve()
    this.child.kill('SIGKILL')
    return new Promise((r) => this.child.once('exit', r))
  }
}

/** Signs the app in to `cloudUrl` as the demo agent (or `email`/`password`), from Settings. */
export async function signIn(browser, cloudUrl, email = 'agent@demo.upzento.test', password = 'demo-agent-password') {
  await goTo(browser, 'settings')
  if (await (await browser.$('#sign-out')).isExisting()) {
    await (await browser.$('#sign-out')).click()
  }
  const url = await browser.$('#signin-cloudUrl')
  await url.waitForDisplayed({ timeout: 10000 })
  await url.clearValue()
  await url.setValue(cloudUrl)
  await (await browser.$('#method-password')).click()
  await (await browser.$('#signin-email')).setValue(email)
  await (await browser.$('#signin-password')).setValue(password)
  await (await browser.$('#sign-in')).click()
  await (await browser.$('#account-user')).waitForDisplayed({ timeout: 15000 })
}

/**
 * dunst as the notification server, in `work`. Its menu ("context") goes through a fake
 * dmenu that logs the actions offered and picks the one `pick(action)` names.
 */
export async function startDunst(work) {
  const dmenu = path.join(work, 'dmenu.sh')
  writeFileSync(
    dmenu,
    `#!/bin/bash\ninput=$(cat)\nprintf '%s\\n' "$input" >> "${work}/menu.log"\npick=$(cat "${work}/pick")\nprintf '%s\\n' "$input" | grep -m1 -- ",\${pick}\\]$"\n`,
  )
  chmodSync(dmenu, 0o755)
  writeFileSync(path.join(work, 'dunstrc'), `[global]\n    dmenu = ${dmenu}\n    browser = /bin/true\n[urgency_normal]\n    timeout = 0\n`)
  const process = spawn('dunst', ['-config', path.join(work, 'dunstrc')], { stdio: ['ignore', 'ignore', 'inherit'] })
  for (let i = 0; i < 100 && spawnSync('dunstctl', ['is-paused']).status !== 0; i++) await new Promise((r) => setTimeout(r, 50))
  const menuLog = path.join(work, 'menu.log')
  return {
    process,
    /** Runs `dunstctl args…`, its output. */
    ctl(...args) {
      const r = spawnSync('dunstctl', args, { encoding: 'utf8' })
      if (r.status !== 0) throw new Error(`dunstctl ${args.join(' ')}: ${r.stderr}`)
      return r.stdout.trim()
    },
    /** Opens the menu of the newest notification, picking the action with this key. */
    pick(action) {
      writeFileSync(path.join(work, 'pick'), action)
      this.ctl('context')
    },
    /** What the menus offered so far. */
    menu() {
      return existsSync(menuLog) ? readFileSync(menuLog, 'utf8') : ''
    },
    /** Stops it; resolves once it has exited (and given up the bus name). */
    stop() {
      if (process.exitCode !== null || process.signalCode !== null) return Promise.resolve()
      const exited = new Promise((resolve) => process.once('exit', resolve))
      process.kill()
      return exited
    },
  }
}
