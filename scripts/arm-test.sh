#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `make arm-test` (issue 19, docs/build.md §10): builds the aarch64 wheel and runs
# the test suite on aarch64 under qemu-user emulation, on this x86-64 host.
#
# Route: a Debian 13 (trixie) arm64 root filesystem made by debootstrap (second
# stage runs under qemu-user-static via binfmt_misc), with Debian's own rustc
# 1.85, gcc and python3 inside it; Python packages from PyPI, crates from
# crates.io, nothing else downloaded. Everything cached lives OUTSIDE the repo in
# $ARM_CACHE (default /var/cache/fastroute-arm) and is reused on the next run:
#   rootfs/                    the arm64 system (+ /opt/venv, cargo home and target)
#   wheels/                    the last built and auditwheel-repaired wheel
#   last-run/                  logs, bench JSON, junit XML, summary.txt
# Re-running is safe: each stage is skipped when its stamp says it is done.
# ARM_SKIP_BUILD=1 reuses the last build (tree + wheel) and only runs the tests.
# ARM_TEST_ARGS="..." replaces the pytest selection (default: the whole suite
# minus ZooKeeper's live tests, see ARM_DESELECT below).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cache=${ARM_CACHE:-/var/cache/fastroute-arm}
rootfs=$cache/rootfs
suite=trixie
mirror=${ARM_MIRROR:-http://deb.debian.org/debian}
out=$cache/last-run
# Debian packages inside the rootfs: the toolchain, and the servers the live
# tests start (nginx, haproxy). No JRE: ZooKeeper is not run under emulation.
rootfs_packages="ca-certificates gcc libc6-dev rustc cargo python3 python3-dev python3-venv patchelf git nginx haproxy"
# Live tests that cannot run in the rootfs (docs/build.md §10): ZooKeeper needs a
# JVM, and HotSpot under qemu-user misses the tests' 2-second session timeouts;
# the etcd and shared coordination suites time leases of 1-2 s, which emulation
# cannot keep either (and need ZooKeeper for half their cases).
ARM_DESELECT=${ARM_DESELECT:-"tests/membership/test_zookeeper_cluster.py tests/membership/test_zookeeper_pause.py
  tests/membership/test_zookeeper_security.py tests/membership/test_coordination_backends.py
  tests/membership/test_etcd_backend.py"}

log() { printf '[arm-test %s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }
now() { date +%s; }

# ---------------------------------------------------------------- host side
need=()
command -v debootstrap >/dev/null || need+=(debootstrap)
[ -x /usr/libexec/qemu-binfmt/aarch64-binfmt-P ] || [ -x /usr/bin/qemu-aarch64-static ] || need+=(qemu-user-static)
command -v update-binfmts >/dev/null || need+=(binfmt-support)
command -v rsync >/dev/null || need+=(rsync)
if [ ${#need[@]} -gt 0 ]; then
  log "apt-get install ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
if [ ! -e /proc/sys/fs/binfmt_misc/status ]; then
  mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
fi
if ! grep -qs enabled /proc/sys/fs/binfmt_misc/qemu-aarch64; then
  update-binfmts --enable qemu-aarch64
fi
# The F flag makes the kernel keep the interpreter open, so it works inside the chroot.
grep -q 'flags: .*F' /proc/sys/fs/binfmt_misc/qemu-aarch64 || { echo "qemu-aarch64 binfmt lacks the F flag" >&2; exit 1; }

mkdir -p "$cache" "$out" "$cache/wheels"
: > "$out/times.txt"
timed() {  # timed NAME CMD... : runs CMD, records its wall time for this run
  local name=$1 t0 rc; shift
  t0=$(now)
  # A subshell outside any `||`, so `set -e` holds inside the stage's function.
  set +e; ( set -e; "$@" ); rc=$?; set -e
  echo "$name $(( $(now) - t0 ))s rc=$rc" | tee -a "$out/times.txt"
  # Stages that fill the cache run once; keep their times beside the cache.
  case $name in rootfs-*) echo "$(date -u +%FT%TZ) $name $(( $(now) - t0 ))s rc=$rc" >> "$cache/cache-times.txt" ;; esac
  return $rc
}

# ---------------------------------------------------------------- rootfs
make_rootfs() {
  rm -rf "$rootfs"
  debootstrap --arch=arm64 --variant=minbase "$suite" "$rootfs" "$mirror" > "$out/debootstrap.log" 2>&1 \
    || { tail -20 "$out/debootstrap.log" >&2; return 1; }
  touch "$rootfs/.fastroute-debootstrap-done"
}
if [ ! -e "$rootfs/.fastroute-debootstrap-done" ]; then
  log "debootstrap $suite arm64 into $rootfs (first + second stage under qemu)"
  timed rootfs-debootstrap make_rootfs
fi

mounted=()
mount_chroot() {
  local d
  for d in proc sys dev dev/pts; do
    if ! mountpoint -q "$rootfs/$d"; then
      case $d in
        proc) mount -t proc proc "$rootfs/proc" ;;
        sys) mount -t sysfs sys "$rootfs/sys" ;;
        dev) mount --bind /dev "$rootfs/dev" ;;
        dev/pts) mount -t devpts devpts "$rootfs/dev/pts" ;;
      esac
      mounted=("$rootfs/$d" "${mounted[@]}")
    fi
  done
  cp -L /etc/resolv.conf "$rootfs/etc/resolv.conf"
}
umount_chroot() {
  local m
  for m in "${mounted[@]}"; do umount -l "$m" 2>/dev/null || true; done
  mounted=()
}
trap umount_chroot EXIT
mount_chroot

