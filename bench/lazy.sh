# bench/lazy.sh: the `lazy` part of bench/run.sh (sourced by it; uses its helpers run_cmd, track,
# kill_wait, reap_original, restored_pid, verify, median, ms).
#
#   lazy   a memhog of SIZE_MIB in its --answer mode, checkpointed to /dev/shm, then
#          `cryo restart -d --lazy IMG`: ms from the start of the command to the process's first
#          answer (SIGUSR2 as soon as the command has printed the pid; the handler writes one line)
#          and to the end of the background fill (the server process exits); then its memory is
#          checked (SIGUSR1). The same for a foreground `cryo restart --lazy IMG` (SIGUSR2 once
#          the process sleeps; the fill ends when it is no longer traced). Beside it in the same run: `cryo restart -d` of `sleep 1000` and an
#          eager `cryo restart -d` of the same memhog image, to its first answer. REPEAT runs each
#          (after one warm-up), medians. Goal: first answer <= sleep restart + 150 ms.

LAZY_NOTE=()
declare -A LAZY_V=()   # measure -> values (ms)

# lazy_server_of PID: the pid of the `cryo __lazy-server` serving PID's tree (its tracer), or 0 when none is.
lazy_server_of() { awk '/^TracerPid/ { print $2 }' "/proc/$1/status" 2>/dev/null; }

# lazy_await FILE PID: waits (120 s at most) for FILE to be non-empty while PID lives; prints the time.
lazy_await() {
  local end=$(( $(now_ns) + 120 * 1000000000 ))
  until [ -s "$1" ]; do
    alive "$2" || return 1
    [ "$(now_ns)" -lt "$end" ] || return 1
    sleep 0.001
  done
  now_ns
}

