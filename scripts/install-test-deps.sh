#!/usr/bin/env bash
# Installs the servers the integration tests start as processes (there is no Docker here):
#   - RabbitMQ from Debian (rabbitmq-server), run by tests/BigDataAI.IntegrationTests/Infrastructure/RabbitMqServer.cs;
#   - strace from Debian, which tests/BigDataAI.IntegrationTests/Faults/NetworkIsolationTests.cs runs the hosts under;
#   - Azurite from npm, pinned in tools/package.json + tools/package-lock.json, installed into tools/node_modules;
#   - chromium from Debian and playwright-core from npm (pinned in tools/labeling-page-test/, installed into its
#     node_modules; it downloads no browser), which tests/BigDataAI.IntegrationTests/Labeling/LabelingPageTests.cs
#     drives the labeling page with.
# Idempotent: whatever is already in place is left alone. Needs root (or sudo) for apt-get, and node + npm.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/tools"

say() { echo "install-test-deps: $*"; }
fail() { echo "install-test-deps: $*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    fail "root is needed to run: $*"
  fi
}

have_rabbitmq() { command -v rabbitmq-server >/dev/null 2>&1 || [ -x /usr/sbin/rabbitmq-server ]; }

# --- RabbitMQ (Debian package) ---
if have_rabbitmq; then
  say "rabbitmq-server is installed"
else
  command -v apt-get >/dev/null 2>&1 || fail "rabbitmq-server is missing and apt-get is not available: install RabbitMQ 3.x yourself"
  export DEBIAN_FRONTEND=noninteractive
  # Refresh the package lists only when they do not know the package (a fresh machine has empty lists).
  if ! apt-cache show rabbitmq-server >/dev/null 2>&1; then
    say "apt-get update"
    as_root apt-get update -qq
  fi
  say "installing rabbitmq-server"
  # The package tries to start its service at install; without an init system that start is refused, which is
  # expected: the tests start their own private broker. So judge the install by the binary, not the exit code.
  if ! as_root apt-get install -y -qq --no-install-recommends rabbitmq-server; then
    if ! have_rabbitmq; then
      say "install failed; retrying after apt-get update"
      as_root apt-get update -qq
      as_root apt-get install -y -qq --no-install-recommends rabbitmq-server || true
    fi
  fi
  have_rabbitmq || fail "rabbitmq-server is still missing after apt-get install rabbitmq-server"
  say "rabbitmq-server installed"
fi

# --- strace (Debian package): the network-isolation test records every connect(2) of the hosts with it ---
if command -v strace >/dev/null 2>&1; then
  say "strace is installed"
else
  command -v apt-get >/dev/null 2>&1 || fail "strace is missing and apt-get is not available: install strace yourself"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-cache show strace >/dev/null 2>&1; then
    say "apt-get update"
    as_root apt-get update -qq
  fi
  say "installing strace"
  as_root apt-get install -y -qq --no-install-recommends strace || { as_root apt-get update -qq; as_root apt-get install -y -qq --no-install-recommends strace; }
  command -v strace >/dev/null 2>&1 || fail "strace is still missing after apt-get install strace"
fi

# --- chromium (Debian package): the labeling page's browser test runs it headless through playwright-core ---
if [ -x /usr/bin/chromium ]; then
  say "chromium is installed"
else
  command -v apt-get >/dev/null 2>&1 || fail "chromium is missing and apt-get is not available: install Chromium yourself (the test looks for /usr/bin/chromium, or \$CHROMIUM)"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-cache show chromium >/dev/null 2>&1; then
    say "apt-get update"
    as_root apt-get update -qq
  fi
  say "installing chromium"
  as_root apt-get install -y -qq --no-install-recommends chromium || { as_root apt-get update -qq; as_root apt-get install -y -qq --no-install-recommends chromium; }
  [ -x /usr/bin/chromium ] || fail "/usr/bin/chromium is still missing after apt-get install chromium"
fi

# --- Azurite (npm, pinned) ---
command -v node >/dev/null 2>&1 || fail "node is not installed (Node.js 20+ is needed to run Azurite)"
command -v npm >/dev/null 2>&1 || fail "npm is not installed (needed to install Azurite into tools/)"
wanted="$(cd "$tools" && node -p "require('./package.json').dependencies.azurite")"
installed="$(cd "$tools" && node -p "try { require('./node_modules/azurite/package.json').version } catch { '' }")"
if [ "$installed" = "$wanted" ] && [ -x "$tools/node_modules/.bin/azurite-blob" ]; then
  say "azurite $installed is installed in tools/node_modules"
else
  say "installing azurite $wanted into tools/node_modules (npm ci)"
  (cd "$tools" && npm ci --no-audit --no-fund --loglevel=error)
  [ -x "$tools/node_modules/.bin/azurite-blob" ] || fail "tools/node_modules/.bin/azurite-blob is missing after npm ci"
fi

# --- playwright-core (npm, pinned) for the labeling page's browser test ---
page_test="$tools/labeling-page-test"
wanted="$(cd "$page_test" && node -p "require('./package.json').dependencies['playwright-core']")"
installed="$(cd "$page_test" && node -p "try { require('./node_modules/playwright-core/package.json').version } catch { '' }")"
if [ "$installed" = "$wanted" ]; then
  say "playwright-core $installed is installed in tools/labeling-page-test/node_modules"
else
  say "installing playwright-core $wanted into tools/labeling-page-test/node_modules (npm ci)"
  (cd "$page_test" && npm ci --no-audit --no-fund --loglevel=error)
  [ -f "$page_test/node_modules/playwright-core/package.json" ] || fail "playwright-core is missing from tools/labeling-page-test/node_modules after npm ci"
fi
