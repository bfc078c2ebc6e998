// The signed-in account, shared by every section.
import { commands, type AccountStatus, type ApiError } from './bindings'
import { toApiError } from './errors'

class AccountState {
  status = $state<AccountStatus | null>(null)
  loadError = $state<ApiError | null>(null)

  get signedIn(): boolean {
    return this.status?.account != null
  }

  /**
   * Whether the signed-in role may do `permission` (`resource:action`, the matrix the
   * cloud enforces): controls it does not allow are not shown at all.
   */
  can(permission: string): boolean {
    return this.status?.account?.permissions.includes(permission) ?? false
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
