#!/usr/bin/env bash
# bench/kill.sh: cryo killed by SIGKILL at random moments (issue 16, "Hardened").
#
#   bench/kill.sh [checkpoint] [restart] [TRIALS]     (default: both, TRIALS=100)
#
#   checkpoint  `cryo checkpoint` of a running target (with and without
#               --leave-running), killed at a random moment of its run, TRIALS
#               times each: the target must run on unharmed (see bench/kill-checkpoint.sh).
#   restart     `cryo restart` of an image, killed at a random moment of its run,
#               TRIALS times: nothing may be left (see bench/kill-restart.sh).
#
# Run from anywhere as root. Environment: CRYO=bin/cryo  KEEP=1 keeps the work
# directory. Prints one line per failed trial and a summary per part; exits
# non-zero if any trial failed. Every process it starts is killed by pid on exit.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd) || exit 1
cd "$ROOT" || exit 1
CRYO=${CRYO:-$ROOT/bin/cryo}
KEEP=${KEEP:-0}
TRIALS=100
DO_CKPT=0 DO_REST=0

usage() { awk 'NR == 1 { next } !/^#/ { exit } { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"; }
for a in "$@"; do
  case $a in
    checkpoint) DO_CKPT=1 ;;
    restart) DO_REST=1 ;;
    -h|--help) usage; exit 0 ;;
    *) [[ $a =~ ^[1-9][0-9]*$ ]] && TRIALS=$a || { echo "kill.sh: unknown argument '$a'" >&2; usage >&2; exit 2; } ;;
  esac
done
[ $((DO_CKPT + DO_REST)) -eq 0 ] && DO_CKPT=1 DO_REST=1
[ "$(id -u)" -eq 0 ] || { echo "kill.sh: must run as root" >&2; exit 1; }
for t in gcc timeout awk; do
  command -v "$t" >/dev/null || { echo "kill.sh: '$t' is missing" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/cryo-kill.XXXXXX) || exit 1
chmod 700 "$WORK"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
  [ "$KEEP" = 1 ] && echo "work directory kept: $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
FAILED=0

# A random delay in seconds (3 decimals) in [0, $1) seconds, $1 a decimal.
random_delay() { awk -v max="$1" -v seed="$RANDOM$RANDOM" 'BEGIN { srand(seed); printf "%.3f", rand() * max }'; }

. "$ROOT/bench/kill-checkpoint.sh"
. "$ROOT/bench/kill-restart.sh"

[ $DO_CKPT = 1 ] && kill_checkpoint
[ $DO_REST = 1 ] && kill_restart
exit $((FAILED > 0))
