import { describe, expect, it } from 'vitest'
import type { PhoneView } from './bindings'
import { elapsed, formatDialed, phone } from './phone.svelte'

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

describe('phone problems', () => {
  const view = (revision: number, calls: string[], registered: boolean) =>
    ({
      revision,
      accounts: [{ id: 'a', state: { state: registered ? 'registered' : 'failing', reason: 'x' } }],
      calls: calls.map((id) => ({ id, state: { state: 'active', muted: false, onHold: false } })),
    }) as unknown as PhoneView
  const failure = (code: string, message: string) =>
    Promise.resolve({ status: 'error' as const, error: { code, message } as never })

  it('keeps each failure where it happened until dismissed or mended', async () => {
    phone.apply(view(1, ['c1'], false))
    expect(await phone.run('dial', failure('noSipAccount', 'No phone account is ready.'))).toBeNull()
    await phone.run('call:c1', failure('noSuchCall', 'gone'))
    expect(phone.problem('dial')?.text).toContain('No phone account is ready.')
    expect(phone.problem('call:c1')).toBeDefined()
    expect(phone.problem('call:c2')).toBeUndefined()

    // A later success in the same place clears it; others stay.
    expect(await phone.run('call:c1', Promise.resolve({ status: 'ok' as const, data: 7 }))).toBe(7)
    expect(phone.problem('call:c1')).toBeUndefined()
    expect(phone.problem('dial')).toBeDefined()

    phone.dismiss('dial')
    expect(phone.problem('dial')).toBeUndefined()
  })

  it('goes by itself when its cause does: the call ended, an account is ready', async () => {
    phone.apply(view(2, ['c3'], false))
    await phone.run('dial', failure('noSipAccount', 'No phone account is ready.'))
    await phone.run('call:c3', failure('audioDevice', 'no microphone'))
    // An older snapshot changes nothing.
    phone.apply(view(1, [], true))
    expect(phone.problems).toHaveLength(2)
    phone.apply(view(3, [], false))
    expect(phone.problem('call:c3')).toBeUndefined()
    expect(phone.problem('dial')).toBeDefined()
    phone.apply(view(4, [], true))
    expect(phone.problem('dial')).toBeUndefined()
  })
})
