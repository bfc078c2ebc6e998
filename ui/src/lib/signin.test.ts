import { describe, expect, it } from 'vitest'
import { toRequest, validate, type SignInForm } from './signin'

const base: SignInForm = { cloudUrl: 'https://cloud.example.com', method: 'password', email: 'a@b.c', password: 'pw', token: '' }

describe('validate', () => {
  it('accepts a complete password form', () => {
    expect(validate(base)).toEqual([])
  })
  it('names each missing field', () => {
    const errors = validate({ ...base, cloudUrl: ' ', email: '', password: '' })
    expect(errors.map((e) => e.field)).toEqual(['cloudUrl', 'email', 'password'])
  })
  it('rejects addresses without a scheme', () => {
    expect(validate({ ...base, cloudUrl: 'cloud.example.com' })[0].field).toBe('cloudUrl')
  })
  it('asks for the token only with the token method', () => {
    expect(validate({ ...base, method: 'apiToken', email: '', password: '' }).map((e) => e.field)).toEqual(['token'])
  })
})

describe('toRequest', () => {
  it('trims and keeps only the chosen method', () => {
    expect(toRequest({ ...base, cloudUrl: ' http://x ', email: ' a@b.c ' })).toEqual({
      method: 'password',
      cloudUrl: 'http://x',
      email: 'a@b.c',
      password: 'pw',
    })
    expect(toRequest({ ...base, method: 'apiToken', token: ' t ' })).toEqual({ method: 'apiToken', cloudUrl: 'https://cloud.example.com', token: 't' })
  })
})
