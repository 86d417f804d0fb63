#!/usr/bin/env bash
# Runs the AppHost as a user would (dotnet run --project AppHost), waits until every service is healthy and prints how
# long that took, uploads the MNIST sample (the AppHost auto-trains an MLP on it), and has headless Chromium log in to
# the dashboard with the run's token and save docs/images/dashboard-resources.png and docs/images/dashboard-trace.png.
# Stops the AppHost (and so every process it started) on exit.
#
# Needs what scripts/install-test-deps.sh installs, plus Debian's chromium (installed here if missing) and npm's
# playwright-core (tools/screenshot, pinned, installed here; it downloads no browser).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export DOTNET_NOLOGO=1 DOTNET_CLI_TELEMETRY_OPTOUT=1
out="${1:-$root/docs/images}"
mkdir -p "$out"
say() { echo "dashboard-screenshot: $*"; }

scripts/install-test-deps.sh >/dev/null
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
if [ ! -x /usr/bin/chromium ]; then
  say "installing Debian's chromium"
  as_root apt-get install -y -qq --no-install-recommends chromium >/dev/null ||
    { as_root apt-get update -qq && as_root apt-get install -y -qq --no-install-recommends chromium >/dev/null; }
fi
(cd tools/screenshot && npm ci --no-audit --no-fund --loglevel=error >/dev/null)

say "building"
dotnet build AppHost -c Release -v q -nologo >/dev/null
dotnet build services/Cli -c Release -v q -nologo >/dev/null

data="$(mktemp -d /tmp/bigdataai-dashboard-XXXXXX)"
chmod 755 "$data"
log="$data/apphost.log"
key="$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
start=$(date +%s.%N)
# Job control on, so the AppHost runs in its own process group without SIGINT ignored: a non-interactive shell starts
# background commands with SIGINT ignored, every process the AppHost starts would inherit that, and the orchestrator's
# stop would then leave the service hosts behind.
set -m
BIGDATAAI_DATA="$data" dotnet run --project AppHost -c Release --no-build -- \
  --BIGDATAAI_AUTOTRAIN_MODEL mlp --AppHost:DashboardApiKey "$key" >"$log" 2>&1 &
apphost=$!
cleanup() {
  # What Ctrl+C does in a terminal: the AppHost stops every resource, then exits.
  kill -INT -- "-$apphost" 2>/dev/null || true
  wait "$apphost" 2>/dev/null || true
  # The orchestrator finishes stopping the broker, Azurite and the hosts after the AppHost has exited.
  for _ in $(seq 1 120); do
    pgrep -f "$data" >/dev/null || break
    sleep 0.5
  done
  rm -rf "$data"
}
trap cleanup EXIT

login=""
for _ in $(seq 1 600); do
  login="$(grep -o 'http://[^ ]*/login?t=[0-9a-f]*' "$log" | head -n 1 || true)"
  [ -n "$login" ] && break
  kill -0 "$apphost" 2>/dev/null || { cat "$log"; exit 1; }
  sleep 0.2
done
[ -n "$login" ] || { say "no log-in URL in the AppHost's output"; cat "$log"; exit 1; }
say "dashboard: $login"

# A service's endpoints are in its environment (Kestrel__Endpoints__*__Url, set by the AppHost).
endpoint() { # <host binary name> <endpoint name>
  local pid
  pid="$(pgrep -f "/$1\$" | head -n 1 || true)"
  [ -n "$pid" ] && tr '\0' '\n' <"/proc/$pid/environ" | sed -n "s/^Kestrel__Endpoints__$2__Url=//p"
}
hosts="BigDataAI.Ingestion.Host BigDataAI.Labeling.Host BigDataAI.Training.Host BigDataAI.TrainingWorker.Host BigDataAI.Inference.Host"
for _ in $(seq 1 900); do
  healthy=0
  for h in $hosts; do
    url="$(endpoint "$h" http || true)"
    [ -n "$url" ] && [ "$(curl -s -m 2 "$url/health" || true)" = "Healthy" ] && healthy=$((healthy + 1))
  done
  [ "$healthy" -eq 5 ] && break
  kill -0 "$apphost" 2>/dev/null || { cat "$log"; exit 1; }
  sleep 0.2
done
[ "$healthy" -eq 5 ] || { say "not every service became healthy"; exit 1; }
say "every resource healthy $(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s after dotnet run"

cli="services/Cli/bin/Release/net10.0/bigdataai"
"$cli" ingest --ingestion "$(endpoint BigDataAI.Ingestion.Host grpc)" --dataset mnist \
  --images samples/mnist/images.idx3-ubyte.gz --labels samples/mnist/labels.idx1-ubyte.gz
# dashboard.mjs waits for the auto-trained model to be swapped in (its load-model span) before the trace screenshot.
node tools/screenshot/dashboard.mjs "$login" "$key" "$out"
