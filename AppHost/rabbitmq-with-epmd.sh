#!/usr/bin/env bash
# Runs a private RabbitMQ broker together with its own epmd (Erlang's name server) on $ERL_EPMD_PORT, and stops both
# together. The AppHost runs this script as the "messaging" resource and stops it with SIGTERM.
#
# Why not let the broker start epmd itself: Erlang starts it as a daemon that outlives the broker. Why not epmd as a
# resource of its own: the orchestrator stops every resource at once, and a broker whose epmd is gone while it shuts
# down starts a new epmd daemon, which is left behind. Here epmd stops only after the broker has exited.
#
# Run as root, the broker runs as the user rabbitmq (as Debian's /usr/sbin/rabbitmq-server would), but by exec rather
# than through su: su -c puts the broker in a session of its own, out of reach of the stop signal.
#
# Usage: rabbitmq-with-epmd.sh <epmd> <rabbitmq-server script>
set -u
epmd="$1"
server="$2"
: "${ERL_EPMD_PORT:?ERL_EPMD_PORT must be set}"
: "${RABBITMQ_MNESIA_BASE:?RABBITMQ_MNESIA_BASE must be set}"

epmd_pid=""
server_pid=""
stopping=""
stop() {
  stopping=1
  [ -n "$server_pid" ] && kill -TERM "$server_pid" 2>/dev/null
}
trap stop TERM INT
finish() {
  [ -n "$epmd_pid" ] && kill -TERM "$epmd_pid" 2>/dev/null && wait "$epmd_pid" 2>/dev/null
  exit "$1"
}

folder="$(dirname "$RABBITMQ_MNESIA_BASE")"
mkdir -p "$folder"
run_as=()
if [ "$(id -u)" -eq 0 ] && id rabbitmq >/dev/null 2>&1; then
  chown -R rabbitmq:rabbitmq "$folder"
  chmod 700 "$folder"
  home="$(getent passwd rabbitmq | cut -d: -f6)"
  run_as=(setpriv --reuid=rabbitmq --regid=rabbitmq --init-groups env "HOME=${home:-/var/lib/rabbitmq}")
  if ! "${run_as[@]}" test -w "$folder"; then
    echo "The broker runs as the user rabbitmq, which cannot reach $folder: every folder above it must be searchable" \
      "by others (chmod o+x), or set BIGDATAAI_DATA to a folder under /tmp." >&2
    exit 1
  fi
fi

"$epmd" -port "$ERL_EPMD_PORT" -address 127.0.0.1 &
epmd_pid=$!
# Wait until epmd answers (epmd -names asks it), so the broker registers with this one instead of starting its own.
answered=""
for _ in $(seq 1 100); do
  [ -n "$stopping" ] && finish 0
  if "$epmd" -port "$ERL_EPMD_PORT" -names >/dev/null 2>&1; then answered=1; break; fi
  kill -0 "$epmd_pid" 2>/dev/null || { echo "epmd exited at start: is port $ERL_EPMD_PORT taken?" >&2; exit 1; }
  sleep 0.05
done
[ -n "$answered" ] || { echo "epmd did not answer on port $ERL_EPMD_PORT within 5 s" >&2; finish 1; }

"${run_as[@]}" "$server" &
server_pid=$!
[ -n "$stopping" ] && kill -TERM "$server_pid" 2>/dev/null

# A trapped signal ends a wait early; wait again until the broker's own script has stopped the VM and exited.
code=0
while kill -0 "$server_pid" 2>/dev/null; do
  wait "$server_pid"
  code=$?
done
finish "$code"
