#!/usr/bin/env bash
# The kernel matrix: boots each of Debian 12's kernels (6.1, its own; 6.12, from bookworm's
# backports line) in a virtme-ng VM over this machine's filesystem and runs, inside, as root:
# the `stream` smoke test (scripts/stream_smoke.py) and a subset of tests/kernel in one pytest
# process (--full: all of tests/kernel). One line per kernel; exit status 0 only if every kernel
# asked for passed. A kernel that cannot be installed or booted is a failure, never a skip.
# Idempotent set-up, like scripts/setup.sh: Debian's kernel packages by their metapackages,
# qemu, busybox (virtme-ng's initramfs) and virtme-ng from PyPI in a venv of its own.
#
# Usage: scripts/kernel-matrix.sh [--full] [--out DIR] [KERNEL ...]   KERNEL: 6.1 6.12 (default: both)
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
me=kernel-matrix
known=(6.1 6.12)
declare -A image=([6.1]=linux-image-amd64 [6.12]=linux-image-6.12-amd64)
declare -A headers=([6.1]=linux-headers-amd64 [6.12]=linux-headers-6.12-amd64)
# Chosen to fit the CI budget under TCG (see README, Kernels): scope, every op, fds, a flood and
# untrusted names; one pytest process, so the probes load once per kernel.
subset=(tests/kernel/test_scope.py tests/kernel/test_ops.py tests/kernel/test_fds.py tests/kernel/test_names.py
        tests/kernel/test_flood.py::test_open_write_truncate_close_flood_is_exact_and_coalesced
        tests/kernel/test_flood.py::test_failed_opens_of_one_name_are_coalesced_with_exact_counts
        tests/kernel/test_flood.py::test_a_rename_of_the_file_splits_its_totals_between_the_names)
vng_version=1.42
vng_venv=${KERNEL_MATRIX_VNG_VENV:-/opt/virtme-ng}
out=${KERNEL_MATRIX_OUT:-/tmp/sniff-kernel-matrix}
full=0
kernels=()

usage() { echo "$me: $1 (usage: scripts/kernel-matrix.sh [--full] [--out DIR] [$(IFS='|'; echo "${known[*]}") ...])" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case $1 in
    --full) full=1 ;;
    --out) [ $# -ge 2 ] || usage "--out needs a directory"; out=$2; shift ;;
    --out=*) out=${1#--out=} ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) usage "unknown option $1" ;;
    *) [ -n "$1" ] && [ -n "${image[$1]+x}" ] || usage "unknown kernel '$1' (known: ${known[*]})"
       kernels+=("$1") ;;
  esac
  shift
