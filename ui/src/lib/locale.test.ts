import { describe, expect, it } from 'vitest'
import { mendLanguage, usableLanguage, validTag } from './locale'

describe('the language a C locale reports', () => {
  it('tells tags from what Intl refuses', () => {
    expect(validTag('en-US')).toBe(true)
    expect(validTag('C')).toBe(false)
    expect(validTag('POSIX')).toBe(true) // a well-formed tag, if an odd one
    expect(validTag('')).toBe(false)
    expect(() => new Intl.NumberFormat('C')).toThrow(RangeError)
  })
  it('stands in the first valid language, else US English', () => {
    expect(usableLanguage('C', ['C', 'fr-FR'])).toBe('fr-FR')
    expect(usableLanguage('C')).toBe('en-US')
    expect(usableLanguage('de-DE', ['C'])).toBe('de-DE')
  })
  it('mends a navigator so that Intl takes its language', () => {
    const nav = { language: 'C', languages: ['C'] } as unknown as Navigator
    mendLanguage(nav)
    expect(nav.language).toBe('en-US')
    expect(nav.languages).toEqual(['en-US'])
    expect(() => new Intl.NumberFormat(nav.language)).not.toThrow()
    const fine = { language: 'nb-NO', languages: ['nb-NO'] } as unknown as Navigator
    mendLanguage(fine)
    expect(fine.language).toBe('nb-NO')
  })
})
