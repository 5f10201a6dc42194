# bench/kill-checkpoint.sh: the `checkpoint` part of bench/kill.sh (sourced). Owner: issue 16, checkpoint side.
#
# kill_checkpoint: TRIALS trials of each mode in KILL_CKPT_MODES (default "leave-running kill"; "pre-copy" is
# `checkpoint --pre-copy --leave-running`) of a perl counter holding 64 MiB, cryo killed by SIGKILL at a random
# moment of its run (0 to 1.2 times the duration of a full checkpoint, measured first). After each trial:
#   - a checkpoint that ended before the kill: exit 0 and the image there (kill mode: the target dead by it);
#     one killed after its image was committed counts as completed too, its target checked as below;
#   - else the target alive, not stopped nor traced, still counting, its SigBlk as before, its maps as before,
#     and no image and no temporary file in the image's directory.
# A trial whose only difference in the maps is one anonymous rwx mapping (cryo's scratch, when the kill fell
# between its mmap and munmap: docs/design.md) counts as "scratch left", not as a failure.
kill_checkpoint() {
  command -v perl >/dev/null || { echo "kill checkpoint: perl is missing" >&2; FAILED=$((FAILED + 1)); return; }
  local modes=${KILL_CKPT_MODES:-leave-running kill}
  local counter='$SIG{USR1} = sub { $u++ }; my $m = "x" x (64 << 20); $| = 1; my $i = 0;
                 while (1) { $i++; print "$i\n" if $i % 20000 == 0 }'
  local mode
  for mode in $modes; do
    local args=(checkpoint)
    case $mode in
      leave-running) args+=(--leave-running) ;;
      pre-copy) args+=(--pre-copy --leave-running) ;;
      kill) ;;
      *) echo "kill checkpoint: unknown mode '$mode'" >&2; FAILED=$((FAILED + 1)); continue ;;
    esac
    local dur
    kc_measure "$counter" "${args[@]}" && dur=$KC_DUR || { echo "kill checkpoint $mode: a full checkpoint failed" >&2; FAILED=$((FAILED + 1)); continue; }
    local trials=0 killed=0 completed=0 scratch=0 failures=0 t
    for ((t = 1; t <= TRIALS; t++)); do
      trials=$((trials + 1))
      kc_trial "$mode" "$counter" "$dur" "${args[@]}"
      case $KC_RESULT in
        killed) killed=$((killed + 1)) ;;
        scratch) killed=$((killed + 1)); scratch=$((scratch + 1)) ;;
        completed) completed=$((completed + 1)) ;;
        *) failures=$((failures + 1)) ;;
      esac
    done
    FAILED=$((FAILED + failures))
    printf 'kill checkpoint %-13s trials %d  killed before the end %d  completed %d  scratch left %d  failures %d  (checkpoint %.2f s)\n' \
      "$mode" "$trials" "$killed" "$completed" "$scratch" "$failures" "$dur"
  done
}

# Starts the counter in the background in directory $1 (a child of this shell); KC_PID once it counts.
kc_start() {
  # fds 3 and up closed before perl starts: whatever the caller leaves open would be refused as shared outside the tree
  ( for f in /proc/self/fd/*; do f=${f##*/}; [ "$f" -gt 2 ] && eval "exec $f>&-"; done 2>/dev/null
    exec perl -e "$2" ) > "$1/count" 2>/dev/null </dev/null &
  KC_PID=$!
  PIDS+=("$KC_PID")
  local i
  for ((i = 0; i < 3000; i++)); do [ -s "$1/count" ] && break; sleep 0.01; done
}

# Ends a counter (by pid) and reaps it.
kc_stop() {
  kill -9 "$1" 2>/dev/null
  { wait "$1"; } 2>/dev/null
  kc_forget "$1"
}

# Drops a reaped pid from PIDS (killed by pid on exit: never a pid that may be another process's by then).
kc_forget() {
  local p keep=()
  for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}

# The duration in seconds of one full checkpoint in this mode (median of three).
kc_measure() {
  local counter=$1; shift
  local d="$WORK/measure" pid s e i times=()
  mkdir -p "$d"
  for i in 1 2 3; do
    kc_start "$d" "$counter"; pid=$KC_PID
    s=$(date +%s.%N)
    "$CRYO" "$@" -o "$d/img" "$pid" >/dev/null 2>"$d/err" || { cat "$d/err" >&2; kc_stop "$pid"; return 1; }
    e=$(date +%s.%N)
    kc_stop "$pid"
    rm -f "$d/img"
    times+=("$(awk -v s="$s" -v e="$e" 'BEGIN { printf "%.3f", e - s }')")
  done
  KC_DUR=$(printf '%s\n' "${times[@]}" | sort -n | sed -n 2p)
}

