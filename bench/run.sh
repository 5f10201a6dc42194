#!/usr/bin/env bash
# bench/run.sh: cryo's speed benchmark (issue 2, "Speed").
#
#   bench/run.sh [baseline] [big] [small] [criu] [tree50] [tree8] [pipes200] [ghost] [container] [python] [precopy] [lazy]
#                                         run the given parts (default: all but precopy and lazy)
#   bench/run.sh --selftest               test the harness only (no cryo, no criu)
#
#   baseline what the machine allows, without cryo (bench/baseline.c), for SIZE_MIB
#            of random data in a child process, on each of DIRS: process_vm_readv
#            into a 2 MiB buffer (the copy alone); the same plus pwrite into a new
#            file in DIR (the floor for a checkpoint to DIR); process_vm_writev from
#            the file mmap'd into fresh memory of another process (the floor for a
#            restart's memory phase); 1 and 2 threads each; and faulting in fresh
#            memory (MADV_POPULATE_WRITE, and one byte per page). Median of REPEAT
#            runs each, seconds and GB/s.
#   big      a process holding SIZE_MIB (1 GiB) of touched random anonymous memory:
#            `cryo checkpoint PID -o IMG` and `cryo restart -d IMG`, IMG on each of
#            DIRS; seconds, GB/s, image size, cryo's own timing lines; after the
#            restart the process checks its memory itself (SIGUSR1).
#   small    `cryo checkpoint` and `cryo restart -d` of `sleep 1000`, JVM start-up
#            included: median of N runs each (after one warm-up run), image on /dev/shm.
#   criu     the `big` figures for criu, if criu is installed.
#   tree50   a tree of TREE_N (50) small processes (bench/tree.c: a parent and its
#            forked children, all in pause()): checkpoint and restart seconds, JVM
#            start-up included, median of REPEAT runs (after one warm-up), image on
#            /dev/shm; after the restart every process must answer SIGUSR1.
#   tree8    HOGS (8) processes of HOG_MIB (256) MiB of touched random memory each
#            (bench/memhog under a bash parent that execs memhog itself): GB/s each
#            way, median of REPEAT runs, image on /dev/shm; every process checks its
#            memory after the restart.
#   pipes200 NPIPES (200) pipes holding PIPE_KIB (64) KiB each, write ends in a parent
#            and read ends in its child (bench/tree.c): checkpoint and restart
#            seconds, median of REPEAT runs (after one warm-up), image on /dev/shm;
#            after the restart the child checks that every pipe holds its bytes.
#   ghost    a process holding a deleted file of GHOST_MIB (256) MiB in GHOST_DIR
#            (/dev/shm) at fd 3 (bench/tree.c): checkpoint and restart GB/s (bytes
#            of the file per second, JVM start-up included), median of REPEAT runs
#            (after one warm-up), image on /dev/shm; after the restart the process
#            checks that the file has no name, its size and every byte. Compare
#            with the baseline rows (the same run's `baseline` part) for the floor.
#   container a container made by `cryo run -d`: CT_PROCS (10) processes (a sh as
#            pid 1 and its sleeps) and a tmpfs of its own holding CT_TMPFS_MIB (64)
#            MiB of random data: `cryo checkpoint INIT -o IMG` and `cryo restart -d
#            IMG` (fresh namespaces, a new host pid), seconds each way, JVM start-up
#            included, median of REPEAT runs (after one warm-up), image on /dev/shm;
#            after the restart the new init must be pid 1 of its namespace with its
#            CT_PROCS-1 children, and the tmpfs file must hold the same bytes.
#   precopy  checkpoint --pre-copy and live migration of a process writing all the
#            time: see bench/precopy.sh (PC_RATE_KIB=1024).
#   python   the `big` figures for a python3 process whose SIZE_MIB bytearray was filled
#            by first touch (bench/python.sh), criu too if installed; after the restart
#            the process hashes its bytearray again.
#   lazy     `cryo restart -d --lazy` of a SIZE_MIB memhog: time to its first answer and
#            to the end of the fill, beside a restart of sleep (bench/lazy.sh).
#
# Run from anywhere as root. Environment:
#   CRYO=bin/cryo  SIZE_MIB=1024  REPEAT=3 (baseline/big/criu runs per directory;
#   tree50, tree8 and pipes200 runs)  N=10  DIRS="/dev/shm /tmp"  CRIU=criu
#   TIMEOUT=300 (s per cryo/criu/baseline command)  TREE_N=50  HOGS=8  HOG_MIB=256
#   NPIPES=200  PIPE_KIB=64 (at most 1024)  GHOST_MIB=256  GHOST_DIR=/dev/shm
#   CT_PROCS=10  CT_TMPFS_MIB=64
#   KEEP=1 keeps the work directory (logs) instead of removing it.
# GB/s is 10^9 bytes of process memory per second (1 GiB = 1.074 GB).
# Every process the script starts is killed by pid on exit; images are removed.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd) || exit 1
cd "$ROOT" || exit 1

CRYO=${CRYO:-$ROOT/bin/cryo}
SIZE_MIB=${SIZE_MIB:-1024}
REPEAT=${REPEAT:-3}
N=${N:-10}
DIRS=${DIRS:-"/dev/shm /tmp"}
CRIU=${CRIU:-criu}
TIMEOUT=${TIMEOUT:-300}
KEEP=${KEEP:-0}
TREE_N=${TREE_N:-50}
HOGS=${HOGS:-8}
HOG_MIB=${HOG_MIB:-256}
NPIPES=${NPIPES:-200}
PIPE_KIB=${PIPE_KIB:-64}
GHOST_MIB=${GHOST_MIB:-256}
GHOST_DIR=${GHOST_DIR:-/dev/shm}
CT_PROCS=${CT_PROCS:-10}
CT_TMPFS_MIB=${CT_TMPFS_MIB:-64}
export CRYO_TIMING=1

usage() { awk 'NR == 1 { next } !/^#/ { exit } { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"; }

SELFTEST=0 DO_PY=0 DO_BASE=0 DO_BIG=0 DO_SMALL=0 DO_CRIU=0 DO_TREE50=0 DO_TREE8=0 DO_PIPES=0 DO_GHOST=0 DO_CT=0 DO_PRECOPY=0 DO_LAZY=0
for a in "$@"; do
  case $a in
    baseline) DO_BASE=1 ;;
    big) DO_BIG=1 ;;
    small) DO_SMALL=1 ;;
    criu) DO_CRIU=1 ;;
    tree50) DO_TREE50=1 ;;
    tree8) DO_TREE8=1 ;;
    pipes200) DO_PIPES=1 ;;
    ghost) DO_GHOST=1 ;;
    container) DO_CT=1 ;;
    precopy) DO_PRECOPY=1 ;;
    python) DO_PY=1 ;;
    lazy) DO_LAZY=1 ;;
    --selftest) SELFTEST=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench: unknown argument '$a'" >&2; usage >&2; exit 2 ;;
  esac
done
[ $((DO_BASE + DO_BIG + DO_SMALL + DO_CRIU + DO_TREE50 + DO_TREE8 + DO_PIPES + DO_GHOST + DO_CT + DO_PY + DO_PRECOPY + DO_LAZY + SELFTEST)) -eq 0 ] &&
  DO_BASE=1 DO_BIG=1 DO_SMALL=1 DO_CRIU=1 DO_TREE50=1 DO_TREE8=1 DO_PIPES=1 DO_GHOST=1 DO_CT=1 DO_PY=1

for v in SIZE_MIB REPEAT N TIMEOUT TREE_N HOGS HOG_MIB NPIPES PIPE_KIB CT_PROCS CT_TMPFS_MIB; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "bench: $v must be a positive integer" >&2; exit 2; }
done
[ "$TREE_N" -le 1000 ] || { echo "bench: TREE_N must be at most 1000" >&2; exit 2; }
[ "$PIPE_KIB" -le 1024 ] || { echo "bench: PIPE_KIB must be at most 1024 (fs.pipe-max-size)" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "bench: must run as root (cryo and criu ptrace other processes)" >&2; exit 1; }
for t in gcc timeout date awk sort stat du; do
  command -v "$t" >/dev/null || { echo "bench: '$t' is missing" >&2; exit 1; }
done

