#!/usr/bin/env bash
# The races stress run of issue 16: ChurnStressTest with N checkpoints (default 200) of a tree that forks,
# execs, maps and ends threads all the time, --leave-running, every tenth image restarted and checked.
# Usage: bench/races.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-200}
export JAVA_HOME=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}
bin/test -Dtest=ChurnStressTest -Dcryo.stress.iterations="$n" -Dsurefire.failIfNoSpecifiedTests=false 2>&1 \
  | grep -E 'ChurnStressTest:|Tests run:|FAIL|AssertionError|checkpoint [0-9]+ of' || true
