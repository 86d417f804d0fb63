#!/usr/bin/env bash
# Runs BigDataAI by hand as separate service processes, the way the end-to-end test does
# (tests/BigDataAI.IntegrationTests/EndToEnd): a private RabbitMQ broker and a private Azurite in a temp folder,
# the ingestion, labeling, training (control plane) and inference hosts on 127.0.0.1:5101-5104 and a training worker
# on 5105, then the bigdataai CLI uploads the shipped MNIST sample, follows the training job (the training service
# auto-trains an MLP for 2 epochs; the CLI's identical request finds that same job) and classifies digits with the
# served model. Everything it started is stopped on exit, also on Ctrl+C or an error.
#
# Usage: scripts/run-distributed.sh [--no-build] [--keep] [--bench-trials N]
#   --no-build        use the existing Release build of the hosts and the CLI
#   --keep            keep the temp folder (broker and Azurite data, every process's log) after exit
#   --bench-trials N  instead of the flow above: run N training trials in parallel with one worker, start a second
#                     worker, run N more (other seeds), and print the throughput of each round and their ratio.
#                     BENCH_MODEL (cnn), BENCH_EPOCHS (2) and WORKER_THREADS (1: libtorch threads per worker, so two
#                     workers on two cores do not oversubscribe them) shape the trials.
# Ports can be moved with env: AMQP_PORT (5680), DIST_PORT (the broker's Erlang distribution port: AMQP_PORT + 20000,
# or AMQP_PORT - 20000 when that would pass 65535), EPMD_PORT (4380), AZURITE_PORT (10100), INGESTION_PORT (5101),
# LABELING_PORT (5102), TRAINING_PORT (5103), INFERENCE_PORT (5104), WORKER_PORT (5105; a second worker uses the next
# port). Needs rabbitmq-server, tools/node_modules/.bin/azurite-blob (scripts/install-test-deps.sh installs both), curl
# and the .NET 10 SDK.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export DOTNET_NOLOGO=1 DOTNET_CLI_TELEMETRY_OPTOUT=1

build=1
keep=0
bench_trials=0
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) build=0 ;;
    --keep) keep=1 ;;
    --bench-trials)
      shift
      [[ "${1:-}" =~ ^[1-9][0-9]*$ ]] || { echo "run-distributed: --bench-trials needs a positive number" >&2; exit 2; }
      bench_trials="$1" ;;
    -h|--help) sed -n '2,/^[^#]/{/^#/p}' "$0"; exit 0 ;;
    *) echo "run-distributed: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

# A port outside 1-65535 makes RabbitMQ (or a host) fail to start without saying why: refuse it here.
for var in AMQP_PORT DIST_PORT EPMD_PORT AZURITE_PORT INGESTION_PORT LABELING_PORT TRAINING_PORT INFERENCE_PORT WORKER_PORT; do
  value="${!var:-}"
  if [ -n "$value" ] && ! { [[ "$value" =~ ^[1-9][0-9]{0,4}$ ]] && [ "$value" -le 65535 ]; }; then
    echo "run-distributed: $var must be a port number from 1 to 65535, not '$value'" >&2
    exit 2
  fi
done
[ "${WORKER_PORT:-5105}" -lt 65535 ] || { echo "run-distributed: WORKER_PORT must be below 65535 (a second worker uses the next port)" >&2; exit 2; }
amqp_port="${AMQP_PORT:-5680}"
# RabbitMQ's own default is AMQP port + 20000; above AMQP port 45535 that is no port, so go 20000 below instead.
if [ -n "${DIST_PORT:-}" ]; then
  dist_port="$DIST_PORT"
elif [ "$amqp_port" -le 45535 ]; then
  dist_port=$((amqp_port + 20000))
else
  dist_port=$((amqp_port - 20000))
fi
epmd_port="${EPMD_PORT:-4380}"
azurite_port="${AZURITE_PORT:-10100}"
declare -A ports=(
  [Ingestion]="${INGESTION_PORT:-5101}"
  [Labeling]="${LABELING_PORT:-5102}"
  [Training]="${TRAINING_PORT:-5103}"
  [Inference]="${INFERENCE_PORT:-5104}"
  [TrainingWorker]="${WORKER_PORT:-5105}"
  [TrainingWorker2]="$(( ${WORKER_PORT:-5105} + 1 ))"
)
services=(Ingestion Labeling Training Inference TrainingWorker)
# The project folder of a host: workers belong to the training service.
host_dir() { case "$1" in TrainingWorker*) echo "services/Training/BigDataAI.TrainingWorker.Host" ;; *) echo "services/$1/BigDataAI.$1.Host" ;; esac; }
host_dll() { case "$1" in TrainingWorker*) echo "BigDataAI.TrainingWorker.Host.dll" ;; *) echo "BigDataAI.$1.Host.dll" ;; esac; }
config=Release
node="bigdataai-run-$$@localhost"

