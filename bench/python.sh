# bench/python.sh: the `python` part of bench/run.sh (sourced by it; uses its helpers).
#
# A python3 process holding a bytearray of SIZE_MIB MiB filled by first touch (calloc'd
# memory that the fill faults in page by page, as a Python program's data would be):
# `cryo checkpoint PID -o IMG` and `cryo restart -d IMG`, IMG on each of DIRS, REPEAT runs;
# seconds, GB/s, image size and cryo's own timing lines; after the restart the process
# hashes its bytearray again (SIGUSR1) and must find the hash it printed when READY.
# The same for criu, if it is installed.

PY_ROWS=() PY_TIMING_ROWS=()
declare -A PY_C=() PY_R=()    # "tool dir" -> space-separated values for medians

# The target: READY sum=<blake2b of the bytearray>; on SIGUSR1 writes "OK sum=..." (or
# "BAD sum=...") to RESULT.tmp and renames it to RESULT, as bench/memhog.c does.
PY_PROG='
import hashlib, os, signal, sys
size, res = int(sys.argv[1]) << 20, sys.argv[2]
b = bytearray(size)                  # calloc: untouched pages until the fill
block = os.urandom(1 << 20)
mv = memoryview(b)
for off in range(0, size, 1 << 20):
    n = min(1 << 20, size - off)
    mv[off:off + n] = block[:n]
    mv[off:off + 8] = off.to_bytes(8, "little")   # no two MiB alike
want = hashlib.blake2b(mv).hexdigest()
def check(sig, frame):
    got = hashlib.blake2b(mv).hexdigest()
    with open(res + ".tmp", "w") as f:
        f.write(("OK" if got == want else "BAD") + " sum=" + got + "\n")
    os.rename(res + ".tmp", res)
signal.signal(signal.SIGUSR1, check)
print("READY sum=" + want, flush=True)
while True:
    signal.pause()
'

