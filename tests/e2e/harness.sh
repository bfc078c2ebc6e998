#!/usr/bin/env bash
# The real-window end-to-end harness. `cargo xtask e2e` runs it inside
#   xvfb-run -a dbus-run-session -- bash tests/e2e/harness.sh
# with APP, E2E_HOME, ARTIFACTS, WD_PORT, WD_NATIVE_PORT and TAURI_DRIVER set.
# Everything it starts, it stops by PID.
set -euo pipefail
: "${APP:?}" "${E2E_HOME:?}" "${ARTIFACTS:?}" "${WD_PORT:?}" "${WD_NATIVE_PORT:?}" "${TAURI_DRIVER:?}"
here=$(cd "$(dirname "$0")" && pwd)

# A fresh home: app config, data, logs and the keyring all start empty.
export HOME=$E2E_HOME
export XDG_CONFIG_HOME=$HOME/.config XDG_DATA_HOME=$HOME/.local/share XDG_CACHE_HOME=$HOME/.cache
mkdir -p "$XDG_CONFIG_HOME" "$XDG_DATA_HOME" "$XDG_CACHE_HOME"
export UPZENTO_LOG=${UPZENTO_LOG:-info,upzento=debug,upzento_phone=debug}
# The app renders in software (src-tauri/src/rendering.rs), as for its users; screenshots come
# from the X server (lib.mjs), since WebKitWebDriver's hang in that mode.

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

wait_http() { # url what
  for _ in $(seq 1 200); do curl -sf -m 1 "$1" >/dev/null && return 0; sleep 0.05; done
  echo "harness: $2 did not come up at $1" >&2; return 1
}

start_driver() { # log file
  "$TAURI_DRIVER" --port "$WD_PORT" --native-port "$WD_NATIVE_PORT" >"$1" 2>&1 &
  pids+=($!)
  wait_http "http://127.0.0.1:$WD_PORT/status" tauri-driver
}

# The unlocked login keyring (Secret Service) of this D-Bus session.
eval "$(printf 'e2e-keyring-password' | gnome-keyring-daemon --unlock --components=secrets)"
export GNOME_KEYRING_CONTROL

# Sound: a PulseAudio of our own with null sinks (a speaker, and a microphone fed
# through a second sink), so calls have devices to open (shared recipe sip-peers/up.sh).
mkdir -p "$HOME/pulse/run" "$HOME/pulse/home"
chmod 700 "$HOME/pulse/run"
cat >"$HOME/pulse/test.pa" <<PA
.fail
load-module module-native-protocol-unix auth-anonymous=1 socket=$HOME/pulse/run/native
load-module module-null-sink sink_name=spk rate=48000 channels=2 sink_properties=device.description=TestSpeaker
load-module module-null-sink sink_name=micsrc rate=48000 channels=1 sink_properties=device.description=TestMicFeed
load-module module-remap-source source_name=mic master=micsrc.monitor source_properties=device.description=TestMic
set-default-sink spk
set-default-source mic
PA
HOME=$HOME/pulse/home XDG_RUNTIME_DIR=$HOME/pulse/run pulseaudio -n -F "$HOME/pulse/test.pa" \
  --daemonize=no --exit-idle-time=-1 --log-target=stderr >"$ARTIFACTS/pulse.log" 2>&1 &
pids+=($!)
export PULSE_SERVER=unix:$HOME/pulse/run/native
for _ in $(seq 1 100); do pactl info >/dev/null 2>&1 && break; sleep 0.05; done

# The tenant cloud, with its demo tenant.
if [[ -n "${CLOUD:-}" ]]; then
  : "${CLOUD_PORT:?}"
  "$CLOUD" serve --listen "127.0.0.1:$CLOUD_PORT" --data-dir "$HOME/cloud" --demo \
    >"$ARTIFACTS/cloud.log" 2>&1 &
  pids+=($!)
  export CLOUD_URL="http://127.0.0.1:$CLOUD_PORT"
  wait_http "$CLOUD_URL/healthz" upzento-cloud
fi

export APP WD_PORT ARTIFACTS
# The inbox and notification tests start and stop a cloud of their own (with its peers).
export CLOUD_BIN=${CLOUD:-}
cd "$here"

status=0
# E2E_ONLY=name runs just name.test.mjs (while working on one part); E2E_ONLY=a,b runs
# those, in the suite's order (to see what one leaves behind for the next).
wanted() { [[ -z "${E2E_ONLY:-}" || ",${E2E_ONLY// /}," == *",$1,"* ]]; }
start_driver "$ARTIFACTS/tauri-driver.log"
if wanted app; then node --test --test-concurrency=1 app.test.mjs || status=$?; fi
if [[ -n "$CLOUD_BIN" ]]; then
  if wanted launch; then node --test --test-concurrency=1 launch.test.mjs || status=$?; fi
  if wanted design; then node --test --test-concurrency=1 design.test.mjs || status=$?; fi
  if wanted inbox; then node --test --test-concurrency=1 inbox.test.mjs || status=$?; fi
  if wanted people; then node --test --test-concurrency=1 people.test.mjs || status=$?; fi
  if wanted campaigns; then node --test --test-concurrency=1 campaigns.test.mjs || status=$?; fi
  if wanted notify; then node --test --test-concurrency=1 notify.test.mjs || status=$?; fi
  if wanted phone; then node --test --test-concurrency=1 phone.test.mjs || status=$?; fi
fi
kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true; unset 'pids[-1]'
if ! wanted no-keyring; then
  cp "$XDG_DATA_HOME"/com.upzento.phone/logs/*.log "$ARTIFACTS/" 2>/dev/null || true
  exit $status
fi

# The same app on a D-Bus session without any Secret Service: it must refuse to sign in.
cp "$here/session-no-secrets.conf" "$HOME/session-no-secrets.conf"
sed -i "s|@DIR@|$HOME|" "$HOME/session-no-secrets.conf"
dbus-run-session --config-file="$HOME/session-no-secrets.conf" -- bash -c '
  set -euo pipefail
  "$TAURI_DRIVER" --port "$WD_PORT" --native-port "$WD_NATIVE_PORT" >"$ARTIFACTS/tauri-driver-no-keyring.log" 2>&1 &
  drv=$!
  trap "kill $drv 2>/dev/null || true; wait $drv 2>/dev/null || true" EXIT
  for _ in $(seq 1 200); do curl -sf -m 1 "http://127.0.0.1:$WD_PORT/status" >/dev/null && break; sleep 0.05; done
  node --test --test-concurrency=1 no-keyring.test.mjs
' || status=$?

cp "$XDG_DATA_HOME"/com.upzento.phone/logs/*.log "$ARTIFACTS/" 2>/dev/null || true
exit $status
