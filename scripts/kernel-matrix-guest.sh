#!/usr/bin/env bash
# Runs inside a kernel-matrix guest (booted by scripts/kernel-matrix.sh with virtme-ng), as root:
# the stream smoke test, then kernel tests in ONE pytest process (the probes load once per
# process, and a load costs minutes under TCG). The host's root is read-only here, /tmp is an
# overlay; OUT is the only directory shared back. Writes OUT/result: one line per step, and
# OUT/status: the number of failed steps (its absence means the guest never got this far).
# Usage: kernel-matrix-guest.sh OUT REPO HOST_LOOP TEST...   (HOST_LOOP: stream_smoke.py --calibrate)
set -u
out=$1 repo=$2 host_loop=$3
shift 3
kver=$(uname -r)
step() { echo "$*" >>"$out/result"; }
: >"$out/result"
fails=0

# The guest must have no way out: only the loopback interface.
nics=$(ls /sys/class/net | grep -v '^lo$' | tr '\n' ' ')
if [ -n "$nics" ]; then step "guest: FAIL: network interfaces present: $nics"; fails=$((fails + 1)); fi

# Where tests and BCC may write: a tmpfs of the guest's own, not the host's overlaid /tmp.
scratch=/run/kernel-matrix
mkdir -p "$scratch/home" "$scratch/tmp"
export HOME=$scratch/home TMPDIR=$scratch/tmp XDG_CACHE_HOME=$scratch/home/.cache
export PYTHONDONTWRITEBYTECODE=1 PYTHONPATH=$repo
mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null
if [ ! -e "/lib/modules/$kver/build/include/linux/kconfig.h" ] && [ ! -e "/lib/modules/$kver/source/include/linux/kconfig.h" ]; then
  step "guest: FAIL: no kernel headers at /lib/modules/$kver/build (linux-headers-$kver)"
  echo $((fails + 1)) >"$out/status"
  exit 0
fi

cd "$repo" || exit 1
t0=$(date +%s)
line=$(.venv/bin/python -B scripts/stream_smoke.py --host-loop "$host_loop" "$scratch/smoke" 2>>"$out/smoke.log")
case $line in "stream: ok"*) ;; *) fails=$((fails + 1)); [ -n "$line" ] || line="stream: FAIL: no verdict (see smoke.log)";; esac
cp "$scratch/smoke/stream.stderr" "$out/stream.stderr" 2>/dev/null
step "$line [$(( $(date +%s) - t0 )) s]"

t0=$(date +%s)
.venv/bin/python -B -m pytest -v -rfE --durations=30 -p no:cacheprovider --junitxml="$out/pytest.xml" "$@" \
  >"$out/pytest.log" 2>&1
rc=$?
summary=$(tail -n 1 "$out/pytest.log" | sed 's/^=* *//; s/ *=*$//')
if [ $rc = 0 ]; then step "tests: ok: $summary"; else step "tests: FAIL (pytest exit $rc): $summary"; fails=$((fails + 1)); fi
echo "$fails" >"$out/status"
