// Light or dark: the agent's choice (Settings › Appearance), else the system's preference.
// Applied as `data-theme` on <html>, which tokens.css reads.

export type ThemeChoice = 'system' | 'light' | 'dark'
const KEY = 'upzento.theme'

class Theme {
  choice = $state<ThemeChoice>('system')
  #system = typeof matchMedia === 'function' ? matchMedia('(prefers-color-scheme: dark)') : null

  start(): void {
    const saved = localStorage.getItem(KEY)
    this.choice = saved === 'light' || saved === 'dark' ? saved : 'system'
    this.#system?.addEventListener('change', () => this.apply())
    this.apply()
  }

  set(choice: ThemeChoice): void {
    this.choice = choice
    if (choice === 'system') localStorage.removeItem(KEY)
    else localStorage.setItem(KEY, choice)
    this.apply()
  }

  get resolved(): 'light' | 'dark' {
    if (this.choice !== 'system') return this.choice
    return this.#system?.matches ? 'dark' : 'light'
  }

  apply(): void {
    document.documentElement.dataset.theme = this.resolved
  }
}

export const theme = new Theme()
