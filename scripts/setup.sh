#!/usr/bin/env bash
# Idempotent set-up for sniff-tui on Debian/Ubuntu: BCC from the OS, kernel headers BCC can
# compile against, a venv that sees the OS's bcc, and /usr/local/bin/sniff-tui.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
quiet() { "$@" >/dev/null 2>&1; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
export DEBIAN_FRONTEND=noninteractive

need_pkgs=()
for p in python3-bpfcc python3-venv bpftool bpftrace tmux strace fatrace inotify-tools gcc libc6-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need_pkgs+=("$p")
done
kver=$(uname -r)
if [ ! -e "/lib/modules/$kver/build/include/linux/kconfig.h" ] && [ ! -e "/lib/modules/$kver/source/include/linux/kconfig.h" ]; then
  need_headers=1
else
  need_headers=0
fi
if [ ${#need_pkgs[@]} -gt 0 ] || [ $need_headers = 1 ]; then
  echo "setup: apt-get update" >&2
  as_root apt-get update -qq >/dev/null
fi
if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "setup: installing ${need_pkgs[*]}" >&2
  as_root apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi
if [ $need_headers = 1 ]; then
  if apt-cache show "linux-headers-$kver" >/dev/null 2>&1; then
    echo "setup: installing linux-headers-$kver" >&2
    as_root apt-get install -y -qq --no-install-recommends "linux-headers-$kver" >/dev/null
  else
    # No headers for this kernel (custom or VM kernel): take the newest the distribution has and
    # point /lib/modules/$kver at them. Struct layouts come from BTF at run time, so the
    # mismatch only matters for the C preprocessor, not for field offsets.
    arch=$(dpkg --print-architecture)
    pkg=$(apt-cache search --names-only "^linux-headers-[0-9].*-${arch}\$" | awk '{print $1}' \
          | grep -v -E -- '-(cloud|rt)-' | sort -V | tail -n 1)
    [ -n "$pkg" ] || { echo "setup: no linux-headers package found for $arch" >&2; exit 1; }
    echo "setup: no headers for $kver; installing $pkg" >&2
    as_root apt-get install -y -qq --no-install-recommends "$pkg" >/dev/null
    build_dir="/usr/src/${pkg}"
    common_dir=$(ls -d "/usr/src/${pkg%-${arch}}-common" 2>/dev/null || true)
    [ -n "$common_dir" ] || common_dir=$(ls -d /usr/src/linux-headers-*-common 2>/dev/null | sort -V | tail -n 1)
    as_root mkdir -p "/lib/modules/$kver"
    as_root ln -sfn "$build_dir" "/lib/modules/$kver/build"
    as_root ln -sfn "$common_dir" "/lib/modules/$kver/source"
  fi
fi

if [ ! -x "$here/.venv/bin/python" ]; then
  /usr/bin/python3 -m venv --system-site-packages "$here/.venv"
fi
"$here/.venv/bin/python" -m pip install -q --disable-pip-version-check -e "$here[test]"
as_root ln -sfn "$here/.venv/bin/sniff-tui" /usr/local/bin/sniff-tui
echo "setup: done ($("$here/.venv/bin/python" -c 'import bcc, textual; print("bcc", bcc.__version__ if hasattr(bcc, "__version__") else "ok", "textual", textual.__version__)' 2>/dev/null))" >&2