lazy_start_hog() { # like start_hog, in memhog's --answer mode
  local tag=$1 end
  HOG_OUT=$WORK/$tag.hog.out HOG_RES=$WORK/$tag.result
  rm -f "$HOG_RES" "$HOG_RES.answer"
  "$MEMHOG" --answer "$SIZE_MIB" "$HOG_RES" <"/dev/null" >"$HOG_OUT" 2>"$WORK/$tag.hog.err" &
  HOG_PID=$!
  track "$HOG_PID"; CHILD[$HOG_PID]=1
  end=$(( $(now_ns) + 300 * 1000000000 ))
  until grep -q '^READY' "$HOG_OUT" 2>/dev/null; do
    alive "$HOG_PID" && [ "$(now_ns)" -lt "$end" ] || { kill_wait "$HOG_PID"; return 1; }
    sleep 0.05
  done
  HOG_SUM=$(grep -m1 '^READY' "$HOG_OUT"); HOG_SUM=${HOG_SUM#*sum=}; HOG_SUM=${HOG_SUM%% *}
}

# lazy_restart_answer TAG IMG PID MODE...: restart IMG (restart args MODE...), SIGUSR2 once it printed the
# pid; sets LZ_CMD (ms of the command), LZ_ANS (ms to the answer), LZ_PID. Returns 1 on failure.
lazy_restart_answer() {
  local tag=$1 img=$2 pid=$3 t0 ta
  shift 3
  rm -f "$HOG_RES.answer"
  t0=$(now_ns)
  run_cmd "$tag" "$CRYO" restart "$@" "$img"
  LZ_CMD=$(ms "$NS")
  [ "$RC" -eq 0 ] || { LAZY_NOTE+=("$tag: restart failed: $(first_err "$tag")"); [ -e "/proc/$pid" ] && track "$pid" && kill_wait "$pid"; return 1; }
  LZ_PID=$(restored_pid "$tag" "$pid")
  track "$LZ_PID"
  kill -USR2 "$LZ_PID"
  ta=$(lazy_await "$HOG_RES.answer" "$LZ_PID") || { LAZY_NOTE+=("$tag: no answer"); return 1; }
  LZ_ANS=$(ms $(( ta - t0 )))
}

lazy_run() { # lazy_run I (0 = warm-up)
  local i=$1 tag="lazy-$1" img="/dev/shm/cryo-bench.$$.lazy" simg="/dev/shm/cryo-bench.$$.lazysleep" spid pid srv t0 end ok fill
  CLEAN_PATHS+=("$img" "$simg")
  rm -f -- "$img" "$simg"
  sleep 1000 <"/dev/null" >"/dev/null" 2>&1 &
  spid=$!
  track "$spid"; CHILD[$spid]=1
  until [ "$(cat "/proc/$spid/comm" 2>/dev/null)" = sleep ]; do sleep 0.005; done
  run_cmd "$tag.sckpt" "$CRYO" checkpoint "$spid" -o "$simg"
  [ "$RC" -eq 0 ] || { LAZY_NOTE+=("$tag: sleep checkpoint failed: $(first_err "$tag.sckpt")"); kill_wait "$spid"; return 1; }
  reap_original "$spid" "$tag" || return 1
  run_cmd "$tag.srest" "$CRYO" restart -d "$simg"
  [ "$RC" -eq 0 ] || { LAZY_NOTE+=("$tag: sleep restart failed: $(first_err "$tag.srest")"); return 1; }
  local sleep_ms; sleep_ms=$(ms "$NS")
  spid=$(restored_pid "$tag.srest" "$spid"); track "$spid"; kill_wait "$spid"; rm -f -- "$simg"

  lazy_start_hog "$tag" || { LAZY_NOTE+=("$tag: memhog did not start"); return 1; }
  pid=$HOG_PID
  run_cmd "$tag.ckpt" "$CRYO" checkpoint "$pid" -o "$img"
  [ "$RC" -eq 0 ] || { LAZY_NOTE+=("$tag: checkpoint failed: $(first_err "$tag.ckpt")"); kill_wait "$pid"; return 1; }
  reap_original "$pid" "$tag" || return 1

  # eager restart, to its first answer
  lazy_restart_answer "$tag.eager" "$img" "$pid" -d || return 1
  local eager_ans=$LZ_ANS
  kill_wait "$LZ_PID"

  # lazy restart
  t0=$(now_ns)
  lazy_restart_answer "$tag.lazy" "$img" "$pid" -d --lazy || return 1
  local lazy_cmd=$LZ_CMD lazy_ans=$LZ_ANS
  # LZ_ANS counted from lazy_restart_answer's own start: the same t0 to within a ms
  end=$(( $(now_ns) + 300 * 1000000000 ))
  srv=$(lazy_server_of "$LZ_PID")
  while [ -n "$srv" ] && [ "$srv" != 0 ] && [ -e "/proc/$srv" ] && [ "$(now_ns)" -lt "$end" ]; do sleep 0.002; done
  fill=$(ms $(( $(now_ns) - t0 )))
  ok=$(verify "$LZ_PID" "$HOG_RES" "$HOG_SUM") || FAILED=1
  kill_wait "$LZ_PID"

  # foreground lazy restart: SIGUSR2 once the process runs (sleeping in pause, no longer stopped)
  local cp fg_ans fg_fill ta fg_ok
  rm -f "$HOG_RES.answer"
  t0=$(now_ns)
  timeout -k 5 "$TIMEOUT" "$CRYO" restart --lazy "$img" <"/dev/null" >"$WORK/$tag.fg.out" 2>"$WORK/$tag.fg.err" &
  cp=$!
  track "$cp"; GROUP[$cp]=1 CHILD[$cp]=1
  end=$(( $(now_ns) + 120 * 1000000000 ))
  until [ "$(proc_state "$pid")" = S ]; do
    alive "$cp" && [ "$(now_ns)" -lt "$end" ] || { LAZY_NOTE+=("$tag: foreground restart did not run: $(first_err "$tag.fg")"); kill_wait "$cp"; return 1; }
    sleep 0.001
  done
  track "$pid"
  kill -USR2 "$pid"
  ta=$(lazy_await "$HOG_RES.answer" "$pid") || { LAZY_NOTE+=("$tag: foreground: no answer"); kill_wait "$pid"; kill_wait "$cp"; return 1; }
  fg_ans=$(ms $(( ta - t0 )))
  while [ "$(awk '/^TracerPid/ { print $2 }' "/proc/$pid/status" 2>/dev/null)" != 0 ] && [ "$(now_ns)" -lt "$end" ]; do sleep 0.002; done
  fg_fill=$(ms $(( $(now_ns) - t0 )))
  fg_ok=$(verify "$pid" "$HOG_RES" "$HOG_SUM") || FAILED=1
  kill_wait "$pid"
  wait "$cp" 2>/dev/null; untrack "$cp"
  rm -f -- "$img"
  log "$tag: sleep restart $sleep_ms ms; eager restart to answer $eager_ans ms; -d --lazy: command $lazy_cmd ms, answer $lazy_ans ms, fill end $fill ms, memory $ok; foreground --lazy: answer $fg_ans ms, fill end $fg_fill ms, memory $fg_ok ($(grep -h 'lazy' "$WORK/$tag.fg.err" 2>/dev/null | tr '\n' ' '))"
  [ "$i" -eq 0 ] && return 0
  LAZY_V[sleep]+=" $sleep_ms"; LAZY_V[eager]+=" $eager_ans"; LAZY_V[cmd]+=" $lazy_cmd"
  LAZY_V[answer]+=" $lazy_ans"; LAZY_V[fill]+=" $fill"; LAZY_V[fganswer]+=" $fg_ans"; LAZY_V[fgfill]+=" $fg_fill"
  [ "$ok" = OK ] || LAZY_NOTE+=("$tag: -d memory $ok")
  [ "$fg_ok" = OK ] || LAZY_NOTE+=("$tag: foreground memory $fg_ok")
}

lazy_report() {
  echo "== lazy restart: memhog --answer of $SIZE_MIB MiB, image on /dev/shm, $REPEAT run(s) after 1 warm-up, medians in ms"
  if [ -n "${LAZY_V[answer]:-}" ]; then
    # shellcheck disable=SC2086
    {
      printf '%-58s %9.1f\n' "cryo restart -d of sleep 1000 (command returns)" "$(median ${LAZY_V[sleep]})"
      printf '%-58s %9.1f\n' "cryo restart -d of memhog, to its first answer" "$(median ${LAZY_V[eager]})"
      printf '%-58s %9.1f\n' "cryo restart -d --lazy of memhog: command returns" "$(median ${LAZY_V[cmd]})"
      printf '%-58s %9.1f\n' "cryo restart -d --lazy of memhog: first answer" "$(median ${LAZY_V[answer]})"
      printf '%-58s %9.1f\n' "cryo restart -d --lazy of memhog: fill ends (server exits)" "$(median ${LAZY_V[fill]})"
      printf '%-58s %9.1f\n' "cryo restart --lazy (foreground) of memhog: first answer" "$(median ${LAZY_V[fganswer]})"
      printf '%-58s %9.1f\n' "cryo restart --lazy (foreground) of memhog: fill ends" "$(median ${LAZY_V[fgfill]})"
      printf '%-58s %9.1f\n' "-d --lazy first answer - sleep restart (goal <= 150)" \
        "$(awk -v a="$(median ${LAZY_V[answer]})" -v s="$(median ${LAZY_V[sleep]})" 'BEGIN { print a - s }')"
      printf '%-58s %9.1f\n' "foreground --lazy first answer - sleep restart (goal <= 150)" \
        "$(awk -v a="$(median ${LAZY_V[fganswer]})" -v s="$(median ${LAZY_V[sleep]})" 'BEGIN { print a - s }')"
    }
  fi
  for n in "${LAZY_NOTE[@]}"; do echo "  $n"; done
  echo
}
