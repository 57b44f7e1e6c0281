#!/bin/bash
# Part of CPython's own regression suite (Debian package
# libpython3.11-testsuite), verbose, with the lines that differ from run to
# run even without pacegc rewritten so that tests/compare.sh can compare a
# plain and a preloaded run byte for byte:
#
#   pyregr.sh TEST...      e.g. pyregr.sh test_dict test_list
#
# Runs `/usr/bin/python3 -m test -v -r --randseed=20240607 TEST...` in the
# current directory: one process, every test case listed with its result.
# The fixed seed makes the shuffled test order the same in every run and
# seeds the random module, which some tests (test_sort) use without a seed
# of their own and whose values they print.  Filtered, on stdout and stderr
# alike (sed -E), and nothing else:
#   1. the "H:MM:SS load avg: N.NN " prefix of regrtest's progress lines:
#      elapsed time and the machine's load average;
#   2. " in N.NNNs" of unittest's "Ran N tests in N.NNNs": a duration;
#   3. the number in "== cwd: .../test_python_PID": regrtest's working
#      directory is named after its process id;
#   4. "Total duration: ..." (a duration) is deleted;
#   5. regrtest's note that a test took 30 s or more ("[ 3/9] test_b --
#      test_a passed in 31.2 sec", or "test_a passed in 1 min 2 sec" alone
#      after the last test): the suffix and the line are deleted.  Whether
#      it appears depends only on speed.
# The exit status is python's.  Exits 77 (skipped) if the test package is
# not installed.
set -u
set -o pipefail

if [ ! -d /usr/lib/python3.11/test/libregrtest ]; then
	echo "SKIP: libpython3.11-testsuite is not installed (tools/deps.sh)"
	exit 77
fi

filter='s/^[0-9]+:[0-9]{2}:[0-9]{2} (load avg: [0-9.]+ )?//
s/^(Ran [0-9]+ tests?) in [0-9.]+s$/\1/
s/^(== cwd: .*test_python_)[0-9]+/\1PID/
/^Total duration: /d
s/ -- test_[A-Za-z0-9_.]+ passed in [0-9][0-9a-z. ]*$//
/^test_[A-Za-z0-9_.]+ passed in [0-9][0-9a-z. ]*$/d'

export PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1
err=$(mktemp "${TMPDIR:-/tmp}/pyregr.XXXXXX")
trap 'rm -f "$err"' EXIT
/usr/bin/python3 -m test -v -r --randseed=20240607 "$@" 2>"$err" |
	sed -E "$filter"
status=$?
sed -E "$filter" "$err" >&2
exit $status