# The processes we checkpoint must hold nothing but fds 0-2 (cryo refuses a
# pipe or socket to the outside on any other fd): close every descriptor above
# 2 that this script inherited, except bash's own close-on-exec ones.
for f in /proc/$$/fdinfo/*; do
  n=${f##*/} fl=
  [[ $n =~ ^[0-9]+$ ]] && [ "$n" -gt 2 ] || continue
  { while read -r k v; do [ "$k" = flags: ] && fl=$v; done <"$f"; } 2>/dev/null
  [[ $fl =~ ^[0-7]+$ ]] || continue
  (( 8#$fl & 8#2000000 )) && continue      # O_CLOEXEC: not passed on to children
  eval "exec $n>&-"
done
unset f n fl k v

WORK=$(mktemp -d /tmp/cryo-bench.XXXXXX) || exit 1
chmod 700 "$WORK"
SIZE_BYTES=$((SIZE_MIB * 1048576))
FAILED=0

# ---------------------------------------------------------------- processes
# TRACK: pid -> start time (field 22 of /proc/PID/stat) when we learned the pid,
# so cleanup never kills a process that merely reuses a pid we knew.
# GROUP: pid of a `timeout` we started -> 1; timeout makes its own process
# group (pgid = its pid), so the whole cryo/criu command can be stopped by id.
declare -A TRACK=() GROUP=() CHILD=()
CLEAN_PATHS=()

now_ns() { date +%s%N; }
log() { printf 'bench: %s\n' "$*" >&2; }

# stat_fields PID: fields 3.. of /proc/PID/stat (after "(comm) "), or fails.
stat_fields() {
  local s
  { read -r s <"/proc/$1/stat"; } 2>/dev/null || return 1
  printf '%s\n' "${s##*) }"
}
proc_state() { local f; f=$(stat_fields "$1") || return 0; echo "${f%% *}"; }
proc_start() { local f a; f=$(stat_fields "$1") || return 1; read -ra a <<<"$f"; echo "${a[19]}"; }
alive() { local s; s=$(proc_state "$1"); [ -n "$s" ] && [ "$s" != Z ] && [ "$s" != X ]; }

track() { local st; st=$(proc_start "$1") && TRACK[$1]=$st; }
untrack() { unset "TRACK[$1]" "GROUP[$1]" "CHILD[$1]"; }
ours() { [ -n "${TRACK[$1]:-}" ] && [ "$(proc_start "$1" 2>/dev/null)" = "${TRACK[$1]}" ]; }

# wait_dead PID SECONDS: until PID is gone or a zombie.
wait_dead() {
  local pid=$1 end=$(( $(now_ns) + $2 * 1000000000 ))
  while alive "$pid"; do
    [ "$(now_ns)" -lt "$end" ] || return 1
    sleep 0.02
  done
}

# wait_gone PID SECONDS: until /proc/PID is gone (reaped). Restored processes
# are not our children; their parent (often pid 1) may reap them late.
wait_gone() {
  local pid=$1 end=$(( $(now_ns) + $2 * 1000000000 ))
  while [ -e "/proc/$pid" ]; do
    [ "$(now_ns)" -lt "$end" ] || return 1
    sleep 0.02
  done
}

# kill_wait PID: SIGKILL a tracked process (only if it is still the one we
# tracked), reap it if it is our child, and wait until it is gone.
kill_wait() {
  local pid=$1
  [ -n "$pid" ] || return 0
  if ours "$pid"; then kill -KILL "$pid" 2>/dev/null; fi
  if [ -n "${CHILD[$pid]:-}" ]; then
    wait "$pid" 2>/dev/null
  else
    wait_dead "$pid" 10 || { log "pid $pid did not die after SIGKILL"; return 1; }
    # A dead process holds no memory: a zombie waiting for its parent to reap it is harmless.
    wait_gone "$pid" 30 || log "pid $pid is a zombie not yet reaped by its parent (ppid $(awk '{print $4}' "/proc/$pid/stat" 2>/dev/null))"
  fi
  untrack "$pid"
}

cleanup() {
  local rc=$? pid p d
  trap - EXIT INT TERM HUP
  # a running cryo/criu command: `timeout` forwards TERM to it; its group is stopped by pgid
  for pid in "${!GROUP[@]}"; do
    ours "$pid" && { kill -TERM "$pid"; kill -TERM -- "-$pid"; } 2>/dev/null
  done
  for pid in "${!GROUP[@]}"; do
    wait_dead "$pid" 5 || { kill -KILL -- "-$pid"; kill -KILL "$pid"; } 2>/dev/null
    wait "$pid" 2>/dev/null
    untrack "$pid"
  done
  for pid in "${!TRACK[@]}"; do
    ours "$pid" && kill -KILL "$pid" 2>/dev/null
  done
  for pid in "${!TRACK[@]}"; do
    if [ -n "${CHILD[$pid]:-}" ]; then wait "$pid" 2>/dev/null; else wait_dead "$pid" 10; fi
  done
  # images, and any temporary file cryo/criu left next to them: only ever names
  # holding "cryo-bench.<our pid>.", in the directories we wrote images to
  for p in "${CLEAN_PATHS[@]}"; do
    case $p in
      /*/cryo-bench.$$.*) d=${p%/*}; rm -rf -- "$d"/*cryo-bench.$$.* "$d"/.*cryo-bench.$$.* 2>/dev/null ;;
    esac
  done
  if [ "$KEEP" = 1 ]; then log "work directory kept: $WORK"; else rm -rf -- "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
# Quiets bash's "line N: PID Killed ..." notices for the children that cryo
# kills. (SIGKILL itself can never be caught or ignored: this changes nothing else.)
trap '' KILL

# run_cmd TAG CMD...: runs CMD under timeout with stdin /dev/null, stdout in
# $WORK/TAG.out and stderr in $WORK/TAG.err; sets RC and NS (wall time).
# Run in the background + wait so that a signal to the script is acted on at once.
run_cmd() {
  local tag=$1 t0 tp
  shift
  t0=$(now_ns)
  timeout -k 5 "$TIMEOUT" "$@" <"/dev/null" >"$WORK/$tag.out" 2>"$WORK/$tag.err" &
  tp=$!
  track "$tp"; GROUP[$tp]=1 CHILD[$tp]=1     # the start time is the fork's: exec does not change it
  wait "$tp"
  RC=$?
  NS=$(( $(now_ns) - t0 ))
  untrack "$tp"
  case $RC in
    124) echo "bench: timed out after ${TIMEOUT}s" >>"$WORK/$tag.err" ;;
    137) echo "bench: killed by SIGKILL (timed out and ignored SIGTERM, or the OOM killer)" >>"$WORK/$tag.err" ;;
  esac
}
# NS runs from just before the fork of `timeout` to just after `wait` returns:
# it includes timeout's own fork+exec and one `date` (~1-2 ms together).

# first_err TAG: a one-line reason for a failed command: the first line that
# says "error", else the last line that is not a timing line.
first_err() {
  local l
  l=$(grep -m1 -i 'error' "$WORK/$1.err" 2>/dev/null)
  [ -n "$l" ] || l=$(grep -v '^cryo: timing ' "$WORK/$1.err" 2>/dev/null | grep -v '^[[:space:]]*$' | tail -n1)
  [ -n "$l" ] || l="exit status $RC, no message"
  printf '%s' "${l:0:160}"
}

# timings TAG: cryo's "cryo: timing NAME MS ms" lines as "NAME=MS NAME=MS", in
# order. A name of several words is joined by "_" (commas dropped); a word that is
# a number (the pid in "memory of 1234") becomes "PID", and the lines that then
# have one name (one per process) are summed.
timings() {
  awk '$1 == "cryo:" && $2 == "timing" && $NF == "ms" && NF >= 5 {
         n = ""
         for (i = 3; i <= NF - 2; i++) { w = $i; gsub(/,/, "", w); if (w ~ /^[0-9]+$/) w = "PID"; n = n (i > 3 ? "_" : "") w }
         if (!(n in sum)) order[++k] = n
         sum[n] += $(NF - 1)
       }
       END { for (i = 1; i <= k; i++) printf "%s%s=%.1f", (i > 1 ? " " : ""), order[i], sum[order[i]] }' "$WORK/$1.err" 2>/dev/null
}
timing_of() { # timing_of TAG NAME
  awk -v n="$2" '$1 == "cryo:" && $2 == "timing" && $3 == n && $5 == "ms" { v = $4 } END { if (v != "") print v }' "$WORK/$1.err" 2>/dev/null
}

secs() { awk -v ns="$1" 'BEGIN { printf "%.3f", ns / 1e9 }'; }
gbps() { awk -v b="$1" -v ns="$2" 'BEGIN { printf "%.2f", b / ns }'; }     # bytes per ns = GB/s
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
ms() { awk -v ns="$1" 'BEGIN { printf "%.1f", ns / 1e6 }'; }
# median of the numbers given as arguments (mean of the two middle ones for an even count)
median() {
  [ $# -gt 0 ] || { echo "-"; return; }
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) m = v[(NR + 1) / 2]; else m = (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.3f", m }'
}
minmax() { printf '%s\n' "$@" | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.1f %.1f", lo, hi }'; }

# ------------------------------------------------------------------ memhog
MEMHOG=$WORK/memhog
gcc -O2 -Wall -o "$MEMHOG" "$ROOT/bench/memhog.c" || { log "cannot compile bench/memhog.c"; exit 1; }
TREEBIN=$WORK/tree
gcc -O2 -Wall -o "$TREEBIN" "$ROOT/bench/tree.c" || { log "cannot compile bench/tree.c"; exit 1; }
BASEBIN=$WORK/baseline
gcc -O2 -Wall -pthread -o "$BASEBIN" "$ROOT/bench/baseline.c" || { log "cannot compile bench/baseline.c"; exit 1; }

HOG_PID= HOG_SUM= HOG_OUT= HOG_RES=
# shellcheck source=bench/lazy.sh
. "$ROOT/bench/lazy.sh"
# start_hog TAG: start memhog as our child; waits for READY. Sets HOG_*.
start_hog() {
  local tag=$1 end line
  HOG_OUT=$WORK/$tag.hog.out
  HOG_RES=$WORK/$tag.result
  rm -f "$HOG_RES"
  "$MEMHOG" "$SIZE_MIB" "$HOG_RES" <"/dev/null" >"$HOG_OUT" 2>"$WORK/$tag.hog.err" &
  HOG_PID=$!
  track "$HOG_PID"; CHILD[$HOG_PID]=1
  end=$(( $(now_ns) + 300 * 1000000000 ))
  until grep -q '^READY' "$HOG_OUT" 2>/dev/null; do
    if ! alive "$HOG_PID"; then
      log "memhog died before READY: $(head -c 300 "$WORK/$tag.hog.err")"
      kill_wait "$HOG_PID"; HOG_PID=; return 1
    fi
    if [ "$(now_ns)" -gt "$end" ]; then log "memhog not READY after 300 s"; kill_wait "$HOG_PID"; HOG_PID=; return 1; fi
    sleep 0.05
  done
  line=$(grep -m1 '^READY' "$HOG_OUT")
  HOG_SUM=${line#*sum=}; HOG_SUM=${HOG_SUM%% *}
  log "memhog pid $HOG_PID: $line"
}

# verify PID RESULT_FILE EXPECTED_SUM: ask the process to check its memory.
# Prints OK, or BAD/NO-ANSWER with details.
verify() {
  local pid=$1 res=$2 want=$3 end line sum
  rm -f "$res"
  kill -USR1 "$pid" 2>/dev/null || { echo "NO-ANSWER (pid $pid: cannot signal)"; return 1; }
  end=$(( $(now_ns) + 120 * 1000000000 ))
  until [ -s "$res" ]; do
    alive "$pid" || { echo "NO-ANSWER (pid $pid died, state '$(proc_state "$pid")')"; return 1; }
    [ "$(now_ns)" -lt "$end" ] || { echo "NO-ANSWER (no result after 120 s)"; return 1; }
    sleep 0.02
  done
  read -r line <"$res"
  sum=${line#*sum=}; sum=${sum%% *}
  if [[ $line == OK* ]] && [ "$sum" = "$want" ]; then
    echo "OK"
  else
    echo "BAD ($line; READY sum was $want)"
    return 1
  fi
}

# reap_original PID TAG: after a checkpoint that kills the target, wait for it
# and make sure its pid is free before the restart. Returns 1 if not.
reap_original() {
  local pid=$1 st
  if ! wait_dead "$pid" 10; then
    log "$2: the checkpointed process $pid is still running 10 s after the checkpoint: killing it"
    kill -KILL "$pid" 2>/dev/null
  fi
  wait "$pid" 2>/dev/null
  st=$?
  untrack "$pid"
  [ "$st" -eq 137 ] || log "$2: original $pid ended with status $st (expected 137, SIGKILL)"
  if [ -e "/proc/$pid" ]; then
    log "$2: pid $pid still exists after reaping the original: cannot restart"
    return 1
  fi
}

# restored_pid TAG DEFAULT: the pid `cryo restart -d` printed (last line that is a number).
restored_pid() {
  local p
  p=$(grep -E '^[[:space:]]*[0-9]+[[:space:]]*$' "$WORK/$1.out" 2>/dev/null | tail -n1 | tr -d '[:space:]')
  if [ -z "$p" ]; then
    log "$1: restart printed no pid; assuming the original pid $2"
    p=$2
  elif [ "$p" != "$2" ]; then
    log "$1: restored pid $p differs from the original pid $2"
  fi
  echo "$p"
}

# ----------------------------------------------------------- part: baseline
BASE_DIRS=()
declare -A BASE_NOTE=()   # dir -> why it has no table

# base_fits DIR: memory for two copies of the data at once (the holder and the
# file, then the file and the restored process) and room for the file in DIR.
base_fits() {
  local need=$((SIZE_MIB * 1024)) avail room
  avail=$(awk '/^MemAvailable:/ { print $2 }' /proc/meminfo)
  room=$(df -Pk "$1" 2>/dev/null | awk 'NR == 2 { print $4 }')
  [ "${avail:-0}" -gt $((2 * need + 262144)) ] && [ "${room:-0}" -gt $((need + 65536)) ]
}

# base_run DIR: bench/baseline for SIZE_MIB, REPEAT runs, its file in DIR. Its
# table (stdout) stays in $WORK/baseline-N.out for the report.
BASE_I=0
base_run() {
  local dir=$1 name="cryo-bench.$$.baseline" tag
  BASE_I=$((BASE_I + 1)); tag=baseline-$BASE_I
  BASE_DIRS+=("$dir")
  if ! base_fits "$dir"; then
    BASE_NOTE[$dir]="skipped: needs twice $SIZE_MIB MiB of available memory and room for $SIZE_MIB MiB in $dir"
    FAILED=1; return
  fi
  CLEAN_PATHS+=("$dir/$name")
  run_cmd "$tag" "$BASEBIN" "$SIZE_MIB" "$REPEAT" "$dir" "$name"
  if [ "$RC" -ne 0 ]; then
    BASE_NOTE[$dir]="FAIL ($(secs "$NS") s): $(first_err "$tag")"
    FAILED=1
  fi
  rm -f -- "${dir:?}/$name"
  log "baseline, file in $dir: $(secs "$NS") s in all${BASE_NOTE[$dir]:+, ${BASE_NOTE[$dir]}}"
}

base_report() {
  local dir i=0
  echo "== baseline: what this machine allows without cryo (bench/baseline.c), for $SIZE_MIB MiB ($(gbps "$SIZE_BYTES" 1000000000) GB) of"
  echo "   random data in a child process, median of $REPEAT run(s); GB/s = 10^9 bytes per second"
  echo "   readv         process_vm_readv into a reused 2 MiB buffer per thread: the copy alone"
  echo "   readv+pwrite  the same plus pwrite into a new file in DIR: the floor for a checkpoint to DIR"
  echo "   writev        process_vm_writev from that file, mmap'd, into fresh memory of a new process: the floor"
  echo "                 for a restart's memory phase"
  echo "   populate      faulting in fresh anonymous memory with MADV_POPULATE_WRITE; touch: one byte per page"
  echo "                 (readv, populate and touch do not depend on DIR)"
  [ "${#BASE_DIRS[@]}" -gt 0 ] || echo "  no writable directory in DIRS ($DIRS)"
  for dir in "${BASE_DIRS[@]}"; do
    i=$((i + 1))
    echo "-- DIR $dir"
    [ -s "$WORK/baseline-$i.out" ] && cat "$WORK/baseline-$i.out"
    [ -n "${BASE_NOTE[$dir]:-}" ] && echo "  ${BASE_NOTE[$dir]}"
  done
  echo
}

# ---------------------------------------------------------------- part: big
BIG_ROWS=() TIMING_ROWS=()
declare -A BIG_C=() BIG_R=() BIG_F=()    # "tool dir" -> space-separated values for medians

# big_run TOOL DIR REP
big_run() {
  local tool=$1 dir=$2 rep=$3 tag img rpid size ok frozen row cns rns rt ct
  tag="$tool-$(basename "$dir")-$rep"
  img="$dir/cryo-bench.$$.$tool"
  CLEAN_PATHS+=("$img")
  rm -rf -- "$img"
  start_hog "$tag" || { BIG_ROWS+=("$(printf '%-5s %-9s %3s  FAIL: memhog did not start' "$tool" "$dir" "$rep")"); FAILED=1; return; }
  local pid=$HOG_PID

  if [ "$tool" = cryo ]; then
    run_cmd "$tag.ckpt" "$CRYO" checkpoint "$pid" -o "$img"
  else
    mkdir -p "$img"
    run_cmd "$tag.ckpt" "$CRIU" dump -t "$pid" -D "$img" --shell-job -o "$WORK/$tag.dump.log"
  fi
  cns=$NS
  if [ "$RC" -ne 0 ]; then
    row=$(printf '%-5s %-9s %3s  FAIL checkpoint (%s s): %s' "$tool" "$dir" "$rep" "$(secs "$cns")" "$(first_err "$tag.ckpt")")
    [ "$tool" = criu ] && row+=" [log: $(tail -n2 "$WORK/$tag.dump.log" 2>/dev/null | tr '\n' ' ' | cut -c1-200)]"
    BIG_ROWS+=("$row"); FAILED=1
    kill_wait "$pid"; rm -rf -- "$img"
    return
  fi
  reap_original "$pid" "$tag" || { BIG_ROWS+=("$(printf '%-5s %-9s %3s  FAIL: original pid %s not free after checkpoint' "$tool" "$dir" "$rep" "$pid")"); FAILED=1; rm -rf -- "$img"; return; }
  if [ -d "$img" ]; then size=$(du -sb "$img" | cut -f1); else size=$(stat -c %s "$img" 2>/dev/null || echo 0); fi

  if [ "$tool" = cryo ]; then
    frozen=$(timing_of "$tag.ckpt" frozen)
    run_cmd "$tag.rest" "$CRYO" restart -d "$img"
  else
    frozen=
    if command -v crit >/dev/null && [ -e "$img/stats-dump" ]; then
      frozen=$(crit show "$img/stats-dump" 2>/dev/null | grep -oE '"frozen_time": *[0-9]+' | grep -oE '[0-9]+$')
      [ -n "$frozen" ] && frozen=$(awk -v us="$frozen" 'BEGIN { printf "%.0f", us / 1000 }')
    fi
    run_cmd "$tag.rest" "$CRIU" restore -D "$img" --shell-job -d --pidfile "$WORK/$tag.pidfile" -o "$WORK/$tag.restore.log"
  fi
  rns=$NS
  if [ "$RC" -ne 0 ]; then
    row=$(printf '%-5s %-9s %3s  FAIL restart (%s s): %s' "$tool" "$dir" "$rep" "$(secs "$rns")" "$(first_err "$tag.rest")")
    [ "$tool" = criu ] && row+=" [log: $(tail -n2 "$WORK/$tag.restore.log" 2>/dev/null | tr '\n' ' ' | cut -c1-200)]"
    BIG_ROWS+=("$row"); FAILED=1
    # a failed restart may still have left a process with the original pid
    if [ -e "/proc/$pid" ]; then track "$pid" && kill_wait "$pid"; fi
    rm -rf -- "$img"
    return
  fi
  if [ "$tool" = cryo ]; then
    rpid=$(restored_pid "$tag.rest" "$pid")
  else
    rpid=$(tr -dc '0-9' <"$WORK/$tag.pidfile" 2>/dev/null); rpid=${rpid:-$pid}
  fi
  track "$rpid" || log "$tag: restored pid $rpid does not exist"
  ok=$(verify "$rpid" "$HOG_RES" "$HOG_SUM") || FAILED=1
  kill_wait "$rpid"
  rm -rf -- "$img"

  BIG_ROWS+=("$(printf '%-5s %-9s %3s %9s %9s %9s %9s %9s %9s  %s' "$tool" "$dir" "$rep" \
    "$(secs "$cns")" "$(gbps "$SIZE_BYTES" "$cns")" "$(secs "$rns")" "$(gbps "$SIZE_BYTES" "$rns")" \
    "$(mib "$size")" "${frozen:--}" "$ok")")
  BIG_C["$tool $dir"]+=" $cns"; BIG_R["$tool $dir"]+=" $rns"
  [ -n "$frozen" ] && BIG_F["$tool $dir"]+=" $frozen"
  if [ "$tool" = cryo ]; then
    ct=$(timings "$tag.ckpt"); rt=$(timings "$tag.rest")
    TIMING_ROWS+=("$(printf '%-9s %3s  checkpoint: %s' "$dir" "$rep" "${ct:-(none)}")")
    TIMING_ROWS+=("$(printf '%-9s %3s  restart:    %s' "$dir" "$rep" "${rt:-(none)}")")
  fi
  log "$tag: checkpoint $(secs "$cns") s, restart $(secs "$rns") s, image $(mib "$size") MiB, memory $ok"
}

big_medians() { # big_medians TOOL DIR
  local key="$1 $2" c r f
  [ -n "${BIG_C[$key]:-}" ] || return 0
  # shellcheck disable=SC2086
  c=$(median ${BIG_C[$key]}); r=$(median ${BIG_R[$key]}); f=$(median ${BIG_F[$key]:-})
  [ "$f" = "-" ] || f=$(printf '%.1f' "$f")
  printf '%-5s %-9s %3s %9s %9s %9s %9s %9s %9s\n' "$1" "$2" med "$(secs "$c")" "$(gbps "$SIZE_BYTES" "$c")" \
    "$(secs "$r")" "$(gbps "$SIZE_BYTES" "$r")" "" "$f"
}

# -------------------------------------------------------------- part: small
SMALL_C=() SMALL_R=() SMALL_NOTE=()
declare -A SMALL_T=()   # "ckpt NAME" / "rest NAME" -> values

small_run() { # small_run I (0 = warm-up, not counted)
  local i=$1 tag="small-$1" img="/dev/shm/cryo-bench.$$.small" pid rpid end n v
  CLEAN_PATHS+=("$img")
  rm -f -- "$img"
  sleep 1000 <"/dev/null" >"/dev/null" 2>&1 &
  pid=$!
  track "$pid"; CHILD[$pid]=1
  end=$(( $(now_ns) + 10 * 1000000000 ))
  until [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = sleep ]; do   # the exec is done
    [ "$(now_ns)" -lt "$end" ] || { SMALL_NOTE+=("run $i: sleep did not start"); kill_wait "$pid"; return 1; }
    sleep 0.005
  done
  run_cmd "$tag.ckpt" "$CRYO" checkpoint "$pid" -o "$img"
  if [ "$RC" -ne 0 ]; then SMALL_NOTE+=("run $i: checkpoint failed: $(first_err "$tag.ckpt")"); kill_wait "$pid"; rm -f -- "$img"; return 1; fi
  local cns=$NS
  reap_original "$pid" "$tag" || { SMALL_NOTE+=("run $i: pid $pid not free after checkpoint"); rm -f -- "$img"; return 1; }
  run_cmd "$tag.rest" "$CRYO" restart -d "$img"
  if [ "$RC" -ne 0 ]; then
    SMALL_NOTE+=("run $i: restart failed: $(first_err "$tag.rest")")
    if [ -e "/proc/$pid" ]; then track "$pid" && kill_wait "$pid"; fi
    rm -f -- "$img"; return 1
  fi
  local rns=$NS
  rpid=$(restored_pid "$tag.rest" "$pid")
  track "$rpid" || log "$tag: restored pid $rpid does not exist"
  if ! alive "$rpid" || [ "$(cat "/proc/$rpid/comm" 2>/dev/null)" != sleep ]; then
    SMALL_NOTE+=("run $i: restored pid $rpid is not a running sleep (state '$(proc_state "$rpid")')")
  fi
  kill_wait "$rpid"
  rm -f -- "$img"
  [ "$i" -eq 0 ] && { log "small warm-up: checkpoint $(ms "$cns") ms, restart $(ms "$rns") ms"; return 0; }
  SMALL_C+=("$(ms "$cns")"); SMALL_R+=("$(ms "$rns")")
  for n in $(timings "$tag.ckpt"); do SMALL_T["checkpoint ${n%%=*}"]+=" ${n#*=}"; done
  for n in $(timings "$tag.rest"); do SMALL_T["restart ${n%%=*}"]+=" ${n#*=}"; done
  log "small run $i: checkpoint $(ms "$cns") ms, restart $(ms "$rns") ms"
}

# ------------------------------------------------ parts: tree50, tree8, pipes200
# A fixture is a tree under one root pid, which is our child; the rest are its
# children. start_* sets FIX_ROOT and FIX_PIDS (root first) and tracks them all.
FIX_ROOT= FIX_OUT= PIPE_CHILD= PIPE_RES= GHOST_RES=
FIX_PIDS=()
declare -A HOGSUM=() HOGRES=()   # tree8: pid -> READY sum, result file

proc_ppid() { local f a; f=$(stat_fields "$1") || return 1; read -ra a <<<"$f"; echo "${a[1]}"; }

# kill_all PID...: SIGKILL every one that is still the process we tracked, then
# wait until each is gone: orphans are reaped by pid 1 (every second or two
# here), so killing first and waiting after costs one round, not one per process.
kill_all() {
  local pid
  local -a mine=()
  for pid in "$@"; do
    [ -n "$pid" ] && ours "$pid" || { untrack "$pid"; continue; }
    kill -KILL "$pid" 2>/dev/null
    mine+=("$pid")
  done
  for pid in "${mine[@]}"; do
    if [ -n "${CHILD[$pid]:-}" ]; then wait "$pid" 2>/dev/null
    else wait_dead "$pid" 10 || log "pid $pid did not die after SIGKILL"; fi
  done
  for pid in "${mine[@]}"; do
    if [ -z "${CHILD[$pid]:-}" ] && ! wait_gone "$pid" 30; then
      log "pid $pid is a zombie not yet reaped by its parent (ppid $(proc_ppid "$pid"))"
    fi
    untrack "$pid"
  done
}

# wait_all_gone SECONDS PID...: until none of the pids is in /proc any more.
# Prints the ones still there when the time is up, and fails.
wait_all_gone() {
  local end=$(( $(now_ns) + $1 * 1000000000 )) p
  local -a left
  shift
  while :; do
    left=()
    for p in "$@"; do [ -e "/proc/$p" ] && left+=("$p"); done
    [ "${#left[@]}" -eq 0 ] && return 0
    [ "$(now_ns)" -lt "$end" ] || { echo "${left[*]}"; return 1; }
    set -- "${left[@]}"
    sleep 0.05
  done
}

# wait_ready FILE ROOT SECONDS: until FILE has a line starting with READY.
wait_ready() {
  local end=$(( $(now_ns) + $3 * 1000000000 ))
  until grep -q '^READY' "$1" 2>/dev/null; do
    alive "$2" || { log "fixture $2 died before READY: $(head -c 300 "${1%.out}.err" 2>/dev/null)"; return 1; }
    [ "$(now_ns)" -lt "$end" ] || { log "fixture $2 not READY after $3 s"; return 1; }
    sleep 0.02
  done
}

# start_fixture TAG ARGS...: bench/tree.c with ARGS, stdout $WORK/TAG.fix.out.
start_fixture() {
  local tag=$1
  shift
  FIX_OUT=$WORK/$tag.fix.out
  "$TREEBIN" "$@" <"/dev/null" >"$FIX_OUT" 2>"$WORK/$tag.fix.err" &
  FIX_ROOT=$!
  track "$FIX_ROOT"; CHILD[$FIX_ROOT]=1
  FIX_PIDS=("$FIX_ROOT")
  wait_ready "$FIX_OUT" "$FIX_ROOT" 60 || { kill_all "$FIX_ROOT"; return 1; }
}

start_pause() { # start_pause TAG: tree of TREE_N processes
  local line p
  start_fixture "$1" pause "$TREE_N" || return 1
  line=$(grep -m1 '^READY' "$FIX_OUT")
  line=${line#*children=}
  for p in ${line//,/ }; do track "$p" && FIX_PIDS+=("$p"); done
  if [ "${#FIX_PIDS[@]}" -ne "$TREE_N" ]; then
    log "tree fixture: ${#FIX_PIDS[@]} of $TREE_N processes running"
    kill_all "${FIX_PIDS[@]}"; return 1
  fi
}

start_pipes() { # start_pipes TAG: NPIPES pipes of PIPE_KIB KiB, read ends in the child
  local line
  PIPE_RES=$WORK/$1.pipes.result
  rm -f "$PIPE_RES"
  start_fixture "$1" pipes "$NPIPES" $((PIPE_KIB * 1024)) "$PIPE_RES" || return 1
  line=$(grep -m1 '^READY' "$FIX_OUT")
  PIPE_CHILD=${line#*child=}; PIPE_CHILD=${PIPE_CHILD%% *}
  track "$PIPE_CHILD" || { log "pipes fixture: child $PIPE_CHILD is not running"; kill_all "$FIX_ROOT"; return 1; }
  FIX_PIDS+=("$PIPE_CHILD")
}

start_ghost() { # start_ghost TAG: a deleted file of GHOST_MIB MiB in GHOST_DIR at fd 3
  GHOST_RES=$WORK/$1.ghost.result
  rm -f "$GHOST_RES"
  start_fixture "$1" ghost "$GHOST_DIR" "$GHOST_MIB" "$GHOST_RES"
}

# start_hogs TAG: HOGS memhogs of HOG_MIB MiB under one root. A bash subshell
# starts HOGS-1 memhogs (each with its own stdout and result file), writes their
# pids to a file and then execs the last memhog itself: the root.
start_hogs() {
  local tag=$1 pids=$WORK/$1.hogpids k p line pid end ready
  local -a outs=()
  rm -f "$pids" "$WORK/$tag".hog*
  (
    for ((k = 1; k < HOGS; k++)); do
      "$MEMHOG" "$HOG_MIB" "$WORK/$tag.hog$k.result" <"/dev/null" >"$WORK/$tag.hog$k.out" 2>"$WORK/$tag.hog$k.err" &
      echo "$!" >>"$pids"
    done
    exec "$MEMHOG" "$HOG_MIB" "$WORK/$tag.hog0.result" <"/dev/null" >"$WORK/$tag.hog0.out" 2>"$WORK/$tag.hog0.err"
  ) &
  FIX_ROOT=$!
  track "$FIX_ROOT"; CHILD[$FIX_ROOT]=1
  FIX_PIDS=("$FIX_ROOT")
  HOGSUM=() HOGRES=()
  for ((k = 0; k < HOGS; k++)); do outs+=("$WORK/$tag.hog$k.out"); done
  end=$(( $(now_ns) + 300 * 1000000000 ))
  while :; do
    # track the children as soon as their pids are known (cleanup must find them)
    if [ -e "$pids" ]; then
      while read -r p; do
        [[ $p =~ ^[0-9]+$ ]] && [ -z "${TRACK[$p]:-}" ] && track "$p" && FIX_PIDS+=("$p")
      done <"$pids"
    fi
    ready=$(cat -- "${outs[@]}" 2>/dev/null | grep -c '^READY')
    [ "$ready" -eq "$HOGS" ] && [ "${#FIX_PIDS[@]}" -eq "$HOGS" ] && break
    for p in "${FIX_PIDS[@]}"; do
      alive "$p" || { log "tree8: memhog $p died before READY: $(cat "$WORK/$tag".hog*.err 2>/dev/null | head -c 300)"; kill_all "${FIX_PIDS[@]}"; return 1; }
    done
    [ "$(now_ns)" -lt "$end" ] || { log "tree8: only $ready of $HOGS memhogs READY after 300 s"; kill_all "${FIX_PIDS[@]}"; return 1; }
    sleep 0.05
  done
  for ((k = 0; k < HOGS; k++)); do
    line=$(grep -m1 '^READY' "${outs[k]}")
    pid=${line#*pid=}; pid=${pid%% *}
    HOGSUM[$pid]=${line#*sum=}; HOGSUM[$pid]=${HOGSUM[$pid]%% *}
    HOGRES[$pid]=$WORK/$tag.hog$k.result
  done
  for p in "${FIX_PIDS[@]}"; do
    [ -n "${HOGSUM[$p]:-}" ] || { log "tree8: pid $p has no READY line"; kill_all "${FIX_PIDS[@]}"; return 1; }
  done
  log "tree8: $HOGS memhogs READY under root $FIX_ROOT"
}

# check_alive OUT PID...: every process must write "ALIVE <pid>" to OUT on SIGUSR1.
check_alive() {
  local out=$1 end missing
  shift
  kill -USR1 "$@" 2>/dev/null
  end=$(( $(now_ns) + 20 * 1000000000 ))
  while :; do
    missing=$(awk -v want="$*" 'BEGIN { n = split(want, w, " ") } $1 == "ALIVE" { seen[$2] = 1 }
                                END { m = 0; for (i = 1; i <= n; i++) if (!(w[i] in seen)) m++; print m }' "$out")
    [ "$missing" = 0 ] && { echo "OK ($# of $# processes answer SIGUSR1)"; return 0; }
    [ "$(now_ns)" -lt "$end" ] || { echo "BAD ($missing of $# processes did not answer SIGUSR1 in 20 s)"; return 1; }
    sleep 0.02
  done
}

# ask_result PID RESULT_FILE: SIGUSR1 makes a fixture check itself and write one line to RESULT_FILE;
# prints that line, or NO-ANSWER (...) and fails.
ask_result() {
  local pid=$1 res=$2 end line
  rm -f "$res"
  kill -USR1 "$pid" 2>/dev/null || { echo "NO-ANSWER (pid $pid: cannot signal)"; return 1; }
  end=$(( $(now_ns) + 60 * 1000000000 ))
  until [ -s "$res" ]; do
    alive "$pid" || { echo "NO-ANSWER (pid $pid died, state '$(proc_state "$pid")')"; return 1; }
    [ "$(now_ns)" -lt "$end" ] || { echo "NO-ANSWER (no result after 60 s)"; return 1; }
    sleep 0.02
  done
  read -r line <"$res"
  echo "$line"
}

# verify_pipes PID RESULT_FILE: the pipes child checks its pipes (once: it reads them).
verify_pipes() {
  local line
  line=$(ask_result "$1" "$2") || { echo "$line"; return 1; }
  if [[ $line == "OK pipes=$NPIPES bytes=$((NPIPES * PIPE_KIB * 1024)) "* ]]; then
    echo "OK ($NPIPES pipes hold their $PIPE_KIB KiB each)"
  else
    echo "BAD ($line)"; return 1
  fi
}

# verify_ghost PID RESULT_FILE: the ghost process checks its deleted file.
verify_ghost() {
  local line
  line=$(ask_result "$1" "$2") || { echo "$line"; return 1; }
  if [[ $line == "OK ghost bytes=$((GHOST_MIB * 1048576)) "* ]]; then
    echo "OK (the deleted file has no name and its $GHOST_MIB MiB)"
  else
    echo "BAD ($line)"; return 1
  fi
}

# tree_check MODE PID...: after a restart (root first): every process runs and
# has its parent back, then the mode's own check. Prints OK ... or BAD ...
tree_check() {
  local mode=$1 root=$2 p pp r n=0
  shift
  for p in "$@"; do
    alive "$p" || { echo "BAD (pid $p is not running: state '$(proc_state "$p")')"; return 1; }
    if [ "$p" != "$root" ]; then
      pp=$(proc_ppid "$p")
      [ "$pp" = "$root" ] || { echo "BAD (pid $p has parent $pp, not $root)"; return 1; }
    fi
  done
  case $mode in
    tree50) check_alive "$FIX_OUT" "$@" ;;
    tree8)
      for p in "$@"; do
        r=$(verify "$p" "${HOGRES[$p]}" "${HOGSUM[$p]}") || { echo "BAD (pid $p: $r)"; return 1; }
        n=$((n + 1))
      done
      echo "OK ($n of $# processes: memory intact)" ;;
    pipes200) verify_pipes "$PIPE_CHILD" "$PIPE_RES" ;;
    ghost) verify_ghost "$root" "$GHOST_RES" ;;
  esac
}

# image_pids FILE: the pids of the TREE record in FILE, the output of `cryo show IMG --json`.
image_pids() {
  grep -m1 '"type": "TREE"' "$1" | grep -oE '"pid": [0-9]+' | awk '{ print $2 }'
}

declare -A TR_ROWS=() TR_C=() TR_R=() TR_F=() TR_T=() TR_TK=() TR_NOTE=() TR_N=()
tree_note() { TR_NOTE[$1]+="$2"$'\n'; }

# tree_row MODE RUN CKPT_NS REST_NS IMAGE_BYTES FROZEN_MS CHECK (RUN "med": no image, no check)
tree_row() {
  local mode=$1 c r img
  c=$(secs "$3"); r=$(secs "$4")
  img=$5; [ -n "$img" ] && img=$(mib "$img")
  if [ "$mode" = tree8 ] || [ "$mode" = ghost ]; then
    local bytes=$TREE8_BYTES
    [ "$mode" = ghost ] && bytes=$GHOST_BYTES
    printf '%-4s %8s %9s %8s %9s %9s %9s%s\n' "$2" "$c" "$(gbps "$bytes" "$3")" "$r" "$(gbps "$bytes" "$4")" "$img" "$6" "${7:+  $7}"
  else
    printf '%-4s %8s %8s %9s %9s%s\n' "$2" "$c" "$r" "$img" "$6" "${7:+  $7}"
  fi
}
tree_head() {
  if [ "$1" = tree8 ] || [ "$1" = ghost ]; then
    printf '%-4s %8s %9s %8s %9s %9s %9s  %s\n' run ckpt_s ckpt_GB/s rest_s rest_GB/s image_MiB frozen_ms "$([ "$1" = ghost ] && echo file || echo memory)"
  else
    printf '%-4s %8s %8s %9s %9s  %s\n' run ckpt_s rest_s image_MiB frozen_ms check
  fi
}
TREE8_BYTES=$((HOGS * HOG_MIB * 1048576))
GHOST_BYTES=$((GHOST_MIB * 1048576))

# tree_run MODE I: one checkpoint and restart of MODE's tree (I = 0: warm-up, not counted).
tree_run() {
  local mode=$1 i=$2 tag="$1-$2" img="/dev/shm/cryo-bench.$$.$1" root cns rns size frozen check left n t
  local -a pids ipids
  CLEAN_PATHS+=("$img")
  rm -f -- "$img"
  case $mode in
    tree50) start_pause "$tag" ;;
    tree8) start_hogs "$tag" ;;
    pipes200) start_pipes "$tag" ;;
    ghost) start_ghost "$tag" ;;
  esac || { tree_note "$mode" "run $i: the tree did not start"; return 1; }
  root=$FIX_ROOT pids=("${FIX_PIDS[@]}")

  run_cmd "$tag.ckpt" "$CRYO" checkpoint "$root" -o "$img"
  cns=$NS
  if [ "$RC" -ne 0 ]; then
    tree_note "$mode" "run $i: checkpoint failed ($(secs "$cns") s): $(first_err "$tag.ckpt")"
    kill_all "${pids[@]}"; rm -f -- "$img"; return 1
  fi
  reap_original "$root" "$tag" || { tree_note "$mode" "run $i: root pid $root not free after the checkpoint"; kill_all "${pids[@]}"; rm -f -- "$img"; return 1; }
  for t in "${pids[@]}"; do untrack "$t"; done
  # cryo's own list of the tree; the orphans are reaped by pid 1, now or a second later
  ipids=()
  run_cmd "$tag.show" "$CRYO" show "$img" --json
  [ "$RC" -eq 0 ] && mapfile -t ipids < <(image_pids "$WORK/$tag.show.out")
  if [ "${#ipids[@]}" -ne "${#pids[@]}" ]; then
    tree_note "$mode" "run $i: the image holds ${#ipids[@]} processes, the tree had ${#pids[@]}"
    FAILED=1
  fi
  if ! left=$(wait_all_gone 30 "${pids[@]}" "${ipids[@]}"); then
    tree_note "$mode" "run $i: pids still in /proc 30 s after the checkpoint: $left"
    rm -f -- "$img"; return 1
  fi
  size=$(stat -c %s "$img" 2>/dev/null || echo 0)
  frozen=$(timing_of "$tag.ckpt" frozen)

  run_cmd "$tag.rest" "$CRYO" restart -d "$img"
  rns=$NS
  if [ "$RC" -ne 0 ]; then
    tree_note "$mode" "run $i: restart failed ($(secs "$rns") s): $(first_err "$tag.rest")"
    for t in "${pids[@]}"; do [ -e "/proc/$t" ] && track "$t"; done
    kill_all "${pids[@]}"; rm -f -- "$img"; return 1
  fi
  restored_pid "$tag.rest" "$root" >/dev/null
  n=0
  for t in "${pids[@]}"; do track "$t" && n=$((n + 1)); done
  check=$(tree_check "$mode" "${pids[@]}")
  [ "$n" -eq "${#pids[@]}" ] || check="BAD ($n of ${#pids[@]} pids exist after the restart; $check)"
  kill_all "${pids[@]}"
  rm -f -- "$img"

  log "$tag: checkpoint $(secs "$cns") s, restart $(secs "$rns") s, image $(mib "$size") MiB, $check"
  [[ $check == OK* ]] || { FAILED=1; tree_note "$mode" "run $i: $check"; }
  [ "$i" -eq 0 ] && return 0
  TR_ROWS[$mode]+="$(tree_row "$mode" "$i" "$cns" "$rns" "$size" "${frozen:--}" "$check")"$'\n'
  TR_C[$mode]+=" $cns"; TR_R[$mode]+=" $rns"; TR_N[$mode]=$(( ${TR_N[$mode]:-0} + 1 ))
  [ -n "$frozen" ] && TR_F[$mode]+=" $frozen"
  for t in $(timings "$tag.ckpt"); do
    [ -n "${TR_T["$mode|checkpoint ${t%%=*}"]:-}" ] || TR_TK[$mode]+="checkpoint|${t%%=*} "
    TR_T["$mode|checkpoint ${t%%=*}"]+=" ${t#*=}"
  done
  for t in $(timings "$tag.rest"); do
    [ -n "${TR_T["$mode|restart ${t%%=*}"]:-}" ] || TR_TK[$mode]+="restart|${t%%=*} "
    TR_T["$mode|restart ${t%%=*}"]+=" ${t#*=}"
  done
}

# tree8_fits: enough memory for the processes plus the image in /dev/shm.
tree8_fits() {
  local need=$((HOGS * HOG_MIB * 1024)) avail shm
  avail=$(awk '/^MemAvailable:/ { print $2 }' /proc/meminfo)
  shm=$(df -Pk /dev/shm | awk 'NR == 2 { print $4 }')
  [ "${avail:-0}" -gt $((2 * need + 524288)) ] && [ "${shm:-0}" -gt $((need + 65536)) ]
}

tree_report() { # tree_report MODE
  local mode=$1 c r f k key lo hi
  case $mode in
    tree50)
      echo "== tree50: $TREE_N processes (bench/tree.c: a parent and $((TREE_N - 1)) forked children, all in pause()), checkpoint -o IMG / restart -d IMG,"
      echo "   JVM start-up included, image on /dev/shm: ${TR_N[$mode]:-0} of $REPEAT runs measured (after 1 warm-up)" ;;
    tree8)
      echo "== tree8: $HOGS processes of $HOG_MIB MiB of touched random memory each ($(mib "$TREE8_BYTES") MiB = $(gbps "$TREE8_BYTES" 1000000000) GB; bench/memhog, all children of one memhog),"
      echo "   checkpoint -o IMG / restart -d IMG, JVM start-up included, image on /dev/shm: ${TR_N[$mode]:-0} of $REPEAT runs measured"
      echo "   GB/s = 10^9 bytes of process memory per second; cryo moves the pages of one process with 2 worker threads (no one-at-a-time switch)" ;;
    pipes200)
      echo "== pipes200: $NPIPES pipes holding $PIPE_KIB KiB each ($(mib $((NPIPES * PIPE_KIB * 1024))) MiB; bench/tree.c: write ends in a parent, read ends in its child),"
      echo "   checkpoint -o IMG / restart -d IMG, JVM start-up included, image on /dev/shm: ${TR_N[$mode]:-0} of $REPEAT runs measured (after 1 warm-up)" ;;
    ghost)
      echo "== ghost: a process holding a deleted file of $GHOST_MIB MiB in $GHOST_DIR at fd 3 (bench/tree.c), checkpoint -o IMG / restart -d IMG,"
      echo "   JVM start-up included, image on /dev/shm: ${TR_N[$mode]:-0} of $REPEAT runs measured (after 1 warm-up)"
      echo "   GB/s = 10^9 bytes of the file per second; the floor is the baseline part of the same run (readv+pwrite, writev)" ;;
  esac
  if [ -n "${TR_C[$mode]:-}" ]; then
    tree_head "$mode"
    printf '%s' "${TR_ROWS[$mode]}"
    # shellcheck disable=SC2086
    c=$(median ${TR_C[$mode]}); r=$(median ${TR_R[$mode]}); f=$(median ${TR_F[$mode]:-})
    [ "$f" = "-" ] || f=$(printf '%.1f' "$f")
    tree_row "$mode" med "$c" "$r" "" "$f" ""
    if [ "$mode" = tree50 ]; then
      echo "   issue target < 1 s each way: checkpoint $(secs "$c") s $(awk -v ns="$c" 'BEGIN { print (ns < 1e9 ? "(met)" : "(NOT met)") }')," \
        "restart $(secs "$r") s $(awk -v ns="$r" 'BEGIN { print (ns < 1e9 ? "(met)" : "(NOT met)") }')"
    fi
    echo "-- cryo's own timing lines, ms (CRYO_TIMING=1; PID: the lines of every process summed)"
    printf '%-44s %9s %9s %9s\n' "" median_ms min_ms max_ms
    for k in ${TR_TK[$mode]}; do
      key=${k/|/ }
      # shellcheck disable=SC2086
      read -r lo hi <<<"$(minmax ${TR_T["$mode|$key"]})"
      # shellcheck disable=SC2086
      printf '%-44s %9.1f %9s %9s\n' "  $key" "$(median ${TR_T["$mode|$key"]})" "$lo" "$hi"
    done
  fi
  printf '%s' "${TR_NOTE[$mode]:-}" | sed 's/^/  /'
  echo
}

# ---------------------------------------------------------------- selftest
selftest() {
  local r pid
  log "selftest: memhog $SIZE_MIB MiB"
  start_hog selftest || { echo "selftest: FAIL (memhog did not start)"; return 1; }
  pid=$HOG_PID
  r=$(verify "$pid" "$HOG_RES" "$HOG_SUM"); echo "selftest: intact memory       -> $r"
  [ "$r" = OK ] || { kill_wait "$pid"; return 1; }
  r=$(verify "$pid" "$HOG_RES" "0000000000000000"); echo "selftest: wrong READY sum     -> $r"
  [[ $r == BAD* ]] || { kill_wait "$pid"; return 1; }
  kill -USR2 "$pid"; sleep 0.3       # flip one byte
  r=$(verify "$pid" "$HOG_RES" "$HOG_SUM"); echo "selftest: one byte flipped    -> $r"
  [[ $r == BAD* ]] || { kill_wait "$pid"; return 1; }
  kill_wait "$pid"
  if [ -e "/proc/$pid" ]; then echo "selftest: FAIL (pid $pid still exists)"; return 1; fi
  r=$(verify "$pid" "$HOG_RES" "$HOG_SUM"); echo "selftest: dead process        -> $r"
  [[ $r == NO-ANSWER* ]] || return 1

  log "selftest: tree of $TREE_N processes"
  start_pause selftest-tree || { echo "selftest: FAIL (tree did not start)"; return 1; }
  r=$(tree_check tree50 "${FIX_PIDS[@]}"); echo "selftest: tree, all running   -> $r"
  [[ $r == OK* ]] || { kill_all "${FIX_PIDS[@]}"; return 1; }
  kill -KILL "${FIX_PIDS[-1]}"; wait_dead "${FIX_PIDS[-1]}" 10     # a zombie until its parent dies
  r=$(tree_check tree50 "${FIX_PIDS[@]}"); echo "selftest: tree, one killed    -> $r"
  [[ $r == BAD* ]] || { kill_all "${FIX_PIDS[@]}"; return 1; }
  kill_all "${FIX_PIDS[@]}"

  log "selftest: $NPIPES pipes of $PIPE_KIB KiB"
  start_pipes selftest-pipes1 || { echo "selftest: FAIL (pipes did not start)"; return 1; }
  r=$(tree_check pipes200 "${FIX_PIDS[@]}"); echo "selftest: pipes, intact       -> $r"
  [[ $r == OK* ]] || { kill_all "${FIX_PIDS[@]}"; return 1; }
  r=$(tree_check pipes200 "${FIX_PIDS[@]}"); echo "selftest: pipes, read empty   -> $r"
  [[ $r == BAD* ]] || { kill_all "${FIX_PIDS[@]}"; return 1; }
  kill_all "${FIX_PIDS[@]}"
  start_pipes selftest-pipes2 || { echo "selftest: FAIL (pipes did not start)"; return 1; }
  kill -USR2 "$PIPE_CHILD"; sleep 0.3       # one byte out of pipe 0
  r=$(tree_check pipes200 "${FIX_PIDS[@]}"); echo "selftest: pipes, 1 byte gone  -> $r"
  [[ $r == BAD* ]] || { kill_all "${FIX_PIDS[@]}"; return 1; }
  kill_all "${FIX_PIDS[@]}"

  log "selftest: $HOGS memhogs of $HOG_MIB MiB under one root"
  start_hogs selftest-hogs || { echo "selftest: FAIL (memhog tree did not start)"; return 1; }
  r=$(tree_check tree8 "${FIX_PIDS[@]}"); echo "selftest: memhog tree, intact -> $r"
  [[ $r == OK* ]] || { kill_all "${FIX_PIDS[@]}"; return 1; }
  kill -USR2 "${FIX_PIDS[-1]}"; sleep 0.3
  r=$(tree_check tree8 "${FIX_PIDS[@]}"); echo "selftest: memhog tree, 1 flip -> $r"
  [[ $r == BAD* ]] || { kill_all "${FIX_PIDS[@]}"; return 1; }
  kill_all "${FIX_PIDS[@]}"

  log "selftest: a deleted file of 16 MiB"
  local gm=$GHOST_MIB
  GHOST_MIB=16
  start_ghost selftest-ghost || { echo "selftest: FAIL (ghost did not start)"; return 1; }
  r=$(tree_check ghost "${FIX_PIDS[@]}"); echo "selftest: ghost, intact       -> $r"
  [[ $r == OK* ]] || { kill_all "${FIX_PIDS[@]}"; return 1; }
  kill -USR2 "$FIX_ROOT"; sleep 0.3       # one byte of the file changed
  r=$(tree_check ghost "${FIX_PIDS[@]}"); echo "selftest: ghost, 1 byte off   -> $r"
  [[ $r == BAD* ]] || { kill_all "${FIX_PIDS[@]}"; return 1; }
  kill_all "${FIX_PIDS[@]}"
  GHOST_MIB=$gm

  log "selftest: baseline, 16 MiB"
  CLEAN_PATHS+=("/dev/shm/cryo-bench.$$.selftest-base")
  run_cmd selftest-base "$BASEBIN" 16 1 /dev/shm "cryo-bench.$$.selftest-base"
  r=$(grep -cE '^(readv|readv\+pwrite|writev|populate|touch) +[12] +[0-9]+\.[0-9]{3} +[0-9]+\.[0-9]{2}$' "$WORK/selftest-base.out")
  if [ "$RC" -ne 0 ]; then r="FAIL ($(first_err selftest-base))"
  elif [ "$r" -ne 8 ]; then r="FAIL ($r of 8 result lines)"
  elif [ -e "/dev/shm/cryo-bench.$$.selftest-base" ]; then r="FAIL (its file is left in /dev/shm)"
  else r="OK (8 result lines, file removed)"; fi
  echo "selftest: baseline, 16 MiB    -> $r"
  [[ $r == OK* ]] || return 1
  echo "selftest: OK"
}

# ---------------------------------------------------------- part: container
# A container is not our child: `cryo run -d` and `cryo restart -d` print its
# init's host pid, and pid 1 of the host reaps it once we kill it (kill_all waits).
CT_ROWS= CT_C=() CT_R=() CT_NOTES=()

# ct_start TAG: a container whose sh (pid 1) mounts a tmpfs on $WORK/TAG.mnt (in
# its own mount namespace only), fills it with CT_TMPFS_MIB MiB of random bytes,
# starts CT_PROCS-1 sleeps and writes "READY <md5 of the file>" to $WORK/TAG.ready.
# Sets CT_INIT and CT_SUM.
ct_start() {
  local tag=$1 mnt=$WORK/$1.mnt ready=$WORK/$1.ready end script
  mkdir -p "$mnt"; rm -f "$ready"
  script="mount -t tmpfs -o size=$((CT_TMPFS_MIB + 16))m cryo-bench $mnt || exit 1
head -c $((CT_TMPFS_MIB * 1048576)) /dev/urandom >$mnt/data || exit 1
sum=\$(md5sum <$mnt/data); i=1
while [ \$i -lt $CT_PROCS ]; do sleep 100000 & i=\$((i + 1)); done
echo \"READY \${sum%% *}\" >$ready.new && mv $ready.new $ready
wait"
  run_cmd "$tag.run" "$CRYO" run -d -- sh -c "$script"
  [ "$RC" -eq 0 ] || { log "$tag: cryo run failed: $(first_err "$tag.run")"; return 1; }
  CT_INIT=$(grep -E '^[0-9]+$' "$WORK/$tag.run.out" | tail -n1)
  [ -n "$CT_INIT" ] && track "$CT_INIT" || { log "$tag: cryo run printed no running pid"; return 1; }
  end=$(( $(now_ns) + 120 * 1000000000 ))
  until [ -s "$ready" ]; do
    alive "$CT_INIT" || { log "$tag: the container died before READY"; untrack "$CT_INIT"; return 1; }
    [ "$(now_ns)" -lt "$end" ] || { log "$tag: the container was not READY after 120 s"; kill_all "$CT_INIT"; return 1; }
    sleep 0.02
  done
  read -r _ CT_SUM <"$ready"
}

# ct_check INIT TAG: pid 1 of its namespace, CT_PROCS-1 children, the tmpfs file intact.
ct_check() {
  local init=$1 mnt=$WORK/$2.mnt ns kids sum
  alive "$init" || { echo "BAD (the restored init $init is not running)"; return 1; }
  ns=$(awk '/^NSpid:/ { print $NF }' "/proc/$init/status" 2>/dev/null)
  [ "$ns" = 1 ] || { echo "BAD (the restored init is pid '$ns' in its namespace, not 1)"; return 1; }
  kids=$(wc -w <"/proc/$init/task/$init/children" 2>/dev/null)
  [ "$kids" = $((CT_PROCS - 1)) ] || { echo "BAD ($kids children of the init, not $((CT_PROCS - 1)))"; return 1; }
  sum=$(md5sum <"/proc/$init/root$mnt/data" 2>/dev/null); sum=${sum%% *}
  [ "$sum" = "$CT_SUM" ] || { echo "BAD (the tmpfs file differs: md5 '$sum', was '$CT_SUM')"; return 1; }
  echo "OK ($CT_PROCS processes, pid 1 inside, $CT_TMPFS_MIB MiB tmpfs file intact)"
}

# ct_run I: one checkpoint and restart (I = 0: warm-up, not counted).
ct_run() {
  local i=$1 tag="container-$1" img="/dev/shm/cryo-bench.$$.container" cns rns size check new
  CLEAN_PATHS+=("$img")
  rm -f -- "$img"
  ct_start "$tag" || { CT_NOTES+=("run $i: the container did not start"); return 1; }
  run_cmd "$tag.ckpt" "$CRYO" checkpoint "$CT_INIT" -o "$img"
  cns=$NS
  if [ "$RC" -ne 0 ]; then
    CT_NOTES+=("run $i: checkpoint failed: $(first_err "$tag.ckpt")"); kill_all "$CT_INIT"; rm -f -- "$img"; return 1
  fi
  untrack "$CT_INIT"
  size=$(stat -c %s "$img" 2>/dev/null || echo 0)
  run_cmd "$tag.rest" "$CRYO" restart -d "$img"
  rns=$NS
  if [ "$RC" -ne 0 ]; then
    CT_NOTES+=("run $i: restart failed: $(first_err "$tag.rest")"); rm -f -- "$img"; return 1
  fi
  new=$(grep -E '^[0-9]+$' "$WORK/$tag.rest.out" | tail -n1)
  [ -n "$new" ] && track "$new"
  check=$(ct_check "${new:-0}" "$tag")
  [ -n "$new" ] && kill_all "$new"
  rm -f -- "$img"
  log "$tag: checkpoint $(secs "$cns") s, restart $(secs "$rns") s, image $(mib "$size") MiB, $check"
  [[ $check == OK* ]] || { CT_NOTES+=("run $i: $check"); return 1; }
  [ "$i" -eq 0 ] && return 0
  CT_ROWS+="$(printf '%-4s %8s %8s %9s  %s' "$i" "$(secs "$cns")" "$(secs "$rns")" "$(mib "$size")" "$check")"$'\n'
  CT_C+=("$cns"); CT_R+=("$rns")
}

ct_report() {
  local c r
  echo "== container: cryo run -d, $CT_PROCS processes, a tmpfs of its own with $CT_TMPFS_MIB MiB, checkpoint -o IMG / restart -d IMG (fresh namespaces),"
  echo "   JVM start-up included, image on /dev/shm: ${#CT_C[@]} of $REPEAT runs measured (after 1 warm-up)"
  if [ "${#CT_C[@]}" -gt 0 ]; then
    printf '%-4s %8s %8s %9s  %s\n' run ckpt_s rest_s image_MiB check
    printf '%s' "$CT_ROWS"
    c=$(median "${CT_C[@]}"); r=$(median "${CT_R[@]}")
    printf '%-4s %8s %8s\n' med "$(secs "$c")" "$(secs "$r")"
    echo "   issue target < 1 s each way: checkpoint $(secs "$c") s $(awk -v ns="$c" 'BEGIN { print (ns < 1e9 ? "(met)" : "(NOT met)") }')," \
      "restart $(secs "$r") s $(awk -v ns="$r" 'BEGIN { print (ns < 1e9 ? "(met)" : "(NOT met)") }')"
  fi
  local n; for n in "${CT_NOTES[@]}"; do echo "  $n"; done
  echo
}

# python: bench/python.sh
# shellcheck source=bench/python.sh
source "$ROOT/bench/python.sh" || exit 1

# -------------------------------------------------------------------- main
echo "cryo bench: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), kernel $(uname -r), $(nproc) CPUs," \
  "$(awk '/MemTotal/ { printf "%.1f GiB RAM", $2 / 1048576 }' /proc/meminfo)," \
  "THP $(grep -o '\[[a-z]*\]' /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null | tr -d '[]')," \
  "load $(cut -d' ' -f1-3 /proc/loadavg)," \
  "cryo $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?')"

if [ "$SELFTEST" = 1 ]; then
  selftest; exit $?
fi

if [ "$DO_BASE" = 1 ]; then
  for dir in $DIRS; do
    [ -d "$dir" ] && [ -w "$dir" ] || { log "no writable directory $dir: skipped"; continue; }
    base_run "$dir"
  done
fi

CRYO_OK=1
if [ $((DO_BIG + DO_SMALL + DO_TREE50 + DO_TREE8 + DO_PIPES + DO_GHOST + DO_CT + DO_PY + DO_LAZY)) -gt 0 ]; then
  if [ ! -x "$CRYO" ]; then
    log "cryo is not executable: $CRYO"; CRYO_OK=0
  else
    run_cmd probe "$CRYO" --help
    if [ "$RC" -ne 0 ]; then log "'$CRYO --help' failed: $(first_err probe)"; CRYO_OK=0; fi
  fi
  [ "$CRYO_OK" = 1 ] || { FAILED=1; DO_BIG=0; DO_SMALL=0; DO_TREE50=0; DO_TREE8=0; DO_PIPES=0; DO_GHOST=0; DO_CT=0; DO_PY=0; DO_LAZY=0; log "skipping the cryo parts"; }
fi

HAVE_CRIU=0
if [ "$DO_CRIU" = 1 ]; then
  if command -v "$CRIU" >/dev/null; then HAVE_CRIU=1; else log "criu is not installed: skipping the criu comparison"; fi
fi

BASELINE=
if [ $((DO_BIG + HAVE_CRIU)) -gt 0 ]; then
  BASELINE=$("$MEMHOG" --touch "$SIZE_MIB")
  log "baseline: faulting in $SIZE_MIB MiB of fresh memory: $BASELINE"
fi

if [ "$DO_BIG" = 1 ]; then
  for dir in $DIRS; do
    [ -d "$dir" ] && [ -w "$dir" ] || { log "no writable directory $dir: skipped"; continue; }
    for ((rep = 1; rep <= REPEAT; rep++)); do big_run cryo "$dir" "$rep"; done
  done
fi
if [ "$HAVE_CRIU" = 1 ]; then
  for dir in $DIRS; do
    [ -d "$dir" ] && [ -w "$dir" ] || continue
    for ((rep = 1; rep <= REPEAT; rep++)); do big_run criu "$dir" "$rep"; done
  done
fi
if [ "$DO_SMALL" = 1 ]; then
  for ((i = 0; i <= N; i++)); do small_run "$i" || FAILED=1; done
fi
if [ "$DO_TREE50" = 1 ]; then
  for ((i = 0; i <= REPEAT; i++)); do tree_run tree50 "$i" || FAILED=1; done
fi
if [ "$DO_TREE8" = 1 ]; then
  if tree8_fits; then
    for ((i = 1; i <= REPEAT; i++)); do tree_run tree8 "$i" || FAILED=1; done
  else
    tree_note tree8 "skipped: needs twice $(mib "$TREE8_BYTES") MiB of available memory (processes, then image + restored processes) and room in /dev/shm"
    FAILED=1
  fi
fi
if [ "$DO_PIPES" = 1 ]; then
  for ((i = 0; i <= REPEAT; i++)); do tree_run pipes200 "$i" || FAILED=1; done
fi
if [ "$DO_GHOST" = 1 ]; then
  for ((i = 0; i <= REPEAT; i++)); do tree_run ghost "$i" || FAILED=1; done
fi

if [ "$DO_CT" = 1 ]; then
  for ((i = 0; i <= REPEAT; i++)); do ct_run "$i" || FAILED=1; done
fi
[ "$DO_PY" = 1 ] && py_part
# shellcheck source=bench/precopy.sh
[ "$DO_PRECOPY" = 1 ] && { source "$ROOT/bench/precopy.sh"; pc_all; }
if [ "$DO_LAZY" = 1 ]; then
  for ((i = 0; i <= REPEAT; i++)); do lazy_run "$i" || FAILED=1; done
fi

# ------------------------------------------------------------------ report
echo
[ "$DO_BASE" = 1 ] && base_report
[ "$DO_LAZY" = 1 ] && lazy_report
if [ $((DO_BIG + HAVE_CRIU)) -gt 0 ]; then
  echo "== $SIZE_MIB MiB of touched random anonymous memory ($(gbps "$SIZE_BYTES" 1000000000) GB), checkpoint -o IMG / restart -d IMG, $REPEAT run(s) per directory"
  echo "   GB/s = 10^9 bytes of process memory per second; frozen = how long the target was stopped (cryo: its 'frozen' timing; criu: stats-dump)"
  [ -n "$BASELINE" ] && echo "   baseline, faulting in $SIZE_MIB MiB of fresh memory in a new process: $BASELINE"
  printf '%-5s %-9s %3s %9s %9s %9s %9s %9s %9s  %s\n' tool image run ckpt_s ckpt_GB/s rest_s rest_GB/s image_MiB frozen_ms memory
  for row in "${BIG_ROWS[@]}"; do echo "$row"; done
  if [ "$REPEAT" -gt 1 ]; then
    for tool in cryo criu; do for dir in $DIRS; do big_medians "$tool" "$dir"; done; done
  fi
  if [ "${#TIMING_ROWS[@]}" -gt 0 ]; then
    echo "-- cryo's own timing lines (ms, CRYO_TIMING=1)"
    for row in "${TIMING_ROWS[@]}"; do echo "$row"; done
  fi
  [ "$HAVE_CRIU" = 1 ] || { [ "$DO_CRIU" = 1 ] && echo "-- criu: not installed, no comparison"; }
  echo
fi
if [ "$DO_SMALL" = 1 ]; then
  echo "== small process (sleep 1000), JVM start-up included, image on /dev/shm: ${#SMALL_C[@]} of $N runs measured (after 1 warm-up)"
  if [ "${#SMALL_C[@]}" -gt 0 ]; then
    printf '%-44s %9s %9s %9s\n' "" median_ms min_ms max_ms
    read -r lo hi <<<"$(minmax "${SMALL_C[@]}")"
    printf '%-44s %9.1f %9s %9s\n' "cryo checkpoint" "$(median "${SMALL_C[@]}")" "$lo" "$hi"
    read -r lo hi <<<"$(minmax "${SMALL_R[@]}")"
    printf '%-44s %9.1f %9s %9s\n' "cryo restart -d" "$(median "${SMALL_R[@]}")" "$lo" "$hi"
    for k in $(printf '%s\n' "${!SMALL_T[@]}" | sort | tr ' ' '|'); do
      key=${k//|/ }
      # shellcheck disable=SC2086
      read -r lo hi <<<"$(minmax ${SMALL_T[$key]})"
      # shellcheck disable=SC2086
      printf '%-44s %9.1f %9s %9s\n' "  timing: $key" "$(median ${SMALL_T[$key]})" "$lo" "$hi"
    done
  fi
  for note in "${SMALL_NOTE[@]}"; do echo "  $note"; done
  echo
fi
[ "$DO_TREE50" = 1 ] && tree_report tree50
[ "$DO_TREE8" = 1 ] && tree_report tree8
[ "$DO_PIPES" = 1 ] && tree_report pipes200
[ "$DO_GHOST" = 1 ] && tree_report ghost
[ "$DO_CT" = 1 ] && ct_report
[ "$DO_PY" = 1 ] && py_report
[ "$DO_PRECOPY" = 1 ] && pc_report
if [ "$FAILED" = 0 ]; then echo "bench: done"; else echo "bench: done, with failures (see above)"; fi
exit "$FAILED"
