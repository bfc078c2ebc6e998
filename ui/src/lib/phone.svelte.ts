// The softphone as the UI sees it: SIP accounts with their registration state and
// the calls in progress, kept current by the core's `phone` events.
import { commands, type ActiveCallView, type ApiError, type ErrorCode, type PhoneView } from './bindings'
import { headline } from './errors'
import { formatNumber } from './format'

/**
 * What went wrong with a phone action, kept where it happened: `dial` (the dialer), or
 * `call:<id>` (that call's card). Dismissible; it goes by itself when its cause does.
 */
export interface PhoneProblem {
  scope: string
  code: ErrorCode
  text: string
}

class Phone {
  view = $state<PhoneView>({ accounts: [], calls: [], wrapUps: [], revision: 0 })
  problems = $state<PhoneProblem[]>([])
  loaded = $state(false)
  /** What the dialer shows (typed, or from a tel:/sip: link). */
  dialNumber = $state('')

  get calls(): ActiveCallView[] {
    return this.view.calls
  }

  get ringing(): ActiveCallView[] {
    return this.view.calls.filter((c) => c.state.state === 'incoming')
  }

  get registered(): boolean {
    return this.view.accounts.some((a) => a.state.state === 'registered')
  }

  async refresh(): Promise<void> {
    const result = await commands.phone()
    if (result.status === 'ok') this.apply(result.data)
    this.loaded = true
    const pending = await commands.takePendingDial()
    if (pending) this.offer(pending)
  }

  /** Keeps the newest snapshot: a command's answer may arrive after later events. */
  apply(view: PhoneView): void {
    if (view.revision < this.view.revision) return
    this.view = view
    // Problems whose cause has gone: the call ended, or an account is ready now.
    const calls = new Set(view.calls.map((c) => `call:${c.id}`))
    const ready = this.registered
    this.problems = this.problems.filter(
      (p) => (!p.scope.startsWith('call:') || calls.has(p.scope)) && !(ready && p.code === 'noSipAccount'),
    )
  }

  problem(scope: string): PhoneProblem | undefined {
    return this.problems.find((p) => p.scope === scope)
  }

  dismiss(scope: string): void {
    this.problems = this.problems.filter((p) => p.scope !== scope)
  }

  /** Runs a phone command for `scope`; a failure shows there until dismissed or mended. */
  async run<T>(
    scope: string,
    action: Promise<{ status: 'ok'; data: T } | { status: 'error'; error: ApiError }>,
  ): Promise<T | null> {
    const result = await action
    this.dismiss(scope)
    if (result.status === 'ok') return result.data
    const { code, message } = result.error
    this.problems = [...this.problems, { scope, code, text: `${headline(code)} ${message}` }]
    return null
  }

  /** A link asked for a call: the dialer gets the number; the agent presses Call. */
  offer(number: string): void {
    this.dialNumber = formatNumber(number)
    location.hash = '#/calls'
    // The dialer may not be on screen yet.
    setTimeout(() => document.getElementById('dial-number')?.focus(), 50)
  }

  dial(number: string): Promise<ActiveCallView | null> {
    return this.run('dial', commands.dial(number, null))
  }
}

export const phone = new Phone()

/** mm:ss (or h:mm:ss) since `from`, for the call timer. */
export function elapsed(from: string, now: number): string {
  const s = Math.max(0, Math.floor((now - Date.parse(from)) / 1000))
  const h = Math.floor(s / 3600)
  const m = Math.floor((s % 3600) / 60)
  const sec = String(s % 60).padStart(2, '0')
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`
}

/** The dialer groups a number as it is typed, as every number is shown (format.ts). */
export { formatNumber as formatDialed } from './format'
