import { describe, expect, it } from 'vitest'
import { emptyForm, toRequest, validate, type SignInForm } from './signin'

const base: SignInForm = { ...emptyForm(), cloudUrl: 'https://cloud.example.com', method: 'password', email: 'a@b.c', password: 'pw' }

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

describe('joining through an invitation', () => {
  const invited: SignInForm = { ...base, method: 'invitation', email: '', password: '', code: ' uzi_x ', name: ' Nina ', newPassword: 'a long enough secret', confirm: 'a long enough secret' }
  it('needs the code, a name and the same long password twice', () => {
    expect(validate(invited)).toEqual([])
    expect(validate({ ...invited, code: ' ', name: '' }).map((e) => e.field)).toEqual(['code', 'name'])
    expect(validate({ ...invited, newPassword: 'short', confirm: 'short' })[0].field).toBe('newPassword')
    expect(validate({ ...invited, confirm: 'a long enough secreT' })[0].field).toBe('confirm')
  })
  it('sends the trimmed code and name with the new password', () => {
    expect(toRequest(invited)).toEqual({ method: 'invitation', cloudUrl: 'https://cloud.example.com', code: 'uzi_x', name: 'Nina', password: 'a long enough secret' })
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
