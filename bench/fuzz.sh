#!/usr/bin/env bash
# bench/fuzz.sh: the image reader and validator under Jazzer (issue 16, "Fuzzed reader").
#
#   bench/fuzz.sh [SECONDS]    fuzz for SECONDS (default 300), then print inputs run, exec/s and findings
#   bench/fuzz.sh --seeds      make the seed inputs again from real images (needs root, gcc, python3)
#
# The target (cryo.image.ImageFuzzer, the standalone driver's face of cryo.image.ImageFuzzTest) feeds each
# input, with a correct TAIL appended, to Restart.validate: exactly what cryo restart runs on an image before
# it creates anything. Any outcome but an Image or an ImageException with a one-line message is a finding;
# so is an input taking a second or more (-timeout=1) or an allocation past the 256 MiB heap (-Xmx256m).
# Each finding is copied into src/test/resources/cryo/image/ImageFuzzTestInputs/image/, where bin/test
# replays it from then on (Jazzer's regression mode). The corpus the fuzzer grows is kept in target/fuzz.
#
# The seeds (seed-* in that directory) are real images of processes checkpointed here, of every feature,
# with their memory (PAGES) and other bulk data dropped where the image stays valid without (FuzzSeeds).
# Run from anywhere; JDK 25 as bin/test finds it (CRYO_JAVA_HOME). Every process started is killed by pid.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd) || exit 1
cd "$ROOT" || exit 1
export JAVA_HOME=${CRYO_JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}
JAVA=$JAVA_HOME/bin/java
INPUTS=$ROOT/src/test/resources/cryo/image/ImageFuzzTestInputs/image
OUT=$ROOT/target/fuzz
usage() { awk 'NR == 1 { next } !/^#/ { exit } { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"; }

SECONDS_TO_RUN=300 SEEDS=0
for a in "$@"; do
  case $a in
    --seeds) SEEDS=1 ;;
    -h|--help) usage; exit 0 ;;
    *) [[ $a =~ ^[1-9][0-9]*$ ]] && SECONDS_TO_RUN=$a || { echo "fuzz.sh: unknown argument '$a'" >&2; usage >&2; exit 2; } ;;
  esac
done
[ -x "$JAVA" ] || { echo "fuzz.sh: JDK 25 not found at $JAVA_HOME (set CRYO_JAVA_HOME)" >&2; exit 1; }

mkdir -p "$OUT"
echo "fuzz.sh: building (mvn test-compile)" >&2
mvn -B -q test-compile dependency:build-classpath -Dmdep.includeScope=test -Dmdep.outputFile="$OUT/classpath.txt" >"$OUT/build.log" 2>&1 \
  || { cat "$OUT/build.log" >&2; echo "fuzz.sh: build failed" >&2; exit 1; }
CP=$ROOT/target/classes:$ROOT/target/test-classes:$(cat "$OUT/classpath.txt")

