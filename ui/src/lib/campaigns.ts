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
