// Formatting for lists and the composer.

/** A time as a list shows it: the time today, the weekday this week, else the date. */
export function listTime(iso: string, now: Date = new Date()): string {
  const t = new Date(iso)
  if (Number.isNaN(t.getTime())) return ''
  const sameDay = t.toDateString() === now.toDateString()
  if (sameDay) return t.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' })
  const days = (now.getTime() - t.getTime()) / 86_400_000
  if (days >= 0 && days < 6) return t.toLocaleDateString(undefined, { weekday: 'short' })
  return t.toLocaleDateString(undefined, { day: 'numeric', month: 'short', year: t.getFullYear() === now.getFullYear() ? undefined : 'numeric' })
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
