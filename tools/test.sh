#!/usr/bin/env bash
# The test command: installs what is missing, builds, runs every test.
# Ends with one line "N passed, N failed".
#
# Two builds: build/ runs every test; build-checks/ (assertions and UBSan,
# see tools/build.sh) runs the unit tests, the test programs and the
# collector's adversarial cases in one signal mode, where a broken rule
# shows as a failed check rather than as memory freed too early.  Test
# names given as arguments run in build/ only.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/deps.sh
tools/build.sh
logs=(build/meson-logs/testlog.json)
status=0
meson test -C build --print-errorlogs --num-processes 2 "$@" || status=$?
if [ $# -eq 0 ]; then
  tools/build.sh checks
  # The long soaks (signal storms, EINTR loops, the slowest programs with
  # every cycle concurrent) stay in build/ only.
  mapfile -t checked < <(meson test -C build-checks --list 2>/dev/null |
    sed -n 's|^pacegc:[a-z]* / ||p' |
    grep -E '^(unit/|stw|programs/|gc/honor/)' |
    grep -vE 'signals-altstack|eintr$|concurrent-(fork|forkcycle|stress)$')
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    meson test -C build-checks --print-errorlogs --num-processes 2 "${checked[@]}" || status=$?
  logs+=(build-checks/meson-logs/testlog.json)
fi
python3 - "${logs[@]}" <<'PY'
import json, sys
passed = failed = skipped = 0
for log in sys.argv[1:]:
    for line in open(log):
        r = json.loads(line)["result"]
        if r in ("OK", "EXPECTEDFAIL"): passed += 1
        elif r == "SKIP": skipped += 1
        else: failed += 1
print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
PY
exit $status
