#!/usr/bin/env bash
# THE test command: installs the test servers, builds and runs every test project of BigDataAI.sln in Release,
# writes one .trx per test project into TestResults/, and ends with exactly one line "N passed, N failed".
# Exits non-zero when the build failed, when any test failed, or when no test ran.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export DOTNET_NOLOGO=1 DOTNET_CLI_TELEMETRY_OPTOUT=1

"$root/scripts/install-test-deps.sh"

results="$root/TestResults"
rm -rf "$results"
mkdir -p "$results"

set +e
# Build the whole solution first: the end-to-end tests run the service hosts and the CLI as processes from their
# Release output, and `dotnet test` alone builds only what the test projects reference.
dotnet build BigDataAI.sln -c Release
status=$?
if [ "$status" -eq 0 ]; then
  dotnet test BigDataAI.sln -c Release --no-build --results-directory "$results" --logger trx --logger "console;verbosity=normal"
  status=$?
fi
set -e

passed=0
failed=0
files=0
shopt -s nullglob
for trx in "$results"/*.trx; do
  counters="$(grep -o '<Counters [^>]*>' "$trx" | head -n 1 || true)"
  if [ -z "$counters" ]; then
    echo "test.sh: $trx has no <Counters>: counting it as one failure" >&2
    failed=$((failed + 1))
    continue
  fi
  count() { local n; n="$(echo "$counters" | sed -n "s/.* $1=\"\([0-9]*\)\".*/\1/p")"; echo "${n:-0}"; }
  files=$((files + 1))
  passed=$((passed + $(count passed)))
  # Errors, timeouts and aborted runs are failures too.
  failed=$((failed + $(count failed) + $(count error) + $(count timeout) + $(count aborted)))
  # Name each failed test again here, next to the summary: in the interleaved console output it is easily lost.
  grep -o '<UnitTestResult [^>]*outcome="\(Failed\|Error\|Timeout\|Aborted\)"[^>]*>' "$trx" \
    | sed -n 's/.* testName="\([^"]*\)".* outcome="\([^"]*\)".*/test.sh: \2: \1/p' >&2 || true
done

code=0
if [ "$status" -ne 0 ]; then
  echo "test.sh: dotnet test exited with $status (a build error, a failing test or a crashed test host; see above)" >&2
  code=1
fi
if [ "$failed" -gt 0 ]; then
  code=1
fi
if [ "$passed" -eq 0 ] && [ "$failed" -eq 0 ]; then
  echo "test.sh: no test ran ($files result files in $results)" >&2
  code=1
fi
echo "$passed passed, $failed failed"
exit "$code"
