# bench/kill-restart.sh: the `restart` part of bench/kill.sh (sourced). Owner: issue 16, restart side.
#
# One image of src/test/c/kill_restart.c (two processes, a SysV shm segment, semaphore set and message queue
# in the host IPC namespace, a ghost file with a name, a TCP listener: a held network lock), then TRIALS
# restarts, each `kill -9`ed after a random delay in [0, 1.2 x the measured duration of a restart): in turn
# `restart -d IMG`, `restart -d - < IMG`, `restart IMG` (foreground), `restart --lazy -d IMG`,
# `restart --lazy IMG`. After the kill, within KR_WAIT seconds (default 20: the janitor starts a JVM), either
# the whole tree runs with its IPC objects (the restart had committed: counted "completed", then killed and
# cleaned by pid and id) or nothing is left: no process of the tree, IPC object, ghost file, journal, janitor
# or lazy page server. Between trials the image's held lock table is made again, so that each trial has one to
# lift; a cryo killed before it read the image leaves it (it is the image's, not the restart's: counted apart).

KR_WAIT=${KR_WAIT:-20}

# Execs "$@" with no fd above 2 (a checkpoint refuses fds shared with processes outside the tree).
kr_exec_clean() {
  local fd
  for fd in /proc/$BASHPID/fd/*; do
    fd=${fd##*/}
    [ "$fd" -gt 2 ] 2>/dev/null && eval "exec $fd>&-"
  done
  exec "$@"
}

# Starts the fixture in a session of its own, with no fd of this shell but 0-2; sets KR_ROOT KR_CHILD KR_SHM
# KR_SEM KR_MSG. Its stdin is a pipe from a sleep of ours (fd 0 may lead outside the tree).
kr_start_fixture() {
  local out=$1/fixture.out
  : > "$out"
  sleep 100000 | kr_exec_clean setsid "$1/kill_restart" "$1/ghosts" > "$out" 2>&1 &
  KR_FEED=$(jobs -p | tail -1)
  PIDS+=("$KR_FEED")
  local i
  for i in $(seq 100); do grep -q READY "$out" && break; sleep 0.05; done
  read -r KR_SHM KR_SEM KR_MSG KR_CHILD < <(sed -nE 's/READY shm=([0-9]+) sem=([0-9]+) msg=([0-9]+) port=[0-9]+ child=([0-9]+)/\1 \2 \3 \4/p' "$out")
  KR_ROOT=$(awk '{print $4}' "/proc/$KR_CHILD/stat" 2>/dev/null)
  [ -n "$KR_ROOT" ] || { echo "kill restart: the fixture did not start: $(cat "$out")" >&2; return 1; }
  PIDS+=("$KR_ROOT" "$KR_CHILD")
}

kr_alive() { [ -e "/proc/$1" ] && ! grep -q '^[0-9]* ([^)]*) [ZX]' "/proc/$1/stat" 2>/dev/null; }
kr_ipc_left() {   # the kinds of the image's IPC objects that exist
  local k=""
  ipcs -m | awk '{print $2}' | grep -qx "$KR_SHM" && k+=" shm"
  ipcs -s | awk '{print $2}' | grep -qx "$KR_SEM" && k+=" sem"
  ipcs -q | awk '{print $2}' | grep -qx "$KR_MSG" && k+=" msg"
  echo "$k"
}
kr_remove_ipc() { ipcrm -m "$KR_SHM" 2>/dev/null; ipcrm -s "$KR_SEM" 2>/dev/null; ipcrm -q "$KR_MSG" 2>/dev/null; }
kr_kill_tree() {
  kill -9 "$KR_ROOT" "$KR_CHILD" 2>/dev/null
  local i
  for i in $(seq 200); do kr_alive "$KR_ROOT" || kr_alive "$KR_CHILD" || return 0; sleep 0.05; done
  return 1
}
kr_helper_of() {   # pids of processes whose command line (NUL-separated) matches the Perl regex $1
  grep -laP "$1" /proc/[0-9]*/cmdline 2>/dev/null | sed 's|/proc/\([0-9]*\)/cmdline|\1|'
}
kr_hold_lock() { [ -z "$KR_TABLE" ] || { nft add table inet "$KR_TABLE" && nft add chain inet "$KR_TABLE" held; } 2>/dev/null; }
kr_table_left() { [ -n "$KR_TABLE" ] && nft list tables inet 2>/dev/null | grep -qx "table inet $KR_TABLE"; }

# What is left after a trial's kill: "" when nothing, "completed" when the whole tree runs, else the kinds left.
kr_leftovers() {
  local cryo=$1 deadline=$((SECONDS + KR_WAIT)) left
  while :; do
    left=""
    kr_alive "$KR_ROOT" && left+=" root"
    kr_alive "$KR_CHILD" && left+=" child"
    left+=$(kr_ipc_left)
    [ -e "$KR_DIR/ghosts/ghost" ] && left+=" ghost"
    ls /run/cryo/journal/"$cryo"-* >/dev/null 2>&1 && left+=" journal"
    [ -n "$(kr_helper_of "__sweep\\x00$cryo-")" ] && left+=" janitor"
    [ -n "$(kr_helper_of "__lazy-server\\x00[0-9]+\\x00$cryo(\\x00|\$)")" ] && left+=" page-server"
    case $left in
      " root child shm sem msg") echo completed; return ;;
      "") echo ""; return ;;
    esac
    [ $SECONDS -ge $deadline ] && { echo "$left"; return; }
    sleep 0.1
  done
}

