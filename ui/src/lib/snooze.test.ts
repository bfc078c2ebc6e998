import { describe, expect, it } from 'vitest'
import { snoozeChoices } from './snooze'

describe('snoozeChoices', () => {
  it('offers the usual moments, in local time', () => {
    // Tuesday 24 November 2026, 10:30.
    const now = new Date(2026, 10, 24, 10, 30)
    const choices = snoozeChoices(now)
    expect(choices.map((c) => c.label)).toEqual([
      'For an hour',
      'Until this evening (18:00)',
      'Until tomorrow (9:00)',
      'Until next Monday (9:00)',
    ])
    expect(choices[0].at).toBe(now.getTime() + 3_600_000)
    expect(new Date(choices[1].at)).toEqual(new Date(2026, 10, 24, 18, 0))
    expect(new Date(choices[2].at)).toEqual(new Date(2026, 10, 25, 9, 0))
    expect(new Date(choices[3].at)).toEqual(new Date(2026, 10, 30, 9, 0))
  })

  it('skips the evening once it is near, and a Monday goes a week on', () => {
    const monday = new Date(2026, 10, 30, 17, 30)
    const labels = snoozeChoices(monday).map((c) => c.label)
    expect(labels).not.toContain('Until this evening (18:00)')
    expect(new Date(snoozeChoices(monday).at(-1)!.at)).toEqual(new Date(2026, 11, 7, 9, 0))
  })
})