# The host's CA bundle, so pip and cargo inside trust the same registries'
# certificates as on the host (this machine reaches them through its own CA).
host_ca=${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}
cp -L "$host_ca" "$rootfs/etc/ssl/host-ca-bundle.crt"
ca=/etc/ssl/host-ca-bundle.crt
# Inside the rootfs: a clean environment, Debian's PATH, the caches on its disk.
in_root() {
  env -i HOME=/root TERM=dumb LANG=C.UTF-8 PATH=/opt/venv/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin \
    CARGO_HOME=/var/cache/fastroute/cargo-home CARGO_TARGET_DIR=/var/cache/fastroute/target \
    SSL_CERT_FILE=$ca PIP_CERT=$ca REQUESTS_CA_BUNDLE=$ca CARGO_HTTP_CAINFO=$ca \
    PIP_DISABLE_PIP_VERSION_CHECK=1 ${ARM_ENV:-} chroot "$rootfs" "$@"
}

pkg_stamp=$rootfs/.fastroute-packages-$(echo "$rootfs_packages" | md5sum | cut -c1-12)
install_packages() {
  # No daemons may start inside the chroot (nginx/haproxy postinst).
  printf '#!/bin/sh\nexit 101\n' > "$rootfs/usr/sbin/policy-rc.d"
  chmod +x "$rootfs/usr/sbin/policy-rc.d"
  in_root apt-get update -qq
  in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $rootfs_packages \
    > "$out/apt.log" 2>&1 || { tail -20 "$out/apt.log" >&2; return 1; }
  in_root apt-get clean
  touch "$pkg_stamp"
}
if [ ! -e "$pkg_stamp" ]; then
  log "apt-get install in the rootfs: $rootfs_packages"
  timed rootfs-packages install_packages
fi

