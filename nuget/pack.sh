#!/usr/bin/env bash
# Packs the NuGet packages into artifacts/packages/ (git-ignored); all managed, no native asset of the project's own:
#   Wsss.<version>.nupkg / .snupkg        core library (depends on TorchSharp and SkiaSharp; buildTransitive/ holds the
#                                         old-libstdc++ step for consumers' apps)
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

mkdir -p "$OUTPUT"
log "packing Wsss into $OUTPUT"
dotnet pack Wsss/Wsss.csproj -c Release -nologo -v quiet -o "$OUTPUT" "${suffix_args[@]}"

log "packing Wsss.MLNet into $OUTPUT"
dotnet pack Wsss.MLNet/Wsss.MLNet.csproj -c Release -nologo -v quiet -o "$OUTPUT" "${suffix_args[@]}"

ls -1 "$OUTPUT"/*.nupkg "$OUTPUT"/*.snupkg 2>/dev/null