kill_restart() {
  KR_DIR=$WORK/restart
  mkdir -p "$KR_DIR/ghosts"
  command -v nft >/dev/null && command -v ipcs >/dev/null || { echo "kill restart: needs nft and ipcs" >&2; FAILED=$((FAILED + 1)); return; }
  gcc -O1 -o "$KR_DIR/kill_restart" "$ROOT/src/test/c/kill_restart.c" || { FAILED=$((FAILED + 1)); return; }
  kr_start_fixture "$KR_DIR" || { FAILED=$((FAILED + 1)); return; }
  local before img=$KR_DIR/img
  before=$(nft list tables inet 2>/dev/null)
  "$CRYO" checkpoint --ipc "msg:$KR_MSG,sem:$KR_SEM" -o "$img" "$KR_ROOT" 2> "$KR_DIR/checkpoint.err" \
    || { echo "kill restart: checkpoint failed: $(cat "$KR_DIR/checkpoint.err")" >&2; FAILED=$((FAILED + 1)); return; }
  KR_TABLE=$(diff <(echo "$before") <(nft list tables inet 2>/dev/null) | sed -n 's/^> table inet //p' | head -1)
  kill "$KR_FEED" 2>/dev/null
  kr_kill_tree; kr_remove_ipc
  # interrupted, the objects and the table go too (kill.sh's cleanup kills the processes by pid)
  trap 'kr_kill_tree; kr_remove_ipc; [ -n "$KR_TABLE" ] && nft delete table inet "$KR_TABLE" 2>/dev/null; cleanup' EXIT

  # the duration of a whole restart -d, to spread the kills over
  local t0 t1 dur
  t0=$(date +%s%N)
  "$CRYO" restart -d "$img" > /dev/null 2> "$KR_DIR/restart.err" < /dev/null \
    || { echo "kill restart: restart failed: $(cat "$KR_DIR/restart.err")" >&2; FAILED=$((FAILED + 1)); return; }
  t1=$(date +%s%N)
  dur=$(awk -v n=$((t1 - t0)) 'BEGIN { printf "%.3f", n / 1e9 * 1.2 }')
  kr_kill_tree; kr_remove_ipc
  echo "kill restart: image of 2 processes, shm+sem+msg, a ghost file, a TCP listener (lock ${KR_TABLE:-none}); a restart -d takes $(awk -v n=$((t1 - t0)) 'BEGIN { printf "%.3f", n / 1e9 }') s; kills in [0, $dur) s, leftovers looked for within ${KR_WAIT} s"

  local i mode delay cpid rc left killed=0 completed=0 bad=0 kept=0
  local -A kinds=()
  local modes=("-d IMG" "-d STDIN" "fg IMG" "--lazy -d IMG" "--lazy fg IMG")
  for ((i = 0; i < TRIALS; i++)); do
    mode=${modes[i % ${#modes[@]}]}
    kr_hold_lock
    delay=$(random_delay "$dur")
    case $mode in
      "-d IMG") "$CRYO" restart -d "$img" > /dev/null 2>> "$KR_DIR/trials.err" < /dev/null & ;;
      "-d STDIN") "$CRYO" restart -d - > /dev/null 2>> "$KR_DIR/trials.err" < "$img" & ;;
      "fg IMG") "$CRYO" restart "$img" > /dev/null 2>> "$KR_DIR/trials.err" < /dev/null & ;;
      "--lazy -d IMG") "$CRYO" restart --lazy -d "$img" > /dev/null 2>> "$KR_DIR/trials.err" < /dev/null & ;;
      "--lazy fg IMG") "$CRYO" restart --lazy "$img" > /dev/null 2>> "$KR_DIR/trials.err" < /dev/null & ;;
    esac
    cpid=$!
    PIDS+=("$cpid")
    sleep "$delay"
    kill -9 "$cpid" 2>/dev/null
    wait "$cpid" 2>/dev/null; rc=$?
    [ $rc = 137 ] && killed=$((killed + 1))
    left=$(kr_leftovers "$cpid")
    # the image's held lock is the image's until a restart reads it: a cryo killed before then leaves it (info)
    kr_table_left && kept=$((kept + 1))
    case $left in
      "") ;;
      completed) completed=$((completed + 1)) ;;
      *)
        bad=$((bad + 1))
        for k in $left; do kinds[$k]=$((${kinds[$k]:-0} + 1)); done
        echo "kill restart: trial $i ($mode, kill after ${delay} s, cryo exit $rc): left$left" ;;
    esac
    # the state for the next trial: no tree, no object, no journal (a janitor still at work is waited for above)
    kr_kill_tree; kr_remove_ipc
    rm -f "$KR_DIR/ghosts/ghost" /run/cryo/journal/"$cpid"-*
  done
  nft delete table inet "$KR_TABLE" 2>/dev/null
  local summary=""
  for k in "${!kinds[@]}"; do summary+=" $k=${kinds[$k]}"; done
  echo "kill restart: $TRIALS trials, $killed killed before the end, $completed completed (whole tree running), $bad with leftovers${summary:+ (}${summary# }${summary:+)}; the image's held lock kept by $kept killed before they read the image"
  FAILED=$((FAILED + bad))
}