# Python environment from PyPI, keyed on pyproject.toml (the test extra). pip
# itself runs emulated at a crawl (minutes per package), so the host's pip puts
# the aarch64 wheels in place (`--platform`, `--only-binary`: unpacking is
# architecture-free); only packages that PyPI has as sdists alone are built
# inside. The bench extra is left out: no test needs asv or pytest-benchmark.
sdist_only="jump-consistent-hash"
venv_stamp=$rootfs/opt/.venv-$( (cat "$top/pyproject.toml"; echo "venv-layout-1 $sdist_only") | md5sum | cut -c1-12)
make_venv() {
  [ -x "$rootfs/opt/venv/bin/python" ] || in_root python3 -m venv /opt/venv
  local site pyver plats="" v
  site=$(ls -d "$rootfs"/opt/venv/lib/python3.*/site-packages)
  pyver=$(in_root /opt/venv/bin/python -c 'import sys; print("%d%d" % sys.version_info[:2])')
  for v in 17 24 26 27 28 31 34 35 36 38 39 41; do plats="$plats --platform manylinux_2_${v}_aarch64"; done
  python3 - "$top/pyproject.toml" "$sdist_only" > "$rootfs/opt/test-requirements.txt" <<'PY'
import re, sys, tomllib
skip = set(sys.argv[2].split())
for req in tomllib.load(open(sys.argv[1], "rb"))["project"]["optional-dependencies"]["test"]:
    if re.match(r"[A-Za-z0-9_.-]+", req).group(0) not in skip:
        print(req)
PY
  local host_pip=(python3 -m pip install -q --upgrade --no-compile --only-binary=:all: $plats
                  --platform manylinux2014_aarch64 --python-version "$pyver" --implementation cp --abi "cp$pyver")
  "${host_pip[@]}" --target "$site" "setuptools>=77" "setuptools-rust>=1.12" "cython>=3.1,<3.4" "numpy>=2" \
    wheel auditwheel > "$out/pip.log" 2>&1 || { tail -20 "$out/pip.log" >&2; return 1; }
  # Test packages in a directory of their own, behind the venv's site-packages,
  # so the build requirements' numpy is the one imported.
  rm -rf "$rootfs/opt/test-site"
  "${host_pip[@]}" --target "$rootfs/opt/test-site" -r "$rootfs/opt/test-requirements.txt" >> "$out/pip.log" 2>&1 \
    || { tail -20 "$out/pip.log" >&2; return 1; }
  rm -rf "$rootfs/opt/test-site/bin"  # console scripts with the host's shebang
  echo /opt/test-site > "$site/fastroute-test-site.pth"
  local spec
  spec=$(python3 - "$top/pyproject.toml" "$sdist_only" <<'PY'
import re, sys, tomllib
want = set(sys.argv[2].split())
print(" ".join(r for r in tomllib.load(open(sys.argv[1], "rb"))["project"]["optional-dependencies"]["test"]
               if re.match(r"[A-Za-z0-9_.-]+", r).group(0) in want))
PY
)
  in_root /opt/venv/bin/python -m pip install -q --no-compile --no-deps --no-build-isolation $spec >> "$out/pip.log" 2>&1 \
    || { tail -20 "$out/pip.log" >&2; return 1; }
  touch "$venv_stamp"
}
if [ ! -e "$venv_stamp" ]; then
  log "Python venv in the rootfs (build requirements + test extras from PyPI)"
  timed rootfs-venv make_venv
fi

# ---------------------------------------------------------------- build
# The working tree as it is (tracked and untracked, not ignored files), so
# uncommitted edits are tested too; build products stay in the rootfs.
if [ "${ARM_SKIP_BUILD:-0}" != 1 ]; then
log "copy the source tree into the rootfs"
mkdir -p "$rootfs/src/fastroute"
(cd "$top" && git ls-files -co --exclude-standard) > "$out/files.txt"
rsync -a --delete --files-from="$out/files.txt" "$top/" "$rootfs/src/fastroute.new/"
rsync -a --delete --exclude=/build/ "$rootfs/src/fastroute.new/" "$rootfs/src/fastroute/"
rm -rf "$rootfs/src/fastroute.new"
commit=$(cd "$top" && git rev-parse --short HEAD)$(cd "$top" && git diff --quiet HEAD -- . && echo "" || echo "+dirty")

build_wheel() {
  # build/cython (Cython's C output) is reused; compiled objects are not, since
  # setuptools would keep them across a change of compiler flags in setup.py.
  rm -rf "$rootfs/src/dist" "$rootfs"/src/fastroute/build/{lib,temp,bdist}.*
  in_root sh -c 'cd /src/fastroute && rustc --version && cargo --version && python3 --version &&
    pip wheel -v --no-deps --no-build-isolation -w /src/dist .' > "$out/build.log" 2>&1 \
    || { tail -30 "$out/build.log" >&2; return 1; }
}
log "build the aarch64 wheel (rustc, cargo, gcc under emulation; log: $out/build.log)"
timed build-wheel build_wheel

