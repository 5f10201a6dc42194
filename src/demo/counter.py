# cryo demo: counts in memory and appends one line per tick to a file.
import os, sys, time
os.closerange(3, 4096)  # whatever fds the shell leaked to us (cryo refuses unknown pipes)
path = sys.argv[1]
n = 0
with open(path, "a") as log:
    while True:
        n += 1
        log.write(f"tick {n}\n")
        log.flush()
        time.sleep(0.2)
