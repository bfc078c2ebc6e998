// How a campaign's figures read: how far it got, and rates as people say them.
import type { CampaignStatsView, CampaignStatusView } from './bindings'

export const STATUS_LABEL: Record<CampaignStatusView, string> = {
  draft: 'Draft',
  scheduled: 'Scheduled',
  active: 'Running',
  paused: 'Paused',
  completed: 'Finished',
}

export interface Progress {
  /** Recipients handed to the carrier (queued, sent, delivered or failed). */
  handed: number
  /** Of those not skipped: how far the campaign got, 0-100. */
  percent: number
}

export function campaignProgress(s: CampaignStatsView): Progress {
  const handed = s.queued + s.sent + s.delivered + s.failed
  const meant = s.recipients - s.skipped
  return { handed, percent: meant > 0 ? Math.round((handed / meant) * 100) : 0 }
}

/** `part` of `whole` as a percentage ("87%"), or a dash when there is nothing to count. */
export function rate(part: number, whole: number): string {
  if (whole <= 0) return '—'
  return `${Math.round((part / whole) * 100)}%`
}

/** Shares for `n` variants that add up to 100, the first ones a point larger (34/33/33). */
export function evenShares(n: number): number[] {
  if (n <= 0) return []
  const base = Math.floor(100 / n)
  return Array.from({ length: n }, (_, i) => base + (i < 100 - base * n ? 1 : 0))
}

/** What is wrong with an A/B test's shares, or null when they can be saved. */
export function sharesProblem(shares: number[]): string | null {
  if (shares.length === 0) return null
  if (shares.length < 2 || shares.length > 5) return 'An A/B test has 2 to 5 variants.'
  if (shares.some((s) => !Number.isInteger(s) || s < 1 || s > 99)) return 'Each share is a whole percent from 1 to 99.'
  const total = shares.reduce((a, b) => a + b, 0)
  return total === 100 ? null : `The shares add up to ${total}%, not 100%.`
}

/** A file's bytes as base64, in slices (a large file would overflow one call's arguments). */
export function base64Of(bytes: Uint8Array): string {
  let binary = ''
  const slice = 0x8000
  for (let i = 0; i < bytes.length; i += slice) {
    binary += String.fromCharCode(...bytes.subarray(i, i + slice))
  }
  return btoa(binary)
}

/** Rows an import refused, as CSV to download and fix (row, value, reason). */
export function problemsCsv(rows: { row: number; value: string; reason: string }[]): string {
  const cell = (v: string) => (/[",\n\r]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v)
  return ['row,value,reason', ...rows.map((r) => [String(r.row), cell(r.value), cell(r.reason)].join(','))].join('\r\n') + '\r\n'
}

/** The wizard step to carry on a draft at: its audience first, then its text, then the review. */
export function resumeStep(recipients: number, message: string): 'audience' | 'message' | 'review' {
  if (recipients === 0) return 'audience'
  if (message.trim() === '') return 'message'
  return 'review'
}

/** "1 recipient" / "3 recipients". */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n.toLocaleString('en-US')} ${n === 1 ? one : many}`
}
