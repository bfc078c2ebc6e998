import { describe, expect, it } from 'vitest'
import { clockTime, dayLabel, dueLabel, duration, listTime, newDay, phoneNumbersIn, smsInfo } from './format'

describe('smsInfo', () => {
  it('counts GSM-7 segments with escapes costing two', () => {
    expect(smsInfo('')).toEqual({ chars: 0, segments: 0, unicode: false, culprits: [] })
    expect(smsInfo('a'.repeat(160)).segments).toBe(1)
    expect(smsInfo('a'.repeat(161)).segments).toBe(2)
    expect(smsInfo('a'.repeat(306)).segments).toBe(2)
    expect(smsInfo('a'.repeat(307)).segments).toBe(3)
    expect(smsInfo('€'.repeat(80)).segments).toBe(1)
    expect(smsInfo('€'.repeat(81)).segments).toBe(2)
  })

  it('turns the whole message UCS-2 for one character and names it', () => {
    const info = smsInfo('Your appointment is at 10 — reply C')
    expect(info.unicode).toBe(true)
    expect(info.culprits).toEqual(['—'])
    expect(smsInfo('é'.repeat(70)).unicode).toBe(false)
    expect(smsInfo('ы'.repeat(70)).segments).toBe(1)
    expect(smsInfo('ы'.repeat(71)).segments).toBe(2)
    // Emoji are two code units and never split.
    expect(smsInfo('😀'.repeat(35)).segments).toBe(1)
    expect(smsInfo('😀'.repeat(36)).segments).toBe(2)
    expect(smsInfo('😀'.repeat(36)).chars).toBe(36)
  })
})

describe('times', () => {
  it('shows today as a time and older days as dates', () => {
    const now = new Date('2026-11-24T15:00:00')
    expect(listTime('2026-11-24T09:05:00', now)).toMatch(/09|9/)
    expect(listTime('2026-01-02T09:05:00', now)).toMatch(/2/)
    expect(listTime('not a time', now)).toBe('')
    // Calendar days, not 24-hour spans: 23:30 the day before is yesterday.
    expect(listTime('2026-11-23T23:30:00', now)).toBe('Yesterday')
    expect(listTime('2026-11-23T01:00:00', now)).toBe('Yesterday')
    expect(listTime('2026-11-22T12:00:00', now)).not.toBe('Yesterday')
  })

  it('labels the days of a thread and puts a separator where the day changes', () => {
    const now = new Date('2026-11-24T15:00:00')
    expect(dayLabel('2026-11-24T08:00:00', now)).toBe('Today')
    expect(dayLabel('2026-11-23T22:00:00', now)).toBe('Yesterday')
    expect(dayLabel('2026-11-20T10:00:00', now)).not.toMatch(/Today|Yesterday/)
    expect(dayLabel('2025-03-02T10:00:00', now)).toMatch(/2025/)
    expect(newDay(undefined, '2026-11-24T08:00:00')).toBe(true)
    expect(newDay('2026-11-24T08:00:00', '2026-11-24T23:00:00')).toBe(false)
    expect(newDay('2026-11-23T23:59:00', '2026-11-24T00:01:00')).toBe(true)
    expect(clockTime('2026-11-24T09:05:00')).toMatch(/0?9.05/)
  })

  it('formats durations', () => {
    expect(duration(null)).toBe('—')
    expect(duration(65)).toBe('1:05')
    expect(duration(3723)).toBe('1:02:03')
  })
})

describe('phone numbers in a message', () => {
  it('finds the numbers that can be called as written, and keeps the rest as text', () => {
    expect(phoneNumbersIn('Call me at +1 (415) 555-0123 after 5')).toEqual([
      { text: 'Call me at ' },
      { text: '+1 (415) 555-0123', number: '+14155550123' },
      { text: ' after 5' },
    ])
    expect(phoneNumbersIn('or 1-415-555-0199.')).toEqual([
      { text: 'or ' },
      { text: '1-415-555-0199', number: '+14155550199' },
      { text: '.' },
    ])
    // No country code, a date, an order number: text.
    for (const plain of ['415 555 0123', 'on 2026-12-07', 'order 123456789012345678']) {
      expect(phoneNumbersIn(plain)).toEqual([{ text: plain }])
    }
    expect(phoneNumbersIn('')).toEqual([{ text: '' }])
  })
})


describe('dueLabel', () => {
  it('says the day as a to-do list does, with the time', () => {
    const now = new Date('2026-11-24T12:00:00')
    const at = (iso: string) => clockTime(iso)
    expect(dueLabel('2026-11-24T17:30:00', now)).toBe(`Today ${at('2026-11-24T17:30:00')}`)
    expect(dueLabel('2026-11-25T09:00:00', now)).toBe(`Tomorrow ${at('2026-11-25T09:00:00')}`)
    expect(dueLabel('2026-11-23T09:00:00', now)).toBe(`Yesterday ${at('2026-11-23T09:00:00')}`)
    expect(dueLabel('2026-12-02T09:00:00', now)).toMatch(/2/)
    expect(dueLabel('not a time', now)).toBe('')
  })
})
