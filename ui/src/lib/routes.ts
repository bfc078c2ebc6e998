// The app's sections and hash routing (#/inbox, #/settings ...).

export type SectionId = 'dashboard' | 'inbox' | 'calls' | 'campaigns' | 'numbers' | 'settings'

export interface Section {
  id: SectionId
  label: string
  /** One-letter access key hint shown in the nav's title (Alt+key in WebKit). */
  key: string
}

export const SECTIONS: readonly Section[] = [
  { id: 'dashboard', label: 'Dashboard', key: '1' },
  { id: 'inbox', label: 'Inbox', key: '2' },
  { id: 'calls', label: 'Calls', key: '3' },
  { id: 'campaigns', label: 'Campaigns', key: '4' },
  { id: 'numbers', label: 'Numbers', key: '5' },
  { id: 'settings', label: 'Settings', key: '6' },
]

export const DEFAULT_SECTION: SectionId = 'dashboard'

/** The section a location hash names; unknown or empty hashes give the default. */
export function sectionFromHash(hash: string): SectionId {
  const id = hash.replace(/^#\/?/, '').split(/[/?]/, 1)[0]
  return SECTIONS.some((s) => s.id === id) ? (id as SectionId) : DEFAULT_SECTION
}

export function hashFor(id: SectionId): string {
  return `#/${id}`
}

/** The part after the section in a hash, e.g. the conversation id in `#/inbox/abc`. */
export function routeParam(hash: string): string | null {
  const parts = hash.replace(/^#\/?/, '').split('/')
  return parts.length > 1 && parts[1] ? decodeURIComponent(parts[1]) : null
}

/** The conversation of a quick-reply window's hash (`#/quick-reply/<id>`). */
export function quickReplyId(hash: string): string | null {
  const match = /^#\/quick-reply\/([^/?]+)$/.exec(hash)
  return match ? decodeURIComponent(match[1]) : null
}