# ---- seeds ---------------------------------------------------------------------------------------
PIDS=()
kill_tree() {   # kill -9 a process and its descendants, by pid
  local p=$1 c
  for c in $(cat /proc/"$p"/task/*/children 2>/dev/null); do kill_tree "$c"; done
  kill -9 "$p" 2>/dev/null
}
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill_tree "$p"; done
  [ -n "${WORK:-}" ] && rm -rf "$WORK"
  [ -n "${IPC_BEFORE:-}" ] && remove_new_ipc
}
remove_new_ipc() {   # the SysV objects the ipc fixture made (those that were not there before), by id
  local kind id
  for kind in q m s; do
    for id in $(ipcs -$kind | awk 'NR > 3 && $2 ~ /^[0-9]+$/ { print $2 }'); do
      grep -qx "$kind $id" <<<"$IPC_BEFORE" || ipcrm -$kind "$id" 2>/dev/null
    done
  done
}
start() {   # start NAME CMD...: CMD in WORK, stdin a FIFO held open here, output in NAME.out; sets PID
  local name=$1; shift
  mkfifo "$WORK/$name.in"
  ( for fd in $(ls /proc/$BASHPID/fd); do [ "$fd" -gt 2 ] && eval "exec $fd>&-"; done
    cd "$WORK" && exec "$@" <"$WORK/$name.in" >"$WORK/$name.out" 2>"$WORK/$name.err" ) &
  PID=$!
  disown "$PID"   # no job notices: its end is the checkpoint's doing
  PIDS+=("$PID")
  exec {HOLD}>"$WORK/$name.in"   # the fixture's stdin stays open (EOF would make it quit)
}
ready() {   # ready NAME: wait (10 s at most) for a line starting with READY
  local i
  for i in $(seq 100); do grep -q '^READY' "$WORK/$1.out" 2>/dev/null && return 0; sleep 0.1; done
  echo "fuzz.sh: $1 did not get ready: $(head -c 300 "$WORK/$1.err")" >&2
  return 1
}
image() {   # image NAME PID [checkpoint options]: checkpoint the tree of PID into WORK/NAME.img
  local name=$1 pid=$2; shift 2
  if ! CRYO_CP=$ROOT/target/classes "$ROOT/bin/cryo" checkpoint "$pid" -o "$WORK/$name.img" "$@" 2>"$WORK/$name.cryo"; then
    echo "fuzz.sh: no seed '$name': $(tail -1 "$WORK/$name.cryo")" >&2
  fi
  kill_tree "$pid"
}
fixture() {   # fixture NAME [checkpoint options] -- C-FIXTURE ARGS...
  local name=$1 opts=(); shift
  while [ "$1" != "--" ]; do opts+=("$1"); shift; done; shift
  local exe=$WORK/bin/$1; shift
  [ -x "$exe" ] || gcc -O1 -o "$exe" "$ROOT/src/test/c/$(basename "$exe").c" -lpthread -lrt || return
  start "$name" "$exe" "$@" && ready "$name" && image "$name" "$PID" "${opts[@]}"
}

if [ "$SEEDS" = 1 ]; then
  [ "$(id -u)" -eq 0 ] || { echo "fuzz.sh --seeds: must run as root" >&2; exit 1; }
  WORK=$(mktemp -d /tmp/cryo-fuzz-seeds.XXXXXX) || exit 1
  IPC_BEFORE=$(for k in q m s; do ipcs -$k | awk -v k=$k 'NR > 3 && $2 ~ /^[0-9]+$/ { print k, $2 }'; done)
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  mkdir -p "$WORK/bin" "$WORK/d-fifo" "$WORK/d-ghost" "$WORK/d-tmpfile" "$WORK/d-inotify"
  cat >"$WORK/tiny.c" <<'EOF'
#include <stdio.h>
#include <unistd.h>
int main(void) { printf("READY %d\n", getpid()); fflush(stdout); for (;;) pause(); }
EOF
  gcc -O1 -o "$WORK/bin/tiny" "$WORK/tiny.c" || exit 1
  fixture tree -- tree                              # a tree: groups, a session, threads
  fixture zombies -- zombies                        # zombies
  fixture pipes -- pipes eof empty noreader         # pipes, with data
  fixture fifo -- unnamed fifo "$WORK/d-fifo"       # an unlinked FIFO with data
  fixture ipc --ipc all -- ipc                      # SysV message queues, semaphores, shm
  fixture ghost -- ghost shared "$WORK/d-ghost"     # a deleted file, open and mapped
  fixture tmpfile -- ghost tmpfile "$WORK/d-tmpfile"
  fixture unix -- unix_sockets stream dgram seqpacket
  fixture tcp -- tcp_pair 4                         # a TCP connection inside the tree
  fixture epoll -- epoll
  fixture signalfd -- signalfd
  fixture timerfd -- timerfd
  fixture inotify -- inotify "$WORK/d-inotify"
  fixture ptys -- ptys
  fixture timers -- posix_timers
  fixture fdkinds -- fd_kinds clonefiles            # an fd table shared by processes
  # UDP sockets with a datagram queued, and a small memfd (unnamed.c's is 4 MiB)
  start udp python3 -c 'import os, socket, signal
a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); a.bind(("127.0.0.1", 0))
b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); b.bind(("127.0.0.1", 0)); b.sendto(b"datagram", a.getsockname())
m = os.memfd_create("fuzz"); os.write(m, b"memfd data " * 100)
print("READY", os.getpid(), flush=True)
signal.pause()' && ready udp && image udp "$PID"
  # a container: pid, mount, UTS, IPC and network namespaces
  if CPID=$(CRYO_CP=$ROOT/target/classes "$ROOT/bin/cryo" run -d --net --hostname fuzz -- "$WORK/bin/tiny" 2>"$WORK/container.err"); then
    PIDS+=("$CPID"); sleep 0.5; image container "$CPID"
  else
    echo "fuzz.sh: no seed 'container': $(tail -1 "$WORK/container.err")" >&2
  fi
  # pre-copy records
  start precopy "$WORK/bin/tiny" && ready precopy && image precopy "$PID" --pre-copy=2
  rm -f "$INPUTS"/seed-*
  mkdir -p "$INPUTS"
  "$JAVA" --enable-native-access=ALL-UNNAMED -cp "$CP" cryo.image.FuzzSeeds "$INPUTS" "$WORK"/*.img
  echo "fuzz.sh: seeds in $INPUTS: $(du -sb "$INPUTS" | cut -f1) bytes in $(ls "$INPUTS" | wc -l) files"
  exit 0
fi

# ---- fuzzing -------------------------------------------------------------------------------------
mkdir -p "$OUT/corpus" "$OUT/findings"
rm -f "$OUT/findings"/*
echo "fuzz.sh: fuzzing for $SECONDS_TO_RUN s (log: $OUT/fuzz.log)" >&2
# --keep_going: go on after a finding (each distinct stack once); hooks off: no sanitizer applies to a
# reader of bytes, and their instrumentation only slows it.
"$JAVA" -Xmx256m --enable-native-access=ALL-UNNAMED -cp "$CP" com.code_intelligence.jazzer.Jazzer \
  --target_class=cryo.image.ImageFuzzer --instrumentation_includes='cryo.**' --custom_hook_excludes='**' \
  --keep_going=1000 --reproducer_path="$OUT/findings" \
  -timeout=1 -max_total_time="$SECONDS_TO_RUN" -print_final_stats=1 -artifact_prefix="$OUT/findings/" \
  "$OUT/corpus" "$INPUTS" >"$OUT/fuzz.log" 2>&1
status=$?
runs=$(grep -a 'stat::number_of_executed_units' "$OUT/fuzz.log" | awk '{ print $2 }')
rate=$(grep -a 'stat::average_exec_per_sec' "$OUT/fuzz.log" | awk '{ print $2 }')
slowest=$(grep -a 'stat::slowest_unit_time_sec' "$OUT/fuzz.log" | awk '{ print $2 }')
findings=$(ls "$OUT/findings" | grep -E '^(crash|timeout|oom|leak|slow-unit)-' || true)
echo "inputs run: ${runs:-?}  time: $SECONDS_TO_RUN s  exec/s: ${rate:-?}  slowest input: ${slowest:-?} s  corpus: $(ls "$OUT/corpus" | wc -l) inputs"
if [ -z "$findings" ]; then
  echo "findings: 0"
  [ -n "$runs" ] || { echo "fuzz.sh: the fuzzer did not finish (exit $status): see $OUT/fuzz.log" >&2; exit 1; }
  exit 0
fi
echo "findings: $(wc -l <<<"$findings") (kept as regression inputs in $INPUTS):"
grep -a -E '^== Java Exception:|ERROR: libFuzzer: (timeout|out-of-memory)' "$OUT/fuzz.log" | sort | uniq -c | cut -c1-300
for f in $findings; do cp "$OUT/findings/$f" "$INPUTS/"; done
exit 1
