import { describe, expect, it } from 'vitest'
import { SHORTCUTS, keysOf, onShortcut, runShortcut } from './shortcuts.svelte'

const press = (key: string, mods: Partial<KeyboardEvent> = {}, target: EventTarget | null = null) =>
  ({ key, ctrlKey: false, metaKey: false, shiftKey: false, altKey: false, target, preventDefault() {}, ...mods }) as unknown as KeyboardEvent

describe('shortcuts', () => {
  it('names key presses as the sheet writes them', () => {
    expect(keysOf(press('A', { ctrlKey: true, shiftKey: true }))).toBe('Ctrl+Shift+A')
    expect(keysOf(press('k', { ctrlKey: true }))).toBe('Ctrl+K')
    expect(keysOf(press('?', { shiftKey: true }))).toBe('?')
    expect(keysOf(press('j'))).toBe('j')
  })

  it('every shortcut has its own keys', () => {
    const keys = SHORTCUTS.map((s) => s.keys)
    expect(new Set(keys).size).toBe(keys.length)
  })

  it('runs only what a screen registered, and single keys never while typing', () => {
    let ran = 0
    const stop = onShortcut('next', () => ran++)
    expect(runShortcut(press('j'))).toBe(true)
    const field = { tagName: 'TEXTAREA', isContentEditable: false } as unknown as EventTarget
    expect(runShortcut(press('j', {}, field))).toBe(false)
    stop()
    expect(runShortcut(press('j'))).toBe(false)
    expect(ran).toBe(1)
    const hang = onShortcut('hangUp', () => ran++)
    expect(runShortcut(press('H', { ctrlKey: true, shiftKey: true }))).toBe(true)
    hang()
    expect(ran).toBe(2)
  })
})
