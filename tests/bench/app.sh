#!/usr/bin/env bash
# `cargo xtask bench app`: runs inside xvfb-run -a dbus-run-session with APP, BENCH_HOME, RUNS.
# Per run: a fresh home, start the app, read "startup_ms=" (the UI's first interactive screen, logged
# by the shell's ui_ready command), let it idle, sum PSS over the app and its WebKit processes.
set -euo pipefail
: "${APP:?}" "${BENCH_HOME:?}"
RUNS=${RUNS:-7}
IDLE_SECONDS=${IDLE_SECONDS:-5}
export WEBKIT_DISABLE_COMPOSITING_MODE=1
eval "$(printf 'bench-keyring-password' | gnome-keyring-daemon --unlock --components=secrets)" >/dev/null

descendants() { # pid -> pid and all its descendants
  local p=$1; echo "$p"
  for c in $(pgrep -P "$p" || true); do descendants "$c"; done
}
pss_kib() { # sum of Pss over the given pids
  local total=0 v
  for p in "$@"; do
    v=$(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
    total=$((total + ${v:-0}))
  done
  echo "$total"
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

starts=(); mems=()
for i in $(seq 1 "$RUNS"); do
  home=$BENCH_HOME/run$i; mkdir -p "$home"
  HOME=$home XDG_CONFIG_HOME=$home/.config XDG_DATA_HOME=$home/.local/share XDG_CACHE_HOME=$home/.cache \
    UPZENTO_LOG=info "$APP" >"$home/out.log" 2>&1 &
  pid=$!
  ms=
  for _ in $(seq 1 600); do
    ms=$(grep -ao 'startup_ms=[0-9]*' "$home/out.log" | head -1 | cut -d= -f2 || true)
    [[ -n "$ms" ]] && break
    sleep 0.02
  done
  [[ -n "$ms" ]] || { echo "run $i: the app never became interactive" >&2; cat "$home/out.log" >&2; kill "$pid"; exit 1; }
  sleep "$IDLE_SECONDS"
  mapfile -t procs < <(descendants "$pid")
  kib=$(pss_kib "${procs[@]}")
  if [[ $i == "$RUNS" ]]; then
    for p in "${procs[@]}"; do
      printf '  %-22s %6.1f MiB PSS\n' "$(cat /proc/$p/comm 2>/dev/null)" "$(awk -v k="$(pss_kib "$p")" 'BEGIN{print k/1024}')"
    done
  fi
  kill "$pid"; wait "$pid" 2>/dev/null || true
  printf 'run %d: interactive after %d ms, idle PSS %.1f MiB over %d processes\n' "$i" "$ms" "$(awk -v k="$kib" 'BEGIN{print k/1024}')" "${#procs[@]}"
  starts+=("$ms"); mems+=("$kib")
done
start_median=$(printf '%s\n' "${starts[@]}" | median)
mem_median=$(printf '%s\n' "${mems[@]}" | median)
echo
echo "bench app ($RUNS runs, median): cold start to interactive ${start_median} ms (target < 1500);" \
  "idle memory $(awk -v k="$mem_median" 'BEGIN{printf "%.1f", k/1024}') MiB PSS (target < 200)"
