#!/usr/bin/env bash
# Runs every fuzz target of luot-shared for FUZZ_SECONDS seconds each (default 20), one after
# another, and fails on the first crash, leak, timeout or out-of-memory.
#
#   FUZZ_SECONDS=300 fuzz/run.sh            all targets, five minutes each
#   FUZZ_SECONDS=60 fuzz/run.sh center_file  only the targets named
#
# FUZZ_SANITIZER picks the sanitizer (address by default; `none` runs faster).
# The toolchain is stable: RUSTC_BOOTSTRAP=1 lets cargo-fuzz use the nightly flags it needs.
set -euo pipefail

cd "$(dirname "$0")"
seconds="${FUZZ_SECONDS:-20}"
sanitizer="${FUZZ_SANITIZER:-address}"
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi
if [ "${#targets[@]}" -eq 0 ]; then
    echo "fuzz: no targets found" >&2
    exit 1
fi

cargo fuzz build --sanitizer "$sanitizer"

for target in "${targets[@]}"; do
    echo "== fuzz $target for ${seconds}s (sanitizer: $sanitizer)"
    mkdir -p "corpus/$target"
    corpora=("corpus/$target")
    if [ -d "seeds/$target" ]; then
        corpora+=("seeds/$target")
    fi
    options=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1)
    if [ -f "dicts/$target.dict" ]; then
        options+=(-dict="dicts/$target.dict")
    fi
    case "$target" in
        # Longer inputs sooner: each command takes a few bytes, and long sessions reach
        # day rollovers and numbers running out.
        engine_commands) options+=(-max_len=1024 -len_control=10) ;;
    esac
    if ! cargo fuzz run --sanitizer "$sanitizer" "$target" "${corpora[@]}" -- "${options[@]}"; then
        echo "fuzz target $target failed; the input is in fuzz/artifacts/$target/" >&2
        exit 1
    fi
done
echo "fuzz: no crash in ${targets[*]} (${seconds}s each)"
