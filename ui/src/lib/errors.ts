import type { ApiError, ErrorCode } from './bindings'

// What the UI tells the user for each typed error code. The server's or OS's own
// message is shown below it as detail, never matched on.
const HEADLINES: Record<ErrorCode, string> = {
  invalidInput: 'Please check what you entered.',
  keyringUnavailable: 'No system keyring is available, so credentials cannot be stored safely.',
  unreachable: 'The cloud could not be reached.',
  notACloud: 'That address does not belong to an Upzento cloud.',
  unauthorized: 'The cloud did not accept these credentials.',
  serverError: 'The cloud reported an error.',
  storageError: 'Local storage failed.',
  notSignedIn: 'You are signed out.',
  cacheUnreadable: 'The local copy of your history could not be read; it is being rebuilt from the cloud.',
  noSipAccount: 'No phone account is ready to call from.',
  audioDevice: 'The sound device could not be used.',
  noSuchCall: 'That call has already ended.',
  internal: 'Something went wrong inside the app.',
}

export function headline(code: ErrorCode): string {
  return HEADLINES[code]
}

/** Normalises anything thrown across the IPC boundary into an ApiError. */
export function toApiError(e: unknown): ApiError {
  if (e && typeof e === 'object' && 'code' in e && 'message' in e) {
    const { code, message } = e as ApiError
    if (code in HEADLINES) return { code, message: String(message) }
  }
  return { code: 'internal', message: e instanceof Error ? e.message : String(e) }
}
