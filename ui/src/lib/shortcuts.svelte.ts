// Keyboard shortcuts, defined once: what the key handler runs and what the `?` sheet lists.
// A screen registers the actions it can do now (`onShortcut` in an $effect); keys without a
// registered action do nothing.

export type ShortcutGroup = 'Anywhere' | 'Calls' | 'Inbox'

export interface Shortcut {
  id: string
  /** As shown and matched: modifiers first ("Ctrl+Shift+A"), else the key ("j", "?"). */
  keys: string
  label: string
  group: ShortcutGroup
}

export const SHORTCUTS: Shortcut[] = [
  { id: 'search', keys: 'Ctrl+K', label: 'Search messages and contacts', group: 'Anywhere' },
  { id: 'help', keys: '?', label: 'Show these shortcuts', group: 'Anywhere' },
  { id: 'section', keys: 'Alt+1…6', label: 'Go to a section', group: 'Anywhere' },
  { id: 'answer', keys: 'Ctrl+Shift+A', label: 'Answer the ringing call', group: 'Calls' },
  { id: 'hangUp', keys: 'Ctrl+Shift+H', label: 'Hang up (or decline a ringing call)', group: 'Calls' },
  { id: 'mute', keys: 'Ctrl+Shift+M', label: 'Mute or unmute', group: 'Calls' },
  { id: 'next', keys: 'j', label: 'Next conversation', group: 'Inbox' },
  { id: 'previous', keys: 'k', label: 'Previous conversation', group: 'Inbox' },
  { id: 'nextUnread', keys: 'u', label: 'Next unread conversation', group: 'Inbox' },
  { id: 'assignMe', keys: 'm', label: 'Assign the conversation to me', group: 'Inbox' },
  { id: 'close', keys: 'e', label: 'Close (done) or reopen the conversation', group: 'Inbox' },
  { id: 'reply', keys: 'r', label: 'Write a reply', group: 'Inbox' },
  { id: 'callBack', keys: 'c', label: 'Call the contact back', group: 'Inbox' },
]

const actions = new Map<string, () => void>()

/** Makes `id` run `action` until the returned function is called (an $effect's cleanup). */
export function onShortcut(id: string, action: () => void): () => void {
  actions.set(id, action)
  return () => {
    if (actions.get(id) === action) actions.delete(id)
  }
}

/** The `keys` of a key press, as written in SHORTCUTS. */
export function keysOf(e: Pick<KeyboardEvent, 'key' | 'ctrlKey' | 'metaKey' | 'shiftKey' | 'altKey'>): string {
  // A single key is itself ("?" already carries its Shift); with Ctrl or Alt, the chord.
  if (!e.ctrlKey && !e.metaKey && !e.altKey) return e.key
  const mods = [e.ctrlKey || e.metaKey ? 'Ctrl' : '', e.shiftKey ? 'Shift' : '', e.altKey ? 'Alt' : '']
  const key = e.key.length === 1 ? e.key.toUpperCase() : e.key
  return [...mods.filter(Boolean), key].join('+')
}

function typing(target: EventTarget | null): boolean {
  const el = target as { tagName?: string; isContentEditable?: boolean } | null
  return !!el && (el.isContentEditable === true || ['INPUT', 'TEXTAREA', 'SELECT'].includes(el.tagName ?? ''))
}

/**
 * Runs the shortcut of a key press, if any. Single keys never fire while the user types in a
 * field; shortcuts with Ctrl or Alt do. Returns whether one ran.
 */
export function runShortcut(e: KeyboardEvent): boolean {
  const keys = keysOf(e)
  const single = !e.ctrlKey && !e.metaKey && !e.altKey
  if (single && typing(e.target)) return false
  const shortcut = SHORTCUTS.find((s) => s.keys === keys)
  const action = shortcut && actions.get(shortcut.id)
  if (!action) return false
  e.preventDefault()
  action()
  return true
}
