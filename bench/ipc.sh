#!/usr/bin/env bash
# SysV IPC bench (issue 5): a tree in its own IPC namespace holding a 16 MiB message queue (8 KiB
# messages) and a 1 GiB shm segment; checkpoint and restart times, contents verified after restart.
#   bench/ipc.sh            (QUEUE_MIB=16 SHM_MIB=1024 REPEAT=3 DIR=/dev/shm)
# Needs root, gcc, unshare; build cryo first with bin/build.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
QUEUE_MIB=${QUEUE_MIB:-16} SHM_MIB=${SHM_MIB:-1024} REPEAT=${REPEAT:-3} DIR=${DIR:-/dev/shm}
work=$(mktemp -d /tmp/cryo-ipc-bench.XXXXXX)
img="$DIR/cryo-ipc-bench.$$.img"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$work"; rm -f "$img"
}
trap cleanup EXIT
for fd in /proc/$$/fd/*; do n=${fd##*/}; [ "$n" -gt 2 ] && eval "exec $n>&-" 2>/dev/null || true; done
gcc -O2 -o "$work/ipc" bench/ipc.c
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
gone() { for _ in $(seq 300); do [ -e "/proc/$1" ] || return 0; sleep 0.1; done; return 1; }
printf '%-4s %8s %8s %s\n' run ckpt_ms rest_ms check
for run in $(seq "$REPEAT"); do
  unshare --ipc "$work/ipc" "$QUEUE_MIB" "$SHM_MIB" "$work/res" > "$work/out" 2>&1 </dev/null &
  pid=$!; pids+=("$pid")
  for _ in $(seq 600); do grep -q READY "$work/out" 2>/dev/null && break; sleep 0.1; done
  t=$(date +%s%N); CRYO_TIMING=1 bin/cryo checkpoint "$pid" -o "$img" 2> "$work/ckpt.err"; c=$(ms "$t")
  wait "$pid" 2>/dev/null || true; gone "$pid"
  t=$(date +%s%N); r=$(CRYO_TIMING=1 bin/cryo restart -d "$img" 2> "$work/rest.err"); rt=$(ms "$t")
  pids+=("$r"); rm -f "$work/res"
  kill -USR1 "$r"; for _ in $(seq 600); do [ -s "$work/res" ] && break; sleep 0.1; done
  printf '%-4s %8s %8s %s\n' "$run" "$c" "$rt" "$(cat "$work/res" 2>/dev/null || echo 'no answer')"
  kill -9 "$r"; gone "$r" || true; rm -f "$img"
done
echo "-- last run's cryo timings:"; grep timing "$work/ckpt.err" "$work/rest.err" | sed 's|.*/||'
