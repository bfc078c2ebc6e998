import type { SignInRequest } from './bindings'

export type Method = SignInRequest['method']

export interface SignInForm {
  cloudUrl: string
  method: Method
  email: string
  password: string
  token: string
  /** Joining through an invitation: its code, the person's name and new password twice. */
  code: string
  name: string
  newPassword: string
  confirm: string
}

export const emptyForm = (): SignInForm => ({
  cloudUrl: '',
  method: 'password',
  email: '',
  password: '',
  token: '',
  code: '',
  name: '',
  newPassword: '',
  confirm: '',
})

export interface FieldError {
  field: keyof SignInForm
  message: string
}

/** Checks the form before anything leaves the window; the Rust side and the cloud check again
 * (the cloud's password rule says more than the length). */
export function validate(form: SignInForm): FieldError[] {
  const errors: FieldError[] = []
  const url = form.cloudUrl.trim()
  if (!url) {
    errors.push({ field: 'cloudUrl', message: 'Enter the address of your Upzento cloud.' })
  } else if (!/^https?:\/\/[^/\s]+/i.test(url)) {
    errors.push({ field: 'cloudUrl', message: 'The address starts with https:// (or http:// on your own machine).' })
  }
  if (form.method === 'password') {
    if (!form.email.trim()) errors.push({ field: 'email', message: 'Enter your email.' })
    if (!form.password) errors.push({ field: 'password', message: 'Enter your password.' })
  } else if (form.method === 'invitation') {
    if (!form.code.trim()) errors.push({ field: 'code', message: 'Paste the invitation code your admin sent you.' })
    if (!form.name.trim()) errors.push({ field: 'name', message: 'Enter your name, as teammates will see it.' })
    if ([...form.newPassword].length < 12) {
      errors.push({ field: 'newPassword', message: 'A password has at least 12 characters.' })
    } else if (form.confirm !== form.newPassword) {
      errors.push({ field: 'confirm', message: 'The two passwords differ.' })
    }
  } else if (!form.token.trim()) {
    errors.push({ field: 'token', message: 'Paste your API token.' })
  }
  return errors
}

export function toRequest(form: SignInForm): SignInRequest {
  const cloudUrl = form.cloudUrl.trim()
  switch (form.method) {
    case 'password':
      return { method: 'password', cloudUrl, email: form.email.trim(), password: form.password }
    case 'invitation':
      return { method: 'invitation', cloudUrl, code: form.code.trim(), name: form.name.trim(), password: form.newPassword }
    default:
      return { method: 'apiToken', cloudUrl, token: form.token.trim() }
  }
}

/**
 * The code and cloud address in a pasted invitation (the whole email or message, or the code
 * alone): what the admin sent, without picking it apart by hand.
 */
export function fromInvitation(text: string): { code: string | null; cloudUrl: string | null } {
  const code = text.match(/uzi_[A-Za-z0-9_-]{16,}/)?.[0] ?? null
  const cloudUrl = text.match(/https?:\/\/[^\s"'<>]+/)?.[0]?.replace(/[.,;:)]+$/, '') ?? null
  return { code, cloudUrl }
}