# One trial; KC_RESULT = killed, scratch, completed or failed (the reason on stderr).
kc_trial() {
  local mode=$1 counter=$2 dur=$3; shift 3
  local d="$WORK/trial"
  rm -rf "$d"; mkdir -p "$d/out"
  local pid
  kc_start "$d" "$counter"; pid=$KC_PID
  local blk maps
  blk=$(kc_sigblk "$pid"); maps=$(cat "/proc/$pid/maps")
  "$CRYO" "$@" -o "$d/out/img" "$pid" >/dev/null 2>"$d/err" &
  local cpid=$!
  PIDS+=("$cpid")
  sleep "$(random_delay "$(awk -v d="$dur" 'BEGIN { print d * 1.2 }')")"
  kill -9 "$cpid" 2>/dev/null
  { wait "$cpid"; } 2>/dev/null
  local rc=$? why=""
  kc_forget "$cpid"
  if [ $rc -eq 0 ]; then
    [ -f "$d/out/img" ] || why="cryo exited 0 but left no image"
    if [ "$mode" = kill ]; then
      kc_gone "$pid" || why="${why:+$why; }the target outlived a finished kill-mode checkpoint"
    fi
    kc_stop "$pid"
    [ -z "$why" ] && { KC_RESULT=completed; return; }
    echo "kill checkpoint $mode: $why" >&2; KC_RESULT=failed; return
  fi
  [ $rc -eq 137 ] || why="cryo failed by itself (exit $rc): $(head -c 300 "$d/err")"
  local scratch=0 committed=0
  # killed after the image was committed (linked under its name): the checkpoint is done; in kill mode the
  # tree may be dead by then, else it must be as unharmed as ever
  if [ -z "$why" ] && [ -f "$d/out/img" ]; then
    committed=1
    mv "$d/out/img" "$d/img"
    if [ "$mode" = kill ] && { ! [ -d "/proc/$pid" ] || [ "$(awk '$1 == "State:" { print $2 }' "/proc/$pid/status" 2>/dev/null)" = Z ]; }; then
      kc_stop "$pid"; KC_RESULT=completed; return
    fi
  fi
  if [ -z "$why" ]; then why=$(kc_check "$pid" "$d" "$blk" "$maps"); fi
  if [ "$why" = scratch ]; then scratch=1; why=""; fi
  if [[ $why == "the target died"* ]]; then
    { wait "$pid"; } 2>/dev/null
    local st=$?
    why="$why, wait status $st$([ $st -gt 128 ] && echo " (signal $((st - 128)))"), cryo's last words: $(tail -c 300 "$d/err" | tr '\n' ' ')"
  fi
  kc_stop "$pid"
  if [ -n "$why" ]; then echo "kill checkpoint $mode: $why" >&2; KC_RESULT=failed; return; fi
  if [ $committed = 1 ]; then KC_RESULT=completed; elif [ $scratch = 1 ]; then KC_RESULT=scratch; else KC_RESULT=killed; fi
}

# After a kill: what is wrong with the target, "scratch" if only cryo's scratch is left, nothing if all is well.
kc_check() {
  local pid=$1 d=$2 blk=$3 maps=$4 i st tracer
  for ((i = 0; i < 200; i++)); do
    st=$(awk '$1 == "State:" { print $2 }' "/proc/$pid/status" 2>/dev/null)
    tracer=$(awk '$1 == "TracerPid:" { print $2 }' "/proc/$pid/status" 2>/dev/null)
    [ -z "$st" ] && { echo "the target died ($(tail -c 200 "$d/count" | tail -1))"; return; }
    [ "$st" != t ] && [ "$st" != T ] && [ "$tracer" = 0 ] && break
    sleep 0.01
  done
  [ "$st" = t ] || [ "$st" = T ] || [ "$tracer" != 0 ] && { echo "the target is left stopped ($st, tracer $tracer)"; return; }
  local n1 n2
  n1=$(wc -l < "$d/count")
  for ((i = 0; i < 1000; i++)); do n2=$(wc -l < "$d/count"); [ "$n2" -gt "$n1" ] && break; sleep 0.01; done
  [ "$n2" -gt "$n1" ] || { echo "the target no longer counts (state $(awk '$1 == "State:" { print $2 }' "/proc/$pid/status"), syscall $(cat "/proc/$pid/syscall"), wchan $(cat "/proc/$pid/wchan"), cryo: $(tail -c 200 "$d/err"))"; return; }
  [ "$(kc_sigblk "$pid")" = "$blk" ] || { echo "SigBlk changed: $blk -> $(kc_sigblk "$pid")"; return; }
  local left
  left=$(ls -A "$d/out")
  [ -z "$left" ] || { echo "left in the image directory: $left"; return; }
  local now extra
  now=$(cat "/proc/$pid/maps")
  [ "$now" = "$maps" ] && return
  extra=$(diff <(echo "$maps") <(echo "$now") | grep '^[<>]')
  if [ "$(echo "$extra" | wc -l)" = 1 ] && echo "$extra" | grep -Eq '^> [0-9a-f]+-[0-9a-f]+ rwxp 00000000 00:00 0 *$'; then
    echo scratch; return
  fi
  echo "maps changed: $extra"
}

kc_sigblk() { grep -h '^SigBlk' /proc/"$1"/task/*/status 2>/dev/null | tr '\n' ' '; }

# True once the process is gone (or a zombie, reaped here).
kc_gone() {
  local i
  for ((i = 0; i < 200; i++)); do
    [ -d "/proc/$1" ] || return 0
    [ "$(awk '$1 == "State:" { print $2 }' "/proc/$1/status" 2>/dev/null)" = Z ] && return 0
    sleep 0.01
  done
  return 1
}
