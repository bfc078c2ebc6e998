import { afterEach, describe, expect, it, vi } from 'vitest'
import { IdleWatch, teammateLabel } from './people.svelte'

describe('IdleWatch', () => {
  afterEach(() => vi.useRealTimers())

  it('says idle after the quiet time, and back at the next activity, once each', () => {
    vi.useFakeTimers()
    const seen: boolean[] = []
    const watch = new IdleWatch(1000, (idle) => seen.push(idle))
    watch.activity()
    vi.advanceTimersByTime(999)
    expect(seen).toEqual([])
    watch.activity() // activity restarts the wait
    vi.advanceTimersByTime(999)
    expect(seen).toEqual([])
    vi.advanceTimersByTime(1)
    expect(seen).toEqual([true])
    vi.advanceTimersByTime(5000)
    expect(seen).toEqual([true])
    watch.activity()
    watch.activity()
    expect(seen).toEqual([true, false])
    watch.stop()
    vi.advanceTimersByTime(5000)
    expect(seen).toEqual([true, false])
  })
})

describe('IdleWatch in a browser', () => {
  it('calls the timer functions unbound (WebKit refuses them called on another object)', () => {
    const realSet = globalThis.setTimeout
    const strict = function (this: unknown, f: () => void, ms?: number) {
      if (this !== undefined && this !== globalThis) throw new TypeError('Illegal invocation')
      return realSet(f, ms)
    } as typeof setTimeout
    globalThis.setTimeout = strict
    try {
      const watch = new IdleWatch(1000, () => {})
      watch.activity()
      watch.stop()
    } finally {
      globalThis.setTimeout = realSet
    }
  })
})

describe('teammateLabel', () => {
  it('names me plainly and others with their presence', () => {
    expect(teammateLabel({ id: 'a', name: 'Ann', me: true, presence: 'available' })).toBe('Me (Ann)')
    expect(teammateLabel({ id: 'b', name: 'Nina', me: false, presence: 'dnd' })).toBe('Nina · Do not disturb')
  })
})
