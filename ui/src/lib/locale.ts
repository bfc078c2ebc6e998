// A C or POSIX locale (LANG=C, common on minimal Linux systems) makes WebKitGTK report
// navigator.language as "C", which is no language tag: Intl refuses it with a RangeError,
// and libraries that format with it (uPlot builds an Intl.NumberFormat when it loads)
// fail. The first valid tag of the user's languages stands in for it, else US English.

/** Whether Intl takes `tag` as a language tag. */
export function validTag(tag: string | undefined | null): tag is string {
  if (!tag) return false
  try {
    return Intl.getCanonicalLocales(tag).length > 0
  } catch {
    return false
  }
}

/** The language to report: `language` when valid, else the first valid of `languages`, else en-US. */
export function usableLanguage(language: string | undefined, languages: readonly string[] = []): string {
  if (validTag(language)) return language
  return languages.find(validTag) ?? 'en-US'
}

/** Makes `nav.language` (and `nav.languages`) valid tags, if they are not. */
export function mendLanguage(nav: Navigator): void {
  if (validTag(nav.language)) return
  const language = usableLanguage(nav.language, nav.languages ?? [])
  const languages = [language, ...(nav.languages ?? []).filter(validTag).filter((l) => l !== language)]
  Object.defineProperty(nav, 'language', { value: language, configurable: true })
  Object.defineProperty(nav, 'languages', { value: Object.freeze(languages), configurable: true })
}
