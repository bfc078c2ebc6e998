// Formatting for lists and the composer.

const DAY = 86_400_000

/** Whole calendar days from `t` to `now` in local time (0: the same day, 1: yesterday). */
function daysAgo(t: Date, now: Date): number {
  const start = (d: Date) => new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime()
  return Math.round((start(now) - start(t)) / DAY)
}

/** A time as a list shows it: the time today, "Yesterday", the weekday this week, else the date. */
export function listTime(iso: string, now: Date = new Date()): string {
  const t = new Date(iso)
  if (Number.isNaN(t.getTime())) return ''
  const days = daysAgo(t, now)
  if (days === 0) return clockTime(iso)
  if (days === 1) return 'Yesterday'
  if (days > 1 && days < 7) return t.toLocaleDateString(undefined, { weekday: 'short' })
  return t.toLocaleDateString(undefined, { day: 'numeric', month: 'short', year: t.getFullYear() === now.getFullYear() ? undefined : 'numeric' })
}

/** The time of day, as on every message (its day is in the separator above it). */
export function clockTime(iso: string): string {
  const t = new Date(iso)
  return Number.isNaN(t.getTime()) ? '' : t.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' })
}

/** When something is due, as a to-do list says it: "Today 09:00", "Tomorrow 09:00", "Yesterday 17:30", else the date and time. */
export function dueLabel(iso: string, now: Date = new Date()): string {
  const t = new Date(iso)
  if (Number.isNaN(t.getTime())) return ''
  const days = daysAgo(t, now)
  const day =
    days === 0
      ? 'Today'
      : days === -1
        ? 'Tomorrow'
        : days === 1
          ? 'Yesterday'
          : t.toLocaleDateString(undefined, { weekday: 'short', day: 'numeric', month: 'short', year: t.getFullYear() === now.getFullYear() ? undefined : 'numeric' })
  return `${day} ${clockTime(iso)}`
}

/** The day a run of messages belongs to: "Today", "Yesterday", the weekday this week, else the date. */
export function dayLabel(iso: string, now: Date = new Date()): string {
  const t = new Date(iso)
  if (Number.isNaN(t.getTime())) return ''
  const days = daysAgo(t, now)
  if (days === 0) return 'Today'
  if (days === 1) return 'Yesterday'
  if (days > 1 && days < 7) return t.toLocaleDateString(undefined, { weekday: 'long' })
  return t.toLocaleDateString(undefined, { weekday: 'short', day: 'numeric', month: 'long', year: t.getFullYear() === now.getFullYear() ? undefined : 'numeric' })
}

/** Whether two times fall on different local days (a date separator goes between them). */
export function newDay(previous: string | undefined, iso: string): boolean {
  if (!previous) return true
  return new Date(previous).toDateString() !== new Date(iso).toDateString()
}

/** A full date and time, for titles and details. */
export function fullTime(iso: string): string {
  const t = new Date(iso)
  return Number.isNaN(t.getTime()) ? '' : t.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' })
}

/** Seconds as 4:05 or 1:02:03. */
export function duration(seconds: number | null | undefined): string {
  if (seconds == null) return '—'
  const h = Math.floor(seconds / 3600)
  const m = Math.floor((seconds % 3600) / 60)
  const s = seconds % 60
  const mm = h > 0 ? String(m).padStart(2, '0') : String(m)
  return `${h > 0 ? `${h}:` : ''}${mm}:${String(s).padStart(2, '0')}`
}

// GSM 03.38: the basic set, and the extension set whose characters cost two.
const GSM_BASIC =
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà'
const GSM_EXTENDED = '^{}\\[~]|€\f'

export interface SmsInfo {
  /** Characters as the user counts them. */
  chars: number
  segments: number
  unicode: boolean
  /** The characters that made the message UCS-2 (to warn about). */
  culprits: string[]
}

/** The same rules as the Rust domain crate's `sms::segments` (GSM-7 160/153, UCS-2 70/67). */
export function smsInfo(text: string): SmsInfo {
  const chars = [...text]
  const culprits = [...new Set(chars.filter((c) => !GSM_BASIC.includes(c) && !GSM_EXTENDED.includes(c)))]
  if (chars.length === 0) return { chars: 0, segments: 0, unicode: false, culprits }
  if (culprits.length === 0) {
    const septets = chars.reduce((n, c) => n + (GSM_EXTENDED.includes(c) ? 2 : 1), 0)
    if (septets <= 160) return { chars: chars.length, segments: 1, unicode: false, culprits }
    // Parts of 153 septets; an escape pair is never split.
    let segments = 1
    let used = 0
    for (const c of chars) {
      const cost = GSM_EXTENDED.includes(c) ? 2 : 1
      if (used + cost > 153) {
        segments++
        used = 0
      }
      used += cost
    }
    return { chars: chars.length, segments, unicode: false, culprits }
  }
  // UTF-16 code units; a surrogate pair is never split.
  const units = chars.map((c) => c.length)
  const total = units.reduce((a, b) => a + b, 0)
  if (total <= 70) return { chars: chars.length, segments: 1, unicode: true, culprits }
  let segments = 1
  let used = 0
  for (const u of units) {
    if (used + u > 67) {
      segments++
      used = 0
    }
    used += u
  }
  return { chars: chars.length, segments, unicode: true, culprits }
}

/**
 * A phone number as people read it, the same everywhere it is shown and as it is typed in the
 * dialer: digits grouped (+1 415 555 2671). Anything else (a name, a SIP user) is left as is;
 * E.164 stays for what is sent and for titles.
 */
export function formatNumber(input: string): string {
  const trimmed = input.trim()
  if (!/^\+?[0-9 ()\-.]*$/.test(trimmed)) return input
  const plus = trimmed.startsWith('+')
  const digits = trimmed.replace(/[^0-9]/g, '')
  if (!plus) return digits
  // +1 NANP: +1 415 555 2671; elsewhere: country code then groups of three/four.
  if (digits.startsWith('1')) {
    const parts = [digits.slice(0, 1), digits.slice(1, 4), digits.slice(4, 7), digits.slice(7)]
    return '+' + parts.filter(Boolean).join(' ')
  }
  const cc = digits.slice(0, 2)
  const rest = digits.slice(2).match(/.{1,4}/g) ?? []
  return '+' + [cc, ...rest].filter(Boolean).join(' ')
}

/** A piece of a message's text: plain, or a phone number one click can call (E.164 in `number`). */
export interface TextPiece {
  text: string
  number?: string
}

/**
 * Splits a message's text around the phone numbers in it that can be called as written: with
 * a "+" and 8 to 15 digits, or 11 digits starting with 1 (North America). Numbers without a
 * country code are left as text: which country they belong to is a guess.
 */
export function phoneNumbersIn(text: string): TextPiece[] {
  const pieces: TextPiece[] = []
  let last = 0
  for (const m of text.matchAll(/\+?\d[\d ().-]{6,}\d/g)) {
    const raw = m[0]
    const digits = raw.replace(/\D/g, '')
    const e164 = raw.startsWith('+')
      ? digits.length >= 8 && digits.length <= 15 && `+${digits}`
      : digits.length === 11 && digits.startsWith('1') && `+${digits}`
    if (!e164) continue
    const at = m.index ?? 0
    if (at > last) pieces.push({ text: text.slice(last, at) })
    pieces.push({ text: raw, number: e164 })
    last = at + raw.length
  }
  if (last < text.length || pieces.length === 0) pieces.push({ text: text.slice(last) })
  return pieces
}
