# bench/precopy.sh: the `precopy` part of bench/run.sh (sourced by it; uses its helpers).
#
# A process of SIZE_MIB (1 GiB) that keeps writing PC_RATE_KIB (1024) KiB/s to random pages
# (bench/precopy.c), REPEAT runs of each, image on /dev/shm:
#   plain      `cryo checkpoint PID -o IMG`: cryo's 'frozen' timing
#   pre-copy   `cryo checkpoint --pre-copy PID -o IMG`: the same
#   migrate    `cryo checkpoint --pre-copy -o - PID | cryo restart -d -`: downtime, the longest stop the
#              process saw between two of its 1 ms wake-ups (from the freeze to the restored process
#              running again)
#   migrate-lazy  the same with `restart --lazy -d -`, if `cryo --help` offers --lazy
#   migrate-lazy-fg  the same with `restart --lazy -` (cryo stays in the foreground as the process's parent)
# After each restart the process checks every page itself.

PC_RATE_KIB=${PC_RATE_KIB:-1024}
PC_ROWS=() PC_NOTES=()
declare -A PC_VALUES=()

pc_start() { # pc_start TAG: sets PC_PID, PC_RES
  local tag=$1 end
  PC_RES=$WORK/$tag.result
  rm -f "$PC_RES"
  "$WORK/precopy" "$SIZE_MIB" "$PC_RES" "$PC_RATE_KIB" <"/dev/null" >"$WORK/$tag.target.out" 2>"$WORK/$tag.target.err" &
  PC_PID=$!
  track "$PC_PID"; CHILD[$PC_PID]=1
  end=$(( $(now_ns) + 300 * 1000000000 ))
  until grep -q '^READY' "$WORK/$tag.target.out" 2>/dev/null; do
    alive "$PC_PID" && [ "$(now_ns)" -lt "$end" ] || { log "$tag: the target did not get READY"; kill_wait "$PC_PID"; return 1; }
    sleep 0.05
  done
  sleep 1                      # let it write for a while
}

pc_check() { # pc_check PID RESULT: the target's own check, one line
  local end
  rm -f "$2"
  kill -USR1 "$1" 2>/dev/null || { echo "NO-ANSWER (cannot signal $1)"; return 1; }
  end=$(( $(now_ns) + 120 * 1000000000 ))
  until [ -s "$2" ]; do
    alive "$1" && [ "$(now_ns)" -lt "$end" ] || { echo "NO-ANSWER"; return 1; }
    sleep 0.02
  done
  cat "$2"
}

