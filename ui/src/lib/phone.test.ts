import { describe, expect, it } from 'vitest'
import { elapsed, formatDialed } from './phone.svelte'

describe('dialer helpers', () => {
  it('groups numbers as they are typed', () => {
    expect(formatDialed('+14155552671')).toBe('+1 415 555 2671')
    expect(formatDialed('+1415')).toBe('+1 415')
    expect(formatDialed('+442079460018')).toBe('+44 2079 4600 18')
    expect(formatDialed('415-555')).toBe('415555')
    expect(formatDialed('bob')).toBe('bob')
    expect(formatDialed('sip:bob@example.com')).toBe('sip:bob@example.com')
  })

  it('counts call time', () => {
    const start = '2026-11-25T10:00:00Z'
    expect(elapsed(start, Date.parse(start) + 65_000)).toBe('1:05')
    expect(elapsed(start, Date.parse(start) + 3_725_000)).toBe('1:02:05')
    expect(elapsed(start, Date.parse(start) - 5_000)).toBe('0:00')
  })
})
