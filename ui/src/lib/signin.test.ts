import { describe, expect, it } from 'vitest'
import { emptyForm, fromInvitation, toRequest, validate, type SignInForm } from './signin'

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

describe('fromInvitation', () => {
  it('finds the code and the address in a pasted invitation', () => {
    const mail = 'Dana invited you.\n\nCloud address: https://cloud.acme.test/\nInvitation code: uzi_yEUuwkUqZp5ya0nDmSE-Qw735MGstZyR3gJ_aMQ3ilY\n'
    expect(fromInvitation(mail)).toEqual({ code: 'uzi_yEUuwkUqZp5ya0nDmSE-Qw735MGstZyR3gJ_aMQ3ilY', cloudUrl: 'https://cloud.acme.test/' })
    // The app's own message ends the address with a full stop.
    expect(fromInvitation('enter the cloud address http://127.0.0.1:8787/. and this code').cloudUrl).toBe('http://127.0.0.1:8787/')
  })
  it('takes a bare code, and finds nothing in other text', () => {
    expect(fromInvitation(' uzi_abcdefghijklmnopqrstuv ')).toEqual({ code: 'uzi_abcdefghijklmnopqrstuv', cloudUrl: null })
    expect(fromInvitation('hello')).toEqual({ code: null, cloudUrl: null })
  })
})
