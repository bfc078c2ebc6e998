// Shared helpers of the real-window tests: a WebdriverIO session on the app through tauri-driver.
import { remote } from 'webdriverio'
import { execFileSync } from 'node:child_process'
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

export async function screenshot(browser, name) {
  await browser.saveScreenshot(path.join(ARTIFACTS, `${name}.png`))
}

export async function goTo(browser, id) {
  await (await browser.$(`#nav-${id}`)).click()
  await browser.waitUntil(async () => (await browser.$(`#nav-${id}`).getAttribute('aria-current')) === 'page', {
    timeout: 5000,
    timeoutMsg: `section ${id} did not become current`,
  })
}

/** Secrets of the app in the Secret Service of this D-Bus session (libsecret's secret-tool). */
export function keyringEntries() {
  try {
    const out = execFileSync('secret-tool', ['search', '--all', 'service', 'upzento-phone'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    return out
      .split('\n')
      .filter((l) => l.startsWith('attribute.username = '))
      .map((l) => l.slice('attribute.username = '.length))
  } catch (e) {
    // secret-tool exits 1 when nothing matches.
    if (e.status === 1) return []
    throw e
  }
}
