// Teammates with their presence (for assignment pickers), and the agent's own presence:
// what they chose, what a call makes it (busy) and what idling makes it (away).
import { commands, type MyPresenceView, type PresenceView, type TeammateView } from './bindings'

export const PRESENCE_LABELS: Record<PresenceView, string> = {
  available: 'Available',
  busy: 'On a call',
  away: 'Away',
  dnd: 'Do not disturb',
  offline: 'Offline',
}

/** What an agent may choose (busy and offline are said for them). */
export const CHOOSABLE: PresenceView[] = ['available', 'away', 'dnd']

/** A teammate as a picker lists them: "Me (Ann)" or "Nina Novak · Away". */
export function teammateLabel(t: TeammateView): string {
  return t.me ? `Me (${t.name})` : `${t.name} · ${PRESENCE_LABELS[t.presence]}`
}

type Timer = ReturnType<typeof setTimeout>
interface Timers {
  set: (f: () => void, ms: number) => Timer
  clear: (t: Timer) => void
}

/**
 * Calls `onIdle(true)` after `ms` without activity, and `onIdle(false)` at the first
 * activity after that. Timers are passed in, so tests run them on a fake clock.
 */
export class IdleWatch {
  #timer: Timer | null = null
  #idle = false

  constructor(
    private readonly ms: number,
    private readonly onIdle: (idle: boolean) => void,
    // Wrapped: WebKit refuses setTimeout called on another object ("Illegal invocation").
    private readonly timers: Timers = { set: (f, ms) => setTimeout(f, ms), clear: (t) => clearTimeout(t) },
  ) {}

  /** A key, a click, a move: the agent is here. */
  activity(): void {
    if (this.#timer !== null) this.timers.clear(this.#timer)
    if (this.#idle) {
      this.#idle = false
      this.onIdle(false)
    }
    this.#timer = this.timers.set(() => {
      this.#idle = true
      this.onIdle(true)
    }, this.ms)
  }

  stop(): void {
    if (this.#timer !== null) this.timers.clear(this.#timer)
    this.#timer = null
  }
}

/** Minutes without a key or a click before an available agent shows as away. */
export const IDLE_MINUTES = 10

class People {
  teammates = $state<TeammateView[]>([])
  me = $state<MyPresenceView>({ shown: 'available', chosen: 'available', idle: false })
  error = $state<string | null>(null)
  #watch: IdleWatch | null = null

  async refresh(): Promise<void> {
    const r = await commands.teammates()
    if (r.status === 'ok') this.teammates = r.data
    this.me = await commands.myPresence()
  }

  async choose(status: PresenceView): Promise<void> {
    const r = await commands.setPresence(status)
    if (r.status === 'ok') {
      this.me = r.data
      this.error = null
    } else this.error = r.error.message
  }

  /** The Rust core says the agent's presence changed (a call, idling, a choice). */
  apply(me: MyPresenceView): void {
    this.me = me
    const mine = this.teammates.find((t) => t.me)
    if (mine) mine.presence = me.shown
  }

  /** Watches the window for activity, to show an idle agent as away. */
  watchIdle(win: Window = window): void {
    if (this.#watch) return
    this.#watch = new IdleWatch(IDLE_MINUTES * 60_000, (idle) => void commands.setIdle(idle).then((r) => r.status === 'ok' && this.apply(r.data)))
    const seen = () => this.#watch?.activity()
    for (const type of ['keydown', 'pointerdown', 'pointermove', 'wheel', 'focus']) win.addEventListener(type, seen, { passive: true })
    seen()
  }
}

export const people = new People()
