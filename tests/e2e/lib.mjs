// Shared helpers of the real-window tests: a WebdriverIO session on the app through tauri-driver.
import { remote } from 'webdriverio'
import { spawnSync } from 'node:child_process'
import path from 'node:path'

export const ARTIFACTS = process.env.ARTIFACTS ?? '.'

export async function openApp() {
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