done
[ ${#kernels[@]} -gt 0 ] || kernels=("${known[@]}")
[ "$(id -u)" = 0 ] || { echo "$me: FAIL: run as root (it installs packages and boots VMs)"; exit 1; }
case $out in /*) ;; *) out=$PWD/$out ;; esac
mkdir -p "$out" || { echo "$me: FAIL: cannot create $out"; exit 1; }
export DEBIAN_FRONTEND=noninteractive
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
updated=0
apt_install() {   # apt_install PKG...: the ones not installed yet; status of the install
  local need=() p
  for p in "$@"; do installed "$p" || need+=("$p"); done
  [ ${#need[@]} -gt 0 ] || return 0
  if [ $updated = 0 ]; then apt-get update -qq >/dev/null 2>&1; updated=1; fi
  echo "$me: installing ${need[*]}" >&2
  apt-get install -y -qq --no-install-recommends "${need[@]}" >"$out/apt.log" 2>&1
}

# The tools every kernel needs; without them nothing can run: one line, and a failure.
if ! apt_install qemu-system-x86 busybox-static python3-venv; then
  echo "$me: FAIL: cannot install qemu-system-x86 busybox-static python3-venv: $(tail -n 1 "$out/apt.log")"
  exit 1
fi
if [ ! -x "$vng_venv/bin/vng" ] || [ "$("$vng_venv/bin/vng" --version 2>/dev/null)" != "virtme-ng $vng_version" ]; then
  echo "$me: installing virtme-ng $vng_version into $vng_venv" >&2
  if ! { python3 -m venv "$vng_venv" && "$vng_venv/bin/pip" install -q --disable-pip-version-check \
         "virtme-ng==$vng_version"; } >"$out/pip.log" 2>&1; then
    echo "$me: FAIL: cannot install virtme-ng $vng_version into $vng_venv: $(tail -n 1 "$out/pip.log")"
    exit 1
  fi
fi
export PATH=$vng_venv/bin:$PATH   # vng runs virtme-run from there

# kver NAME: the kernel release the metapackage installs, once its packages are in; else a reason.
kver_of() {
  local name=$1 dep k
  if ! apt_install "${image[$name]}" "${headers[$name]}"; then
    echo "cannot install ${image[$name]} ${headers[$name]}: $(tail -n 1 "$out/apt.log")"; return 1
  fi
  dep=$(dpkg-query -W -f='${Depends}' "${image[$name]}" | grep -o 'linux-image-[^ ,]*' | head -n 1)
  k=${dep#linux-image-}
  case $k in "$name".*|"$name"-*) ;; *) echo "${image[$name]} installs '${k:-nothing}', not $name"; return 1 ;; esac
  [ -r "/boot/vmlinuz-$k" ] || { echo "no /boot/vmlinuz-$k"; return 1; }
  [ -d "/lib/modules/$k/kernel" ] || { echo "no modules in /lib/modules/$k"; return 1; }
  [ -e "/lib/modules/$k/build/include" ] || { echo "no headers at /lib/modules/$k/build"; return 1; }
  echo "$k"
}

vm() {  # vm DIR VMLINUZ SECONDS CMD [VNG OPTION...]: boot, run CMD as root, power off
  local dir=$1 kernel=$2 secs=$3 cmd=$4
  shift 4
  # No --network: the guest has only loopback. The host's root is shared read-only (9p; this
  # qemu's virtiofsd rejects virtme-ng's arguments), /tmp overlaid; DIR is the one writable share.
  (cd "$here" && timeout --kill-after=30 "$secs" vng --run "$kernel" --force-9p --cpus 2 --memory 3G \
     --rwdir "$dir" "$@" --exec "$cmd") </dev/null
}

# Whether a KVM vCPU actually runs here: /dev/kvm can exist where qemu cannot use it (this
# project's CI host has kvm_pvm, where qemu 7.2 aborts setting an MSR). Said either way.
accel=(--disable-kvm)
accel_name=TCG
probe_kernel=
for name in "${kernels[@]}"; do k=$(kver_of "$name") && { probe_kernel=/boot/vmlinuz-$k; break; }; done
if [ ! -e /dev/kvm ]; then
  echo "$me: KVM: no /dev/kvm; guests run under TCG (about 13x slower)"
elif [ -n "$probe_kernel" ]; then
  probe=$out/kvm-probe
  rm -rf "$probe" && mkdir -p "$probe"
  vm "$probe" "$probe_kernel" 90 "touch $probe/ran" --cpus 1 --memory 512M >"$out/kvm-probe.log" 2>&1
  if [ -e "$probe/ran" ]; then
    accel=() accel_name=KVM
    echo "$me: KVM: a vCPU runs; guests use KVM"
  else
    why=$(grep -m 1 -i -E 'error|fail|abort' "$out/kvm-probe.log" || tail -n 1 "$out/kvm-probe.log")
    echo "$me: KVM: /dev/kvm present but no vCPU runs (${why:-no output}); guests run under TCG (about 13x slower)"
  fi
fi

# The smoke test's stop limit (1 s) is scaled by the guest's slowdown against this figure.
host_loop=$(PYTHONPATH=$here "$here/.venv/bin/python" -B "$here/scripts/stream_smoke.py" --calibrate) \
  || { echo "$me: FAIL: $here/.venv/bin/python cannot run (run scripts/setup.sh first)"; exit 1; }

failed=0
for name in "${kernels[@]}"; do
  started=$(date +%s)
  dir=$out/$name
  rm -rf "$dir" && mkdir -p "$dir"
  if ! k=$(kver_of "$name"); then
    echo "$me: $name: FAIL: $k"; failed=$((failed + 1)); continue
  fi
  # Generous bounds (a guest that hangs must not hang CI); measured times are in the README.
  if [ $full = 1 ]; then tests=(tests/kernel); secs=14400; scope=full
  else tests=("${subset[@]}"); secs=2400; scope=subset; fi
  printf -v cmd '%q ' "$here/scripts/kernel-matrix-guest.sh" "$dir" "$here" "$host_loop" "${tests[@]}"
  vm "$dir" "/boot/vmlinuz-$k" "$secs" "$cmd" "${accel[@]}" >"$dir/vng.log" 2>&1
  rc=$?
  took=$(( $(date +%s) - started ))
  head="$me: $name ($k, $accel_name, $scope, $((took / 60))m$((took % 60))s):"
  if [ ! -s "$dir/status" ]; then
    why=$([ $rc = 124 ] && echo "timed out after ${secs} s" || echo "vng exit $rc")
    last=$(grep -v '^\s*$' "$dir/vng.log" | tail -n 1)
    steps=$(paste -sd '|' "$dir/result" 2>/dev/null | sed 's/|/ | /g')
    echo "$head FAIL: the guest did not finish ($why; ${steps:+done: $steps; }last output: ${last:-none}; see $dir)"
    failed=$((failed + 1))
  elif [ "$(cat "$dir/status")" = 0 ]; then
    echo "$head PASS: $(paste -sd '|' "$dir/result" | sed 's/|/ | /g')"
  else
    echo "$head FAIL: $(paste -sd '|' "$dir/result" | sed 's/|/ | /g') (see $dir)"
    failed=$((failed + 1))
  fi
done
[ $failed = 0 ]
