import { describe, expect, it } from 'vitest'
import { headline, toApiError } from './errors'

describe('toApiError', () => {
  it('keeps a typed error from the IPC boundary', () => {
    expect(toApiError({ code: 'unreachable', message: 'refused' })).toEqual({ code: 'unreachable', message: 'refused' })
  })
  it('turns anything else into an internal error', () => {
    expect(toApiError(new Error('boom'))).toEqual({ code: 'internal', message: 'boom' })
    expect(toApiError({ code: 'madeUp', message: 'x' }).code).toBe('internal')
    expect(toApiError('plain').code).toBe('internal')
  })
  it('has a headline for every code', () => {
    expect(headline('keyringUnavailable')).toMatch(/keyring/)
  })
})
