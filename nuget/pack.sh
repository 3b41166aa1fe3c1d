#!/usr/bin/env bash
# Builds the native library in Release and packs the NuGet packages into artifacts/packages/ (git-ignored):
#   Wsss.<version>.nupkg / .snupkg        core library + libwsss_native.so (runtimes/linux-x64/native/)
#   Wsss.MLNet.<version>.nupkg / .snupkg  ML.NET 5 adapter
# Usage: nuget/pack.sh [--output DIR] [--version-suffix SUFFIX]
# The version lives in Directory.Build.props (VersionPrefix).
set -euo pipefail
cd "$(dirname "$0")/.."

OUTPUT="artifacts/packages"
SUFFIX=""
while [ $# -gt 0 ]; do
  case "$1" in
    --output) OUTPUT="$2"; shift 2 ;;
    --version-suffix) SUFFIX="$2"; shift 2 ;;
    *) echo "usage: $0 [--output DIR] [--version-suffix SUFFIX]" >&2; exit 2 ;;
  esac
done

log() { printf '[pack] %s\n' "$*" >&2; }
suffix_args=()
[ -n "$SUFFIX" ] && suffix_args=(-p:VersionSuffix="$SUFFIX")

# The package ships whatever native/build holds, so build it in Release explicitly (never a Debug leftover).
log "building libwsss_native.so (Release)"
cmake -S native -B native/build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build native/build --target wsss_native -j 2 >/dev/null

mkdir -p "$OUTPUT"
log "packing Wsss into $OUTPUT"
dotnet pack Wsss/Wsss.csproj -c Release -nologo -v quiet -o "$OUTPUT" "${suffix_args[@]}"

log "packing Wsss.MLNet into $OUTPUT"
dotnet pack Wsss.MLNet/Wsss.MLNet.csproj -c Release -nologo -v quiet -o "$OUTPUT" "${suffix_args[@]}"

ls -1 "$OUTPUT"/*.nupkg "$OUTPUT"/*.snupkg 2>/dev/null
