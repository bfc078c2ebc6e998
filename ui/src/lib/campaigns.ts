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

/** A chart's columns (uPlot's aligned data): times in seconds, then sent, delivered, replied. */
export function chartColumns(points: { startMs: number | null; sent: number; delivered: number; replied: number }[]): [number[], number[], number[], number[]] {
  return [points.map((p) => (p.startMs ?? 0) / 1000), points.map((p) => p.sent), points.map((p) => p.delivered), points.map((p) => p.replied)]
}

/** A chart said in words (its accessible name): the totals it shows. */
export function signedPoints(points: { sent: number; delivered: number; replied: number }[]): string {
  const sum = (k: 'sent' | 'delivered' | 'replied') => points.reduce((n, p) => n + p[k], 0)
  return `${sum('sent')} sent, ${sum('delivered')} delivered, ${sum('replied')} replied over ${plural(points.length, 'interval')}`
}

/** "minute", "5 minutes", "hour", "day". */
export function intervalLabel(seconds: number): string {
  if (seconds % 86400 === 0) return seconds === 86400 ? 'day' : `${seconds / 86400} days`
  if (seconds % 3600 === 0) return seconds === 3600 ? 'hour' : `${seconds / 3600} hours`
  return seconds === 60 ? 'minute' : `${Math.round(seconds / 60)} minutes`
}

/** A variant's p-value as people read it: the baseline has none; below 0.05 is significant. */
export function pValueLabel(p: number | null | undefined, baseline: boolean): string {
  if (baseline) return 'baseline'
  if (p == null) return 'not enough data'
  const shown = p < 0.001 ? '< 0.001' : p.toFixed(3)
  return p < 0.05 ? `${shown} (significant)` : `${shown} (could be chance)`
}

/** A wait in minutes as people say it: "45 minutes", "1 hour", "2.5 hours", "2 days". */
export function waitLabel(minutes: number): string {
  if (minutes < 60) return plural(minutes, 'minute')
  if (minutes % 1440 === 0) return plural(minutes / 1440, 'day')
  const hours = Math.round((minutes / 60) * 100) / 100
  return `${hours} ${hours === 1 ? 'hour' : 'hours'}`
}
