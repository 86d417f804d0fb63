#!/usr/bin/env bash
# Peak memory (VmHWM) of an ingestion host, a fresh process per file, uploading the MNIST sample (samples/mnist,
# 10,000 digits) as CSV at several scales (SCALES, default "1 10 100": 10,000, 100,000 and 1,000,000 rows). Starts a
# private RabbitMQ and Azurite and stops them at the end. Needs: bash scripts/install-test-deps.sh, the host built
# (dotnet build services/Ingestion/BigDataAI.Ingestion.Host -c Release) and npm (installs @grpc/grpc-js into a
# temporary folder). A benchmark, not a test.
# Usage: SCALES="1 10" bash tools/ingest-memory/measure.sh   (one line per scale, then the ratios to the first)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
work="$(mktemp -d /tmp/ingest-memory.XXXXXX)"
scales="${SCALES:-1 10 100}"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

(cd "$work" && npm init -y >/dev/null && npm install --silent @grpc/grpc-js@1 @grpc/proto-loader@0 >/dev/null)
cp "$root/tools/ingest-memory/upload.js" "$work/"

blob_port=$(free_port); amqp_port=$(free_port); dist_port=$(free_port)
mkdir -p "$work/azurite" "$work/rabbit"
"$root/tools/node_modules/.bin/azurite-blob" --silent --location "$work/azurite" --blobHost 127.0.0.1 --blobPort "$blob_port" --skipApiVersionCheck >/dev/null &
pids+=($!)
# The broker runs as user rabbitmq: its folder must be reachable and writable by that user.
chmod 755 "$work"; chmod 777 "$work/rabbit"
RABBITMQ_MNESIA_BASE="$work/rabbit/mnesia" RABBITMQ_LOG_BASE="$work/rabbit/log" RABBITMQ_NODENAME="ingestmem$amqp_port@localhost" \
  RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT="$amqp_port" RABBITMQ_DIST_PORT="$dist_port" \
  RABBITMQ_ENABLED_PLUGINS_FILE="$work/rabbit/enabled_plugins" rabbitmq-server >"$work/rabbit.log" 2>&1 &
pids+=($!)
for _ in $(seq 90); do (echo >/dev/tcp/127.0.0.1/"$amqp_port") 2>/dev/null && break; sleep 1; done
(echo >/dev/tcp/127.0.0.1/"$amqp_port") 2>/dev/null || { echo "RabbitMQ did not start:" >&2; tail -20 "$work/rabbit.log" >&2; exit 1; }

key="Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
export ConnectionStrings__blobs="DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=$key;BlobEndpoint=http://127.0.0.1:$blob_port/devstoreaccount1;"
export ConnectionStrings__messaging="amqp://guest:guest@127.0.0.1:$amqp_port"
export Kestrel__EndpointDefaults__Protocols=Http2 Logging__LogLevel__Default=Warning
host="$root/services/Ingestion/BigDataAI.Ingestion.Host/bin/Release/net10.0/BigDataAI.Ingestion.Host.dll"
declare -A peak
for scale in $scales; do
  python3 "$root/tools/ingest-memory/make-csv.py" "$root/samples/mnist" "$scale" "$work/mnist-x$scale.csv"
  port=$(free_port)
  Storage__Container="bench$scale" Ingestion__TempDirectory="$work" ASPNETCORE_URLS="http://127.0.0.1:$port" dotnet "$host" >"$work/host-$scale.log" 2>&1 &
  hpid=$!; pids+=($hpid)
  for _ in $(seq 120); do (echo >/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.5; done
  sleep 2
  idle=$(awk '/VmHWM/ {print $2}' /proc/$hpid/status)
  if ! reply=$(node "$work/upload.js" "$root/protos" "127.0.0.1:$port" "mnist-x$scale" "$work/mnist-x$scale.csv"); then
    tail -30 "$work/host-$scale.log" >&2
    exit 1
  fi
  hwm=$(awk '/VmHWM/ {print $2}' /proc/$hpid/status)
  peak[$scale]=$hwm
  echo "scale ${scale}x: $(stat -c %s "$work/mnist-x$scale.csv") bytes, reply $reply, host VmHWM idle $((idle / 1024)) MiB, after upload $((hwm / 1024)) MiB"
  kill "$hpid"; wait "$hpid" 2>/dev/null || true
  rm -f "$work/mnist-x$scale.csv"
done
first=${scales%% *}
for scale in $scales; do
  python3 -c "print('peak ${scale}x / ${first}x = %.2f' % (${peak[$scale]} / ${peak[$first]}))"
done