check_wheel() {
  local raw
  raw=$(cd "$rootfs/src/dist" && ls fastroute-*.whl)
  in_root python -m auditwheel show "/src/dist/$raw" | tee "$out/auditwheel-show.txt"
  grep -q 'manylinux_[0-9_]*_aarch64' "$out/auditwheel-show.txt" \
    || { echo "auditwheel: no manylinux tag fits $raw" >&2; return 1; }
  rm -rf "$rootfs/src/wheelhouse"
  in_root python -m auditwheel repair -w /src/wheelhouse "/src/dist/$raw" > "$out/auditwheel-repair.txt" 2>&1 \
    || { cat "$out/auditwheel-repair.txt" >&2; return 1; }
  wheel=$(cd "$rootfs/src/wheelhouse" && ls fastroute-*manylinux*_aarch64.whl)
  rm -f "$cache"/wheels/fastroute-*.whl
  cp "$rootfs/src/wheelhouse/$wheel" "$cache/wheels/"
  in_root pip install -q --force-reinstall --no-deps "/src/wheelhouse/$wheel"
  # Imported from / so the installed wheel is used, not the source tree.
  in_root sh -c 'cd / && python -c "
import platform, fastroute, fastroute._rust as r, fastroute._cext as c
assert platform.machine() == \"aarch64\", platform.machine()
assert fastroute.RUST_BUILD_PROFILE == \"release\", fastroute.RUST_BUILD_PROFILE
print(\"import OK\", platform.machine(), fastroute.__version__, r.__file__, c.__file__)"' | tee "$out/import.txt"
  in_root sh -c 'cd / && fastroute bench --quick --json' > "$out/bench-quick.json"
  log "bench --quick --json ran ($(wc -c < "$out/bench-quick.json") bytes; emulated figures: a smoke test, not speed)"
}
log "auditwheel show/repair, install, import, bench --quick --json"
timed wheel-check check_wheel
echo "$commit" > "$rootfs/src/fastroute-commit"
else
  # ARM_SKIP_BUILD=1: test the tree and wheel already in the rootfs (the emulated
  # build takes hours); the commit is the one recorded when they were built.
  [ -s "$rootfs/src/fastroute-commit" ] || { echo "ARM_SKIP_BUILD=1: no previous build in $rootfs/src" >&2; exit 1; }
  commit=$(cat "$rootfs/src/fastroute-commit")
  log "ARM_SKIP_BUILD=1: reusing the tree and wheel of $commit"
fi
wheel=$(cd "$cache/wheels" && ls fastroute-*.whl)

# ---------------------------------------------------------------- tests
deselect=()
for d in $ARM_DESELECT; do deselect+=(--deselect "$d"); done
run_tests() {
  # -p no:cacheprovider: nothing written into the copied tree's .pytest_cache.
  # -o addopts keeps --strict-markers; the collection is from the copied tests/.
  # The per-test timeout (300 s natively) is raised: under emulation the signal
  # sweep of tests/bulk/test_trust.py alone ran past 300 s and stopped the session.
  in_root sh -c "cd /src/fastroute && python -m pytest -p no:cacheprovider -q -ra --durations=15 \
      -o timeout=${ARM_TEST_TIMEOUT:-1800} --junitxml=/src/junit.xml ${ARM_TEST_ARGS:-tests ${deselect[*]}}" > "$out/pytest.log" 2>&1
}
# The cross-architecture vectors first: the quickest answer to "does aarch64
# compute the same bits", before the long full run.
log "pytest tests/test_placement_vectors.py on aarch64"
vectors_rc=0
timed pytest-vectors in_root sh -c "cd /src/fastroute && python -m pytest -p no:cacheprovider -q \
    tests/test_placement_vectors.py" > "$out/pytest-vectors.log" 2>&1 || vectors_rc=$?
if [ $vectors_rc -ne 0 ]; then grep -E '^(FAILED|E )' "$out/pytest-vectors.log" | cut -c1-300 | head -40; fi
tail -1 "$out/pytest-vectors.log"
log "pytest on aarch64 (deselected: ${ARM_DESELECT:-none}; log: $out/pytest.log)"
rc=0
timed pytest run_tests || rc=$?
cp "$rootfs/src/junit.xml" "$out/junit.xml" 2>/dev/null || true

# A session stopped early (timeout, crash) has no result line: say so, still write the summary.
result=$( (grep -E '^[=]* ?[0-9]+ (passed|failed)' "$out/pytest.log" || echo 'no result line: the session stopped early, see pytest.log') | tail -1 | tr -d '=' | sed 's/^ *//;s/ *$//')
{
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "commit: $commit"
  echo "wheel: $wheel"
  echo "rootfs: Debian $suite arm64, $(in_root rustc --version), $(in_root python3 --version)"
  echo "vectors: $(tail -1 "$out/pytest-vectors.log" | tr -d '=' | sed 's/^ *//')"
  echo "result: ${result:-no pytest summary line (rc=$rc)}"
  echo "deselected: ${ARM_DESELECT:-none}"
  echo "wall times (this run):"; sed 's/^/  /' "$out/times.txt"
  echo "wall times (cache creation, once):"; sed 's/^/  /' "$cache/cache-times.txt" 2>/dev/null || true
} | tee "$out/summary.txt"
[ $vectors_rc -eq 0 ] || rc=$vectors_rc
exit $rc
