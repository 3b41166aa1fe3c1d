#!/usr/bin/env bash
# One entry point for users and CI: restores, builds, runs things. Only the .NET SDK is needed: the NuGet
# restore brings TorchSharp with its CPU libtorch, SkiaSharp with its native assets, and Microsoft.ML.
#   ./wsss.sh quickstart [options]   the main job (see README)
#   ./wsss.sh test                   every test; last line "tests: N passed, N failed, N skipped"
#   ./wsss.sh build                  the .NET build only
#   ./wsss.sh cli <command> [args]   any command of the command-line tool (train, predict, bench ...)
#   ./wsss.sh pack [options]         NuGet packages into artifacts/packages (see nuget/pack.sh)
# Build messages go to stderr, so that a command's stdout (e.g. `cli evaluate --json`) is its own output only.
set -euo pipefail
cd "$(dirname "$0")"

CONFIGURATION="${WSSS_CONFIGURATION:-Release}"

log() { printf '[wsss] %s\n' "$*" >&2; }

ensure_sdk() {
  if ! command -v dotnet >/dev/null 2>&1; then
    log "the .NET SDK 10 is required (https://learn.microsoft.com/dotnet/core/install/linux-debian)"
    exit 1
  fi
}

build() {
  ensure_sdk
  log "building the .NET projects ($CONFIGURATION)"
  dotnet build Wsss.MLNet.sln -c "$CONFIGURATION" -nologo -v quiet -clp:ErrorsOnly 1>&2
}

run_cli() {
  dotnet "Wsss.Samples/bin/$CONFIGURATION/net10.0/Wsss.Samples.dll" "$@"
}

run_tests() {
  build
  local log_file
  log_file=$(mktemp)
  set +e
  # Test classes run two at a time (assembly attribute); a hung test fails the run instead of stalling CI.
  dotnet test Wsss.MLNet.sln -c "$CONFIGURATION" --no-build -nologo --blame-hang-timeout 15m \
    --logger "console;verbosity=normal" 2>&1 | tee "$log_file"
  local status=${PIPESTATUS[0]}
  set -e
  # Sum the per-assembly summary blocks of the console logger ("     Passed: 78", "     Failed: 1", "    Skipped: 2").
  local totals
  totals=$(awk '/^ +(Passed|Failed|Skipped): [0-9]+ *$/ {gsub(":", "", $1); n[$1] += $2}
                END {printf "%d %d %d", n["Failed"], n["Passed"], n["Skipped"]}' "$log_file")
  rm -f "$log_file"
  read -r failed passed skipped <<<"$totals"
  if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
    failed=1 # the run broke (build, crash, hang) without reporting a failed test: never report green
  fi
  echo "tests: ${passed} passed, ${failed} failed, ${skipped} skipped"
  [ "$failed" -eq 0 ]
}

cmd="${1:-}"
shift || true
case "$cmd" in
  build) build ;;
  test) run_tests ;;
  quickstart) build; run_cli quickstart "$@" ;;
  cli) build; run_cli "$@" ;;
  pack) ensure_sdk; nuget/pack.sh "$@" ;;
  *) echo "usage: $0 {quickstart|test|build|cli <command> [args]|pack}" >&2; exit 2 ;;
esac