# start_py TAG: starts the python target as our child, waits for READY. Sets HOG_PID,
# HOG_SUM, HOG_RES (as start_hog does, so that verify works on it).
start_py() {
  local tag=$1 out=$WORK/$1.py.out end line
  HOG_RES=$WORK/$tag.result
  rm -f "$HOG_RES"
  python3 -c "$PY_PROG" "$SIZE_MIB" "$HOG_RES" <"/dev/null" >"$out" 2>"$WORK/$tag.py.err" &
  HOG_PID=$!
  track "$HOG_PID"; CHILD[$HOG_PID]=1
  end=$(( $(now_ns) + 300 * 1000000000 ))
  until grep -q '^READY' "$out" 2>/dev/null; do
    if ! alive "$HOG_PID"; then
      log "python died before READY: $(head -c 300 "$WORK/$tag.py.err")"; kill_wait "$HOG_PID"; HOG_PID=; return 1
    fi
    if [ "$(now_ns)" -gt "$end" ]; then log "python not READY after 300 s"; kill_wait "$HOG_PID"; HOG_PID=; return 1; fi
    sleep 0.05
  done
  line=$(grep -m1 '^READY' "$out")
  HOG_SUM=${line#*sum=}
}

# py_run TOOL DIR REP
py_run() {
  local tool=$1 dir=$2 rep=$3 tag img pid rpid size ok cns rns row
  tag="py-$tool-$(basename "$dir")-$rep"
  img="$dir/cryo-bench.$$.py-$tool"
  CLEAN_PATHS+=("$img")
  rm -rf -- "$img"
  start_py "$tag" || { PY_ROWS+=("$(printf '%-5s %-9s %3s  FAIL: python did not start' "$tool" "$dir" "$rep")"); FAILED=1; return; }
  pid=$HOG_PID
  if [ "$tool" = cryo ]; then
    run_cmd "$tag.ckpt" "$CRYO" checkpoint "$pid" -o "$img"
  else
    mkdir -p "$img"
    run_cmd "$tag.ckpt" "$CRIU" dump -t "$pid" -D "$img" --shell-job -o "$WORK/$tag.dump.log"
  fi
  cns=$NS
  if [ "$RC" -ne 0 ]; then
    PY_ROWS+=("$(printf '%-5s %-9s %3s  FAIL checkpoint (%s s): %s' "$tool" "$dir" "$rep" "$(secs "$cns")" "$(first_err "$tag.ckpt")")")
    FAILED=1; kill_wait "$pid"; rm -rf -- "$img"; return
  fi
  reap_original "$pid" "$tag" || { PY_ROWS+=("$(printf '%-5s %-9s %3s  FAIL: original pid %s not free' "$tool" "$dir" "$rep" "$pid")"); FAILED=1; rm -rf -- "$img"; return; }
  if [ -d "$img" ]; then size=$(du -sb "$img" | cut -f1); else size=$(stat -c %s "$img" 2>/dev/null || echo 0); fi
  if [ "$tool" = cryo ]; then
    run_cmd "$tag.rest" "$CRYO" restart -d "$img"
  else
    run_cmd "$tag.rest" "$CRIU" restore -D "$img" --shell-job -d --pidfile "$WORK/$tag.pidfile" -o "$WORK/$tag.restore.log"
  fi
  rns=$NS
  if [ "$RC" -ne 0 ]; then
    PY_ROWS+=("$(printf '%-5s %-9s %3s  FAIL restart (%s s): %s' "$tool" "$dir" "$rep" "$(secs "$rns")" "$(first_err "$tag.rest")")")
    FAILED=1
    if [ -e "/proc/$pid" ]; then track "$pid" && kill_wait "$pid"; fi
    rm -rf -- "$img"; return
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
  PY_ROWS+=("$(printf '%-5s %-9s %3s %9s %9s %9s %9s %9s  %s' "$tool" "$dir" "$rep" \
    "$(secs "$cns")" "$(gbps "$SIZE_BYTES" "$cns")" "$(secs "$rns")" "$(gbps "$SIZE_BYTES" "$rns")" "$(mib "$size")" "$ok")")
  PY_C["$tool $dir"]+=" $cns"; PY_R["$tool $dir"]+=" $rns"
  if [ "$tool" = cryo ]; then
    PY_TIMING_ROWS+=("$(printf '%-9s %3s  checkpoint: %s' "$dir" "$rep" "$(timings "$tag.ckpt")")")
    PY_TIMING_ROWS+=("$(printf '%-9s %3s  restart:    %s' "$dir" "$rep" "$(timings "$tag.rest")")")
  fi
  log "$tag: checkpoint $(secs "$cns") s, restart $(secs "$rns") s, image $(mib "$size") MiB, memory $ok"
}

# py_part: every run of the part (cryo, then criu if installed).
py_part() {
  local dir rep tool tools=cryo
  command -v python3 >/dev/null || { PY_ROWS+=("python3 is not installed: skipped"); FAILED=1; return; }
  if command -v "$CRIU" >/dev/null; then tools="cryo criu"; else log "criu is not installed: python part without criu"; fi
  for tool in $tools; do
    for dir in $DIRS; do
      [ -d "$dir" ] && [ -w "$dir" ] || continue
      for ((rep = 1; rep <= REPEAT; rep++)); do py_run "$tool" "$dir" "$rep"; done
    done
  done
}

py_report() {
  local key c r
  echo "== python3 holding a bytearray of $SIZE_MIB MiB filled by first touch, checkpoint -o IMG / restart -d IMG, $REPEAT run(s) per directory"
  printf '%-5s %-9s %3s %9s %9s %9s %9s %9s  %s\n' tool image run ckpt_s ckpt_GB/s rest_s rest_GB/s image_MiB memory
  for row in "${PY_ROWS[@]}"; do echo "$row"; done
  for key in "${!PY_C[@]}"; do
    # shellcheck disable=SC2086
    c=$(median ${PY_C[$key]}); r=$(median ${PY_R[$key]})
    printf '%-5s %-9s %3s %9s %9s %9s %9s\n' ${key% *} "${key#* }" med "$(secs "$c")" "$(gbps "$SIZE_BYTES" "$c")" "$(secs "$r")" "$(gbps "$SIZE_BYTES" "$r")"
  done
  if [ "${#PY_TIMING_ROWS[@]}" -gt 0 ]; then
    echo "-- cryo's own timing lines (ms, CRYO_TIMING=1)"
    for row in "${PY_TIMING_ROWS[@]}"; do echo "$row"; done
  fi
  command -v "$CRIU" >/dev/null || echo "-- criu: not installed, no comparison"
  echo
}
