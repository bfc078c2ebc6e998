import { mount } from 'svelte'
import './tokens.css'
import './app.css'
import { theme } from './lib/theme.svelte'
import App from './App.svelte'
import QuickReply from './components/QuickReply.svelte'
import { quickReplyId } from './lib/routes'
import { mendLanguage } from './lib/locale'

// Before anything formats: a C locale's "C" is no language tag (see lib/locale.ts).
mendLanguage(navigator)

// Before the first paint: no flash of the wrong theme.
theme.start()

// The shell opens the quick-reply window on `#/quick-reply/<conversation>`.
const target = document.getElementById('app')!
const quick = quickReplyId(location.hash)
const app = quick ? mount(QuickReply, { target, props: { id: quick } }) : mount(App, { target })

export default app
