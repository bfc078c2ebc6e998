import { describe, expect, it } from 'vitest'
import { base64Of, campaignProgress, chartColumns, evenShares, intervalLabel, plural, problemsCsv, pValueLabel, rate, resumeStep, sharesProblem, signedPoints, waitLabel } from './campaigns'

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

describe('the campaign wizard', () => {
  it('splits variants evenly, to 100', () => {
    expect(evenShares(2)).toEqual([50, 50])
    expect(evenShares(3)).toEqual([34, 33, 33])
    expect(evenShares(5)).toEqual([20, 20, 20, 20, 20])
    expect(evenShares(0)).toEqual([])
  })
  it('says what is wrong with shares', () => {
    expect(sharesProblem([])).toBeNull()
    expect(sharesProblem([50, 50])).toBeNull()
    expect(sharesProblem([100])).toMatch(/2 to 5/)
    expect(sharesProblem([50, 40])).toBe('The shares add up to 90%, not 100%.')
    expect(sharesProblem([0, 100])).toMatch(/1 to 99/)
    expect(sharesProblem([50.5, 49.5])).toMatch(/whole percent/)
  })
  it('encodes files as base64, large ones too', () => {
    expect(base64Of(new TextEncoder().encode('phone\n+14155550101\n'))).toBe(btoa('phone\n+14155550101\n'))
    const big = new Uint8Array(100_000).map((_, i) => i % 251)
    const back = Uint8Array.from(atob(base64Of(big)), (c) => c.charCodeAt(0))
    expect(back).toEqual(big)
  })
  it('writes refused rows as CSV, quoting what needs it', () => {
    expect(problemsCsv([{ row: 3, value: '12', reason: 'too short, sorry' }])).toBe('row,value,reason\r\n3,12,"too short, sorry"\r\n')
  })
  it('carries a draft on where it stopped', () => {
    expect(resumeStep(0, '')).toBe('audience')
    expect(resumeStep(4, ' ')).toBe('message')
    expect(resumeStep(4, 'Hi')).toBe('review')
  })
  it('counts in words', () => {
    expect(plural(1, 'recipient')).toBe('1 recipient')
    expect(plural(1200, 'recipient')).toBe('1,200 recipients')
  })
})

describe('campaign analytics', () => {
  const points = [
    { startMs: 1_800_000_000_000, sent: 3, delivered: 2, replied: 0 },
    { startMs: 1_800_000_060_000, sent: 1, delivered: 2, replied: 1 },
  ]
  it('gives the chart its columns, times in seconds', () => {
    expect(chartColumns(points)).toEqual([[1_800_000_000, 1_800_000_060], [3, 1], [2, 2], [0, 1]])
  })
  it('says the chart in words', () => {
    expect(signedPoints(points)).toBe('4 sent, 4 delivered, 1 replied over 2 intervals')
  })
  it('names intervals', () => {
    expect(intervalLabel(60)).toBe('minute')
    expect(intervalLabel(300)).toBe('5 minutes')
    expect(intervalLabel(3600)).toBe('hour')
    expect(intervalLabel(21600)).toBe('6 hours')
    expect(intervalLabel(86400)).toBe('day')
  })
  it('reads p-values for people', () => {
    expect(pValueLabel(null, true)).toBe('baseline')
    expect(pValueLabel(null, false)).toBe('not enough data')
    expect(pValueLabel(0.0004, false)).toBe('< 0.001 (significant)')
    expect(pValueLabel(0.2, false)).toBe('0.200 (could be chance)')
  })
})

describe('waits', () => {
  it('are said as people say them', () => {
    expect(waitLabel(45)).toBe('45 minutes')
    expect(waitLabel(60)).toBe('1 hour')
    expect(waitLabel(150)).toBe('2.5 hours')
    expect(waitLabel(2880)).toBe('2 days')
  })
})
