import { describe, expect, it } from 'vitest'
import { DEFAULT_SECTION, SECTIONS, hashFor, quickReplyId, routeParam, sectionFromHash } from './routes'

describe('sectionFromHash', () => {
  it('reads every section back from its own hash', () => {
    for (const s of SECTIONS) expect(sectionFromHash(hashFor(s.id))).toBe(s.id)
  })
  it('ignores sub-paths and queries', () => {
    expect(sectionFromHash('#/inbox/conv-1')).toBe('inbox')
    expect(sectionFromHash('#/calls?filter=missed')).toBe('calls')
  })
  it('falls back to the default for empty or unknown hashes', () => {
    for (const h of ['', '#', '#/', '#/nope', 'garbage']) expect(sectionFromHash(h)).toBe(DEFAULT_SECTION)
  })
  it('gives every section a distinct shortcut key', () => {
    expect(new Set(SECTIONS.map((s) => s.key)).size).toBe(SECTIONS.length)
  })
})

describe('routeParam', () => {
  it('reads the id after the section', () => {
    expect(routeParam('#/inbox/abc-1')).toBe('abc-1')
    expect(routeParam('#/inbox')).toBeNull()
    expect(routeParam('#/inbox/')).toBeNull()
    expect(routeParam('')).toBeNull()
  })
})

describe('quickReplyId', () => {
  it('reads the conversation of a quick-reply window', () => {
    expect(quickReplyId('#/quick-reply/01a2-b3')).toBe('01a2-b3')
    expect(quickReplyId('#/quick-reply/a%2Fb')).toBe('a/b')
  })
  it('is null for everything else', () => {
    for (const h of ['', '#/inbox/abc', '#/quick-reply/', '#/quick-reply/a/b', '#/quick-replyx/a']) expect(quickReplyId(h)).toBeNull()
  })
})
