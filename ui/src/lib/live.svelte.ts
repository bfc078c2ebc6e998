// What the Rust core tells the UI without being asked: the sync state and which
// cached data changed. Screens re-read the cache when `version` moves.
import { commands, events, type AppEvent, type SyncView } from './bindings'
import { phone } from './phone.svelte'
import { people } from './people.svelte'

class Live {
  sync = $state<SyncView>({ state: 'idle', retryInSeconds: null, revision: 0 })
  /** Bumped on every change of cached data. */
  version = $state(0)
  /** Conversations touched by the latest change (empty: anything may have changed). */
  touched = $state<string[]>([])
  storageError = $state<string | null>(null)
  #started = false

  async start(): Promise<void> {
    if (this.#started) return
    this.#started = true
    await events.appEventPayload.listen((e) => this.apply(e.payload as AppEvent))
    // The browser engine knows when the network comes back: reconnect at once.
    window.addEventListener('online', () => void commands.networkChanged())
    await this.refresh()
  }

  async refresh(): Promise<void> {
    const status = await commands.syncStatus()
    if (status.status === 'ok') this.show(status.data)
  }

  /** Keeps the newest state: an answer to `syncStatus` may arrive after later events. */
  show(sync: SyncView): void {
    if (sync.revision < this.sync.revision) return
    this.sync = sync
    if (sync.state === 'online') this.storageError = null
  }

  apply(e: AppEvent): void {
    switch (e.kind) {
      case 'sync':
        this.show(e.sync)
        break
      case 'changed':
        this.touched = e.entities.includes('*') ? [] : e.conversations
        this.version++
        // Teammates' presence (and who they are) is asked of the cloud, not the cache.
        if (e.entities.includes('presence') || e.entities.includes('*')) void people.refresh()
        break
      case 'presence':
        people.apply(e.me)
        break
      case 'outbox':
        this.version++
        break
      case 'storageError':
        this.storageError = e.message
        break
      case 'openConversation':
        // A click on a notification: that conversation in the inbox.
        location.hash = `#/inbox/${encodeURIComponent(e.conversationId)}`
        break
      case 'quickReply':
        // The shell opens the quick-reply window.
        break
      case 'phone':
        phone.apply(e.phone)
        break
      case 'dial':
        phone.offer(e.number)
        break
      case 'incomingCall':
      case 'showCall':
        // The call panel shows every call; the shell brings the window forward.
        break
    }
  }
}

export const live = new Live()

/** Words for the sync state, for the status line. */
export function syncLabel(sync: SyncView, signedIn: boolean): string {
  switch (sync.state) {
    case 'idle':
      // Signed in with no session: it could not start (the reason is shown where it failed).
      return signedIn ? 'Not connected' : 'Not signed in'
    case 'syncing':
      return 'Syncing…'
    case 'online':
      return 'Online'
    case 'offline':
      return sync.retryInSeconds != null
        ? `Offline — retrying in ${sync.retryInSeconds} s`
        : 'Offline'
    case 'signedOut':
      return 'Signed out by the cloud — sign in again'
  }
}