say() { echo "run-distributed: $*"; }
fail() { echo "run-distributed: $*" >&2; exit 1; }

# --- prerequisites ---
rabbitmq_server="$(command -v rabbitmq-server || echo /usr/sbin/rabbitmq-server)"
rabbitmqctl="$(command -v rabbitmqctl || echo /usr/sbin/rabbitmqctl)"
[ -x "$rabbitmq_server" ] || fail "rabbitmq-server not found: run scripts/install-test-deps.sh"
azurite="$root/tools/node_modules/.bin/azurite-blob"
[ -x "$azurite" ] || fail "$azurite not found: run scripts/install-test-deps.sh"
command -v curl >/dev/null 2>&1 || fail "curl is needed for the health checks"
declare -A port_seen=()
for port in "$amqp_port" "$dist_port" "$epmd_port" "$azurite_port" "${ports[@]}"; do
  [ -z "${port_seen[$port]:-}" ] || fail "port $port is configured twice (move one with the env variables in --help)"
  port_seen[$port]=1
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    fail "port $port is already in use on 127.0.0.1 (move it with the env variables in --help)"
  fi
done

# --- build ---
if [ "$build" -eq 1 ]; then
  for s in "${services[@]}"; do
    say "building the $s host ($config)"
    dotnet build "$(host_dir "$s")" -c "$config" -v quiet -nologo >/dev/null \
      || fail "building $(host_dir "$s") failed (run the same dotnet build to see why)"
  done
  say "building the CLI ($config)"
  dotnet build services/Cli/BigDataAI.Cli.csproj -c "$config" -v quiet -nologo >/dev/null \
    || fail "building services/Cli failed (run the same dotnet build to see why)"
fi
cli_dll="$root/services/Cli/bin/$config/net10.0/bigdataai.dll"
[ -f "$cli_dll" ] || fail "$cli_dll is missing: run without --no-build"
for s in "${services[@]}"; do
  dll="$root/$(host_dir "$s")/bin/$config/net10.0/$(host_dll "$s")"
  [ -f "$dll" ] || fail "$dll is missing: run without --no-build"
done

