// The signed-in account, shared by every section.
import { commands, type AccountStatus, type ApiError } from './bindings'
import { toApiError } from './errors'

class AccountState {
  status = $state<AccountStatus | null>(null)
  loadError = $state<ApiError | null>(null)

  get signedIn(): boolean {
    return this.status?.account != null
  }

  async refresh(): Promise<void> {
    try {
      const result = await commands.accountStatus()
      if (result.status === 'ok') {
        this.status = result.data
        this.loadError = null
      } else {
        this.loadError = result.error
      }
    } catch (e) {
      this.loadError = toApiError(e)
    }
  }
}

export const account = new AccountState()
