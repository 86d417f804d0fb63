#!/usr/bin/env bash
# Runs a private RabbitMQ broker together with its own epmd (Erlang's name server) on $ERL_EPMD_PORT, and stops both
# together. The AppHost runs this script as the "messaging" resource and stops it with SIGTERM.
#
# Why not let the broker start epmd itself: Erlang starts it as a daemon that outlives the broker. Why not epmd as a
# resource of its own: the orchestrator stops every resource at once, and a broker whose epmd is gone while it shuts
# down starts a new epmd daemon, which is left behind. Here epmd stops only after the broker has exited.
#
# Usage: rabbitmq-with-epmd.sh <epmd> <rabbitmq-server>
set -u
epmd="$1"
server="$2"
: "${ERL_EPMD_PORT:?ERL_EPMD_PORT must be set}"

"$epmd" -port "$ERL_EPMD_PORT" -address 127.0.0.1 &
epmd_pid=$!
# Wait until epmd answers (epmd -names asks it), so the broker registers with this one instead of starting its own.
for _ in $(seq 1 100); do
  "$epmd" -port "$ERL_EPMD_PORT" -names >/dev/null 2>&1 && break
  kill -0 "$epmd_pid" 2>/dev/null || { echo "epmd exited: is port $ERL_EPMD_PORT taken?" >&2; exit 1; }
  sleep 0.05
done

"$server" &
server_pid=$!

stop() {
  kill -TERM "$server_pid" 2>/dev/null
}
trap stop TERM INT

# A trapped signal ends the first wait early; the second waits for the broker's shutdown to finish.
wait "$server_pid"
code=$?
wait "$server_pid" 2>/dev/null
kill -TERM "$epmd_pid" 2>/dev/null
wait "$epmd_pid" 2>/dev/null
exit "$code"