# --- cleanup: stop exactly what this script started ---
# Under /tmp: the broker runs as user rabbitmq, who must be able to write its folder.
tmp="$(mktemp -d /tmp/bigdataai-distributed.XXXXXX)"
chmod 777 "$tmp"
declare -A pids=()
rabbit_env=(
  RABBITMQ_NODENAME="$node"
  RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
  RABBITMQ_NODE_PORT="$amqp_port"
  RABBITMQ_DIST_PORT="$dist_port"
  RABBITMQ_MNESIA_BASE="$tmp/mnesia"
  RABBITMQ_LOG_BASE="$tmp/log"
  RABBITMQ_ENABLED_PLUGINS_FILE="$tmp/enabled_plugins"
  RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
  ERL_EPMD_PORT="$epmd_port"
  ERL_EPMD_ADDRESS=127.0.0.1
)
status=1
# Waits up to $2 seconds (default 10) for process $1 to exit after SIGTERM, then kills it.
stop_pid() {
  for _ in $(seq 1 $((${2:-10} * 5))); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.2; done
  kill -9 "$1" 2>/dev/null
  wait "$1" 2>/dev/null # reap it quietly (no "Killed" job notice)
  return 0
}
cleanup() {
  set +e
  trap - EXIT INT TERM
  for s in "${services[@]}" TrainingWorker2; do
    [ -n "${pids[$s]:-}" ] && kill "${pids[$s]}" 2>/dev/null
  done
  for s in "${services[@]}" TrainingWorker2; do
    # A host stops within a few seconds on SIGTERM; kill it if it does not.
    [ -n "${pids[$s]:-}" ] && stop_pid "${pids[$s]}"
  done
  if [ "$status" -ne 0 ]; then
    for s in "${services[@]}" TrainingWorker2; do
      [ -f "$tmp/$s.log" ] && { echo "--- last lines of the $s host's log ---"; tail -n 25 "$tmp/$s.log"; }
    done
  fi
  if [ -n "${pids[azurite]:-}" ]; then
    # Azurite closes its server on SIGTERM but its node process may stay: stop_pid ends it.
    kill "${pids[azurite]}" 2>/dev/null
    stop_pid "${pids[azurite]}" 2
  fi
  if [ -n "${pids[rabbitmq]:-}" ]; then
    env "${rabbit_env[@]}" timeout 30 "$rabbitmqctl" -n "$node" stop >/dev/null 2>&1 || kill "${pids[rabbitmq]}" 2>/dev/null
    stop_pid "${pids[rabbitmq]}"
    # The broker started its own epmd on the private port: it outlives the broker unless told to stop.
    env "${rabbit_env[@]}" epmd -port "$epmd_port" -kill >/dev/null 2>&1
  fi
  if [ "$keep" -eq 1 ]; then
    say "kept $tmp (logs: $tmp/*.log)"
  else
    rm -rf "$tmp"
  fi
  say "stopped everything it started"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Waits until "$@" succeeds, at most $1 seconds (the remaining arguments are the command); $2 names the process to watch.
wait_for() {
  local seconds="$1" pid="$2"
  shift 2
  local end=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if ! kill -0 "$pid" 2>/dev/null; then
      return 2
    fi
    [ "$SECONDS" -lt "$end" ] || return 1
    sleep 0.3
  done
}

# --- RabbitMQ and Azurite ---
say "starting RabbitMQ on 127.0.0.1:$amqp_port (node $node, data in $tmp)"
env "${rabbit_env[@]}" "$rabbitmq_server" >"$tmp/rabbitmq.out" 2>&1 &
pids[rabbitmq]=$!
say "starting Azurite on 127.0.0.1:$azurite_port"
"$azurite" --silent --location "$tmp/azurite" --blobHost 127.0.0.1 --blobPort "$azurite_port" --skipApiVersionCheck >"$tmp/azurite.out" 2>&1 &
pids[azurite]=$!

wait_for 90 "${pids[rabbitmq]}" env "${rabbit_env[@]}" "$rabbitmqctl" -n "$node" await_startup --timeout 5 \
  || { tail -n 30 "$tmp/rabbitmq.out" >&2; fail "RabbitMQ did not start (output above; log in $tmp/log)"; }
say "RabbitMQ ready"
# Any HTTP answer (403 for an unsigned request included) means Azurite is up.
wait_for 60 "${pids[azurite]}" curl -s -o /dev/null "http://127.0.0.1:$azurite_port/devstoreaccount1?comp=list" \
  || { cat "$tmp/azurite.out" >&2; fail "Azurite did not start"; }
say "Azurite ready"

# --- the four hosts ---
export ConnectionStrings__messaging="amqp://guest:guest@127.0.0.1:$amqp_port"
export ConnectionStrings__blobs="DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint=http://127.0.0.1:$azurite_port/devstoreaccount1;"
export Storage__Container="run-$(date +%Y%m%d%H%M%S)"
export Messaging__RetryIntervals__0=00:00:00.200
export DOTNET_ENVIRONMENT=Production
unset ASPNETCORE_ENVIRONMENT
# Starts host $1 (its name; TrainingWorker* are workers) in the background, with extra env from the remaining arguments.
start_host() {
  local s="$1"
  shift
  local dir="$root/$(host_dir "$s")/bin/$config/net10.0"
  # The working folder is the host's output folder: its content root, where appsettings.json (HTTP/2 only) is.
  (cd "$dir" && exec env ASPNETCORE_URLS="http://127.0.0.1:${ports[$s]}" "$@" dotnet "$(host_dll "$s")") >"$tmp/$s.log" 2>&1 &
  pids[$s]=$!
  say "started the $s host (pid ${pids[$s]}) on http://127.0.0.1:${ports[$s]}"
}
wait_healthy() {
  # /health is ready when every check passes, the message bus included; the hosts speak HTTP/2 without TLS.
  wait_for 90 "${pids[$1]}" curl -sf --http2-prior-knowledge "http://127.0.0.1:${ports[$1]}/health" \
    || fail "the $1 host did not become healthy (its log is below)"
  say "$1 healthy"
}
worker_env=(Training__Worker__Threads="${WORKER_THREADS:-0}")
[ "$bench_trials" -gt 0 ] && worker_env=(Training__Worker__Threads="${WORKER_THREADS:-1}")
for s in "${services[@]}"; do
  extra=()
  case "$s" in
    Training) [ "$bench_trials" -eq 0 ] && extra=(Training__AutoTrainModel=mlp Training__AutoTrainHyperParameters__Epochs=2) ;;
    TrainingWorker) extra=(Training__Worker__Id=worker-1 "${worker_env[@]}") ;;
  esac
  start_host "$s" "${extra[@]}"
