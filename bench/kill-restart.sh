# bench/kill-restart.sh: the `restart` part of bench/kill.sh (sourced). Owner: issue 16, restart side.
kill_restart() {
  echo "kill restart: not written yet" >&2
  FAILED=$((FAILED + 1))
}
