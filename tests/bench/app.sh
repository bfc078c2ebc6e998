#!/usr/bin/env bash
# `cargo xtask bench app`: runs inside xvfb-run -a dbus-run-session with APP, FLOOR, BENCH_HOME, RUNS.
# Per run: a fresh home, start the app, read "startup_ms=" (the UI's first interactive screen, logged
# by the shell's ui_ready command), let it idle, sum PSS over the app and its WebKit processes.
# Then the same for FLOOR, an empty WebKit window of the same size (src-tauri/examples/floor.rs):
# what GTK, WebKitGTK and the GL stack cost on this machine before any app code runs.
set -euo pipefail
: "${APP:?}" "${FLOOR:?}" "${BENCH_HOME:?}"
RUNS=${RUNS:-7}
FLOOR_RUNS=${FLOOR_RUNS:-3}
IDLE_SECONDS=${IDLE_SECONDS:-5}
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
mib() { awk -v k="$1" 'BEGIN{printf "%.1f", k/1024}'; }

# measure NAME BINARY READY_PATTERN SHOW_PROCESSES -> "kib ready" (ready: what followed "=" in the
# pattern's match, the start-up ms for the app)
measure() {
  local name=$1 bin=$2 pattern=$3 show=$4 home pid ms= kib
  home=$(mktemp -d "$BENCH_HOME/$name.XXXX")
  HOME=$home XDG_CONFIG_HOME=$home/.config XDG_DATA_HOME=$home/.local/share XDG_CACHE_HOME=$home/.cache \
    UPZENTO_LOG=info "$bin" >"$home/out.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 600); do
    ms=$(grep -ao "$pattern" "$home/out.log" | head -1 | sed 's/.*=//' || true)
    [[ -n "$ms" ]] && break
    sleep 0.02
  done
  [[ -n "$ms" ]] || { echo "$name never became ready" >&2; cat "$home/out.log" >&2; kill "$pid"; exit 1; }
  sleep "$IDLE_SECONDS"
  mapfile -t procs < <(descendants "$pid")
  kib=$(pss_kib "${procs[@]}")
  if [[ $show == yes ]]; then
    for p in "${procs[@]}"; do
      printf '  %-22s %6s MiB PSS\n' "$(cat /proc/$p/comm 2>/dev/null)" "$(mib "$(pss_kib "$p")")" >&2
    done
  fi
  kill "$pid"; wait "$pid" 2>/dev/null || true
  echo "$kib $ms"
}

starts=(); mems=(); floors=()
for i in $(seq 1 "$RUNS"); do
  read -r kib ms < <(measure app "$APP" 'startup_ms=[0-9]*' "$([[ $i == "$RUNS" ]] && echo yes || echo no)")
  printf 'run %d: interactive after %d ms, idle PSS %s MiB\n' "$i" "$ms" "$(mib "$kib")"
  starts+=("$ms"); mems+=("$kib")
done
for i in $(seq 1 "$FLOOR_RUNS"); do
  read -r kib _ < <(measure floor "$FLOOR" 'floor window ready' "$([[ $i == "$FLOOR_RUNS" ]] && echo yes || echo no)")
  printf 'floor run %d: an empty WebKit window, idle PSS %s MiB\n' "$i" "$(mib "$kib")"
  floors+=("$kib")
done
start_median=$(printf '%s\n' "${starts[@]}" | median)
mem_median=$(printf '%s\n' "${mems[@]}" | median)
floor_median=$(printf '%s\n' "${floors[@]}" | median)
echo
echo "bench app ($RUNS runs, median): cold start to interactive ${start_median} ms (target < 1500);" \
  "idle memory $(mib "$mem_median") MiB PSS (target < 200)"
echo "  of which an empty WebKit window of the same size costs $(mib "$floor_median") MiB ($FLOOR_RUNS runs," \
  "median): the app's own share is $(mib "$((mem_median - floor_median))") MiB"