done
for s in "${services[@]}"; do
  wait_healthy "$s"
done

# --- the flow, through the CLI ---
cli() { dotnet "$cli_dll" "$@"; }
ingestion="http://127.0.0.1:${ports[Ingestion]}"
training="http://127.0.0.1:${ports[Training]}"
inference="http://127.0.0.1:${ports[Inference]}"
images=samples/mnist/images.idx3-ubyte.gz
labels=samples/mnist/labels.idx1-ubyte.gz

if [ "$bench_trials" -gt 0 ]; then
  model="${BENCH_MODEL:-cnn}"
  epochs="${BENCH_EPOCHS:-2}"
  cli ingest --ingestion "$ingestion" --dataset mnist --images "$images" --labels "$labels" --source "samples/mnist (CC BY-SA 3.0)"
  # A warm-up trial (not measured): the first job pays for the worker's one-time start-up (libtorch, JIT).
  cli trials --training "$training" --dataset mnist --model "$model" --epochs 1 --trials 1 --seed 9000 --wait-workers 1 >/dev/null
  say "round 1: $bench_trials $model trials x $epochs epochs on 1 worker (${WORKER_THREADS:-1} libtorch thread(s) each)"
  cli trials --training "$training" --dataset mnist --model "$model" --epochs "$epochs" --trials "$bench_trials" --seed 100 --wait-workers 1 | tee "$tmp/round1.out"
  start_host TrainingWorker2 Training__Worker__Id=worker-2 "${worker_env[@]}"
  wait_healthy TrainingWorker2
  cli trials --training "$training" --dataset mnist --model "$model" --epochs 1 --trials 2 --seed 9100 --wait-workers 2 >/dev/null
  say "round 2: $bench_trials $model trials x $epochs epochs on 2 workers"
  cli trials --training "$training" --dataset mnist --model "$model" --epochs "$epochs" --trials "$bench_trials" --seed 200 --wait-workers 2 | tee "$tmp/round2.out"
  one="$(sed -n 's/^trials: .*: \([0-9.]*\) epochs\/s.*/\1/p' "$tmp/round1.out")"
  two="$(sed -n 's/^trials: .*: \([0-9.]*\) epochs\/s.*/\1/p' "$tmp/round2.out")"
  [ -n "$one" ] && [ -n "$two" ] || fail "could not read the throughput of both rounds"
  say "$(awk -v a="$one" -v b="$two" -v n="$bench_trials" -v c="$(nproc)" 'BEGIN { printf "%d parallel trials on %d cores: 1 worker %.3f epochs/s, 2 workers %.3f epochs/s, ratio %.2f", n, c, a, b, b / a }')"
  status=0
  exit 0
fi

say "\$ bigdataai ingest --ingestion $ingestion --dataset mnist ..."
cli ingest --ingestion "$ingestion" --dataset mnist --images "$images" --labels "$labels" --source "samples/mnist (CC BY-SA 3.0)"
say "\$ bigdataai train --training $training --dataset mnist --model mlp --epochs 2"
cli train --training "$training" --dataset mnist --model mlp --epochs 2

# The inference service swaps the model in when it receives ModelTrained, a moment after the job succeeded:
# until then Predict answers UNAVAILABLE, so try a few times.
say "\$ bigdataai predict --inference $inference --offset 100 --count 20 ..."
for attempt in $(seq 1 30); do
  if cli predict --inference "$inference" --images "$images" --labels "$labels" --offset 100 --count 20 >"$tmp/predict.out" 2>&1; then
    break
  fi
  grep -q "Unavailable" "$tmp/predict.out" && [ "$attempt" -lt 30 ] || { cat "$tmp/predict.out" >&2; fail "predict failed"; }
  sleep 1
done
cat "$tmp/predict.out"
status=0
say "done: four services and a training worker, one broker, one Azurite; model served by the inference process"
