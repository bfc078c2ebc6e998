// When a conversation can be snoozed until, as the agent picks it: the usual moments,
// computed from `now` in local time.

export interface SnoozeChoice {
  label: string
  /** Milliseconds since 1970. */
  at: number
}

/** In an hour; this evening at 18:00 (before 17:00 only); tomorrow at 9:00; next Monday at 9:00. */
export function snoozeChoices(now: Date): SnoozeChoice[] {
  const at = (days: number, hour: number) => {
    const d = new Date(now)
    d.setDate(d.getDate() + days)
    d.setHours(hour, 0, 0, 0)
    return d.getTime()
  }
  const choices: SnoozeChoice[] = [{ label: 'For an hour', at: now.getTime() + 3_600_000 }]
  if (now.getHours() < 17) choices.push({ label: 'Until this evening (18:00)', at: at(0, 18) })
  choices.push({ label: 'Until tomorrow (9:00)', at: at(1, 9) })
  // Monday next week, whatever today is (on a Monday: a week on).
  const toMonday = ((8 - now.getDay()) % 7) || 7
  choices.push({ label: 'Until next Monday (9:00)', at: at(toMonday, 9) })
  return choices
}
