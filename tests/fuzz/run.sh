#!/bin/sh
# Builds every libFuzzer target tests/fuzz/fuzz_*.c and runs each for
# FUZZ_SECONDS (default 20), starting from its seed corpus
# tests/fuzz/corpus/NAME/. Usage: sh tests/fuzz/run.sh [NAME...]
#
# Targets are discovered, not listed, so a new fuzz_*.c is built and run
# without editing this script. Each is linked with every source of
# policy/ and conf/ (pure modules that need only Jansson and libcrypto),
# never gateway/ or upstream/: a parser that starts to depend on sockets
# or curl fails to link here, which is the point.
#
# Generated inputs go to a scratch copy of the corpus under build/fuzz/, so
# the repository only ever holds the seeds and reproducers someone chose to
# keep. A crash, leak, timeout or out-of-memory input is written to
# build/fuzz/crashes/ and fails the run; so does a missing clang or
# libFuzzer runtime, because a fuzz step that skips proves nothing.
set -u
cd "$(dirname "$0")/../.."

CC=${FUZZ_CC:-clang}
secs=${FUZZ_SECONDS:-20}
out=build/fuzz
# -O1 keeps the fuzzer fast while line numbers in reports stay usable.
CFLAGS="-std=c11 -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all"
CPPFLAGS="-D_GNU_SOURCE -I."
# The Makefile's warning set, so a target is held to the same code; not
# -Werror, which is the build's job (make CI=1), not the fuzzer's.
WARN="-Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla -Wformat=2 -Wwrite-strings -Wcast-qual -Wundef"
LIBS="-ljansson -lcrypto"

die() {
    echo "fuzz: $*" >&2
    exit 2
}

case $secs in
    ''|*[!0-9]*) die "FUZZ_SECONDS must be a whole number of seconds, got '$secs'" ;;
esac
command -v "$CC" >/dev/null 2>&1 ||
    die "'$CC' not found: install clang and libclang-rt-14-dev (apt-get install clang libclang-rt-14-dev)"

mkdir -p "$out/obj" "$out/crashes" || die "cannot create $out"

# A trial link proves the runtime is there: clang without libclang-rt-14-dev
# compiles fine and only fails when linking libFuzzer's main.
printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
    'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);' \
    'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }' \
    > "$out/probe.c"
if ! $CC $CFLAGS "$out/probe.c" -o "$out/probe" >"$out/probe.log" 2>&1; then
    cat "$out/probe.log" >&2
    die "'$CC' cannot link a libFuzzer target: install libclang-rt-14-dev"
fi

# The library is compiled once with the fuzzer's instrumentation and
# linked into every target.
objs=""
for src in policy/*.c conf/*.c; do
    [ -f "$src" ] || continue
    obj="$out/obj/$(echo "$src" | tr / _).o"
    if ! $CC $CPPFLAGS $CFLAGS $WARN -c "$src" -o "$obj"; then
        die "cannot compile $src"
    fi
    objs="$objs $obj"
done

if [ $# -gt 0 ]; then
    names="$*"
else
    names=""
    for f in tests/fuzz/fuzz_*.c; do
        [ -f "$f" ] || continue
        n=${f#tests/fuzz/fuzz_}
        names="$names ${n%.c}"
    done
fi
[ -n "$names" ] || die "no tests/fuzz/fuzz_*.c target found"

passed=0
failed=0
summary=""
for name in $names; do
    src=tests/fuzz/fuzz_$name.c
    bin=$out/fuzz_$name
    log=$out/$name.log
    corpus=$out/corpus/$name
    seeds=tests/fuzz/corpus/$name

    echo "== fuzz_$name: ${secs}s"
    if [ ! -f "$src" ]; then
        echo "fuzz_$name: no such target $src" >&2
        failed=$((failed + 1))
        summary="$summary
  $name: FAILED (no source)"
        continue
    fi
    if ! $CC $CPPFLAGS $CFLAGS $WARN "$src" $objs $LIBS -o "$bin"; then
        echo "fuzz_$name: build failed" >&2
        failed=$((failed + 1))
        summary="$summary
  $name: FAILED (build)"
        continue
    fi
    rm -rf "$corpus"
    mkdir -p "$corpus"
    if [ -d "$seeds" ]; then
        cp -R "$seeds/." "$corpus/"
    else
        echo "fuzz_$name: warning: no seed corpus in $seeds, starting empty" >&2
    fi

    # -artifact_prefix puts any crashing input straight into crashes/;
    # clearing this target's old ones first makes every file there new.
    rm -f "$out/crashes/$name-"*
    "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$out/crashes/$name-" \
        "$corpus" >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    new=$(ls "$out/crashes" | grep "^$name-")
    if [ $rc -eq 0 ] && [ -z "$new" ] && [ -n "$execs" ]; then
        passed=$((passed + 1))
        echo "fuzz_$name: ok, $execs executions"
        summary="$summary
  $name: ok, $execs executions"
    else
        failed=$((failed + 1))
        # The sanitizer's report is the useful part of the log.
        grep -E -A40 '^==[0-9]+==ERROR|invariant failed|runtime error|ALARM|out-of-memory' \
            "$log" | head -n 60 >&2
        for f in $new; do
            echo "fuzz_$name: reproducer $out/crashes/$f (rerun: $bin $out/crashes/$f)" >&2
        done
        echo "fuzz_$name: FAILED (exit $rc, ${execs:-no} executions; full log $log)" >&2
        summary="$summary
  $name: FAILED, ${execs:-no} executions"
    fi
done

echo "== fuzz summary:$summary"
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
