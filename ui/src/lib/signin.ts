import type { SignInRequest } from './bindings'

export type Method = SignInRequest['method']

export interface SignInForm {
  cloudUrl: string
  method: Method
  email: string
  password: string
  token: string
}

export interface FieldError {
  field: keyof SignInForm
  message: string
}

/** Checks the form before anything leaves the window; the Rust side checks again. */
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
  } else if (!form.token.trim()) {
    errors.push({ field: 'token', message: 'Paste your API token.' })
  }
  return errors
}

export function toRequest(form: SignInForm): SignInRequest {
  return form.method === 'password'
    ? { method: 'password', cloudUrl: form.cloudUrl.trim(), email: form.email.trim(), password: form.password }
    : { method: 'apiToken', cloudUrl: form.cloudUrl.trim(), token: form.token.trim() }
}
