import { describe, expect, it } from 'vitest'
import { campaignProgress, rate } from './campaigns'

const stats = { recipients: 10, pending: 2, held: 1, queued: 1, sent: 2, delivered: 3, failed: 1, skipped: 1, replied: 2 }

describe('campaign figures', () => {
  it('counts what reached the carrier against those meant to get it', () => {
    expect(campaignProgress(stats)).toEqual({ handed: 7, percent: 78 })
    expect(campaignProgress({ ...stats, recipients: 1, skipped: 1, queued: 0, sent: 0, delivered: 0, failed: 0 })).toEqual({ handed: 0, percent: 0 })
  })
  it('says rates as whole percentages, or a dash with nothing to count', () => {
    expect(rate(3, 7)).toBe('43%')
    expect(rate(0, 0)).toBe('—')
  })
})
