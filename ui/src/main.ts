import { mount } from 'svelte'
import './app.css'
import App from './App.svelte'
import QuickReply from './components/QuickReply.svelte'
import { quickReplyId } from './lib/routes'

// The shell opens the quick-reply window on `#/quick-reply/<conversation>`.
const target = document.getElementById('app')!
const quick = quickReplyId(location.hash)
const app = quick ? mount(QuickReply, { target, props: { id: quick } }) : mount(App, { target })

export default app