pc_run() { # pc_run MODE I
  local mode=$1 i=$2 tag="precopy-$1-$2" img="/dev/shm/cryo-bench.$$.precopy" new check value lazy=
  CLEAN_PATHS+=("$img")
  rm -f -- "$img"
  pc_start "$tag" || { PC_NOTES+=("$mode run $i: the target did not start"); return 1; }
  case $mode in
    plain|pre-copy)
      if [ "$mode" = plain ]; then run_cmd "$tag.ckpt" "$CRYO" checkpoint "$PC_PID" -o "$img"
      else run_cmd "$tag.ckpt" "$CRYO" checkpoint --pre-copy "$PC_PID" -o "$img"; fi
      [ "$RC" -eq 0 ] || { PC_NOTES+=("$mode run $i: checkpoint failed: $(first_err "$tag.ckpt")"); kill_wait "$PC_PID"; return 1; }
      value=$(timing_of "$tag.ckpt" frozen)
      wait "$PC_PID" 2>/dev/null; untrack "$PC_PID"
      run_cmd "$tag.rest" "$CRYO" restart -d "$img"
      rm -f -- "$img" ;;
    migrate-lazy-fg)
      # the issue's live migration as typed: cryo restart stays in the foreground, the restored process's parent
      ( "$CRYO" checkpoint --pre-copy -o - "$PC_PID" 2>"$WORK/$tag.ckpt.err" \
          | "$CRYO" restart --lazy - >"$WORK/$tag.rest.out" 2>"$WORK/$tag.rest.err" ) &
      local pp=$! end
      track "$pp"; GROUP[$pp]=1 CHILD[$pp]=1
      wait "$PC_PID" 2>/dev/null; untrack "$PC_PID"
      end=$(( $(now_ns) + 120 * 1000000000 ))
      until alive "$PC_PID" && grep -q 'TracerPid:[[:space:]]*0$' "/proc/$PC_PID/status" 2>/dev/null; do
        alive "$pp" && [ "$(now_ns)" -lt "$end" ] || break
        sleep 0.02
      done
      track "$PC_PID"                # the restored process, under the same pid
      check=$(pc_check "$PC_PID" "$PC_RES")
      kill_wait "$PC_PID"
      wait "$pp"; RC=0
      untrack "$pp"
      value=${check#*maxgap_ms=}; value=${value%% *}
      log "$tag: downtime ${value:-?} ms, $check"
      [[ $check == OK* ]] || { PC_NOTES+=("$mode run $i: $check"); return 1; }
      PC_VALUES[$mode]+="$value "
      PC_ROWS+=("$(printf '%-13s %3s %10s  %s' "$mode" "$i" "$value" "$(timings "$tag.ckpt")")")
      return 0 ;;
    migrate|migrate-lazy)
      [ "$mode" = migrate-lazy ] && lazy=--lazy
      ( "$CRYO" checkpoint --pre-copy -o - "$PC_PID" 2>"$WORK/$tag.ckpt.err" \
          | "$CRYO" restart $lazy -d - >"$WORK/$tag.rest.out" 2>"$WORK/$tag.rest.err" ) &
      local pp=$!
      track "$pp"; GROUP[$pp]=1 CHILD[$pp]=1
      wait "$PC_PID" 2>/dev/null; untrack "$PC_PID"     # reaped at once: restart takes its pid back
      wait "$pp"; RC=$?
      untrack "$pp" ;;
  esac
  [ "$RC" -eq 0 ] || { PC_NOTES+=("$mode run $i: restart failed: $(first_err "$tag.rest")"); return 1; }
  new=$(grep -E '^[0-9]+$' "$WORK/$tag.rest.out" | tail -n1)
  [ -n "$new" ] && track "$new"
  check=$(pc_check "${new:-0}" "$PC_RES")
  [ -n "$new" ] && kill_wait "$new"
  [[ $mode == migrate* ]] && { value=${check#*maxgap_ms=}; value=${value%% *}; }
  log "$tag: $([[ $mode == migrate* ]] && echo downtime || echo frozen) ${value:-?} ms, $check"
  [[ $check == OK* ]] || { PC_NOTES+=("$mode run $i: $check"); return 1; }
  PC_VALUES[$mode]+="$value "
  PC_ROWS+=("$(printf '%-13s %3s %10s  %s' "$mode" "$i" "$value" "$(timings "$tag.ckpt")")")
}

pc_all() {
  local mode i modes="plain pre-copy migrate"
  gcc -O2 -Wall -o "$WORK/precopy" "$ROOT/bench/precopy.c" || { log "cannot compile bench/precopy.c"; return 1; }
  "$CRYO" --help 2>&1 | grep -q -- '--lazy' && modes+=" migrate-lazy migrate-lazy-fg"
  for mode in $modes; do
    for ((i = 1; i <= REPEAT; i++)); do pc_run "$mode" "$i" || FAILED=1; done
  done
}

pc_report() {
  local mode
  echo "== pre-copy: $SIZE_MIB MiB process writing $PC_RATE_KIB KiB/s; frozen_ms = cryo's 'frozen' timing (plain, pre-copy),"
  echo "   downtime_ms = the longest stop the process saw, freeze to running again after restart (migrate: checkpoint --pre-copy -o - | restart -d -;"
  echo "   migrate-lazy: ... | restart --lazy -d -; migrate-lazy-fg: ... | restart --lazy -, cryo in the foreground)"
  printf '%-13s %3s %10s  %s\n' mode run ms "cryo checkpoint timings (ms)"
  for row in "${PC_ROWS[@]}"; do echo "$row"; done
  for mode in plain pre-copy migrate migrate-lazy migrate-lazy-fg; do
    # shellcheck disable=SC2086
    [ -n "${PC_VALUES[$mode]:-}" ] && printf '%-13s %3s %10s\n' "$mode" med "$(median ${PC_VALUES[$mode]})"
  done
  for note in "${PC_NOTES[@]}"; do echo "  $note"; done
  echo
}
