#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `make arm-test` (issue 19, docs/build.md §10): builds the aarch64 wheel and runs
# the test suite on aarch64 under qemu-user emulation, on this x86-64 host.
#
# Routes (ARM_BUILD):
#   cross (default)  the wheel is cross-compiled at native speed in an amd64
#                    Debian 13 chroot: Debian's rustc 1.85 with its own
#                    libstd-rust-dev:arm64 (the same source version, so the pair
#                    matches), gcc-aarch64-linux-gnu, and python3.13's arm64
#                    headers and sysconfig data from libpython3.13-dev:arm64.
#   emulated         rustc, gcc and pip wheel run inside the arm64 rootfs under
#                    qemu (hours; kept to check the cross route against).
# Either way the wheel is checked, installed and tested in an arm64 Debian 13
# root filesystem made by debootstrap (second stage under qemu-user-static via
# binfmt_misc). Debian packages from the Debian mirror, Python packages from
# PyPI, crates from crates.io, nothing else downloaded. Everything cached lives
# OUTSIDE the repo in $ARM_CACHE (default /var/cache/fastroute-arm):
#   rootfs/                    the arm64 system (+ /opt/venv, cargo home and target)
#   cross-amd64/               the amd64 cross-build system (+ /opt/venv, cargo home and target)
#   wheels/                    the last built and auditwheel-repaired wheel
#   results/<tree>/            one JSON per test file, summary.txt (resumable, see below)
#   last-run/                  logs, bench JSON, summary.txt
# Re-running is safe: each stage is skipped when its stamp says it is done.
# ARM_SKIP_BUILD=1 reuses the last build (tree + wheel) and only runs the tests.
# Tests run one pytest session over the test files that have no result yet; a
# plugin (scripts/arm_results.py) writes each file's result when its last test
# ends. ARM_RESUME=1 keeps the results of this tree and runs only the rest;
# ARM_RESUME_ACROSS=<tree> also counts another tree's results for test files
# unchanged between the two commits (the summary names each result's tree).
# ARM_TEST_FILES="..." replaces the list of test files (default: every
# tests/**/test_*.py minus ARM_DESELECT). SIGINT/SIGTERM stop the run cleanly.
set -euo pipefail

top=${ARM_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
# Run from a copy: bash reads a script as it goes, and the test stage lasts hours,
# so an edit of the checkout's script must not reach the running one.
if [ -z "${ARM_TOP:-}" ]; then
  run_copy=$(mktemp /tmp/arm-test.XXXXXX.sh)
  cp "$0" "$run_copy"
  ARM_TOP=$top exec bash "$run_copy" "$@"
fi
cache=${ARM_CACHE:-/var/cache/fastroute-arm}
rootfs=$cache/rootfs
cross=$cache/cross-amd64
build_route=${ARM_BUILD:-cross}
case $build_route in cross|emulated) ;; *) echo "ARM_BUILD=$build_route: must be cross or emulated" >&2; exit 2 ;; esac
suite=trixie
mirror=${ARM_MIRROR:-http://deb.debian.org/debian}
out=$cache/last-run
# Debian packages inside the rootfs: the toolchain (for ARM_BUILD=emulated and
# the sdist-only test dependency), and what the live tests start or use, as in
# scripts/ensure-system-deps.sh: nginx, haproxy, apache2, openssl (test
# certificates), iproute2. No JRE and no etcd: see ARM_DESELECT.
rootfs_packages="ca-certificates gcc libc6-dev rustc cargo python3 python3-dev python3-venv patchelf git nginx haproxy apache2 openssl iproute2"
# The amd64 cross-build system: rustc and libstd-rust-dev:arm64 come from the same
# Debian source package, so their versions match exactly (rustc refuses a std of
# another version); libpython3.13-dev:arm64 brings the arm64 pyconfig.h and
# _sysconfigdata__aarch64-linux-gnu.py (EXT_SUFFIX, CC, LDSHARED for the target).
cross_packages="ca-certificates python3 python3-dev python3-venv rustc cargo libstd-rust-dev:arm64 gcc-aarch64-linux-gnu libpython3.13-dev:arm64"
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
# One run at a time: the stop handler kills every process inside the two roots.
exec 9> "$cache/.lock"
flock -n 9 || { echo "another arm-test run holds $cache/.lock" >&2; exit 1; }
: > "$out/times.txt"
timed() {  # timed NAME CMD... : runs CMD, records its wall time for this run
  local name=$1 t0 rc; shift
  t0=$(now)
  # A subshell outside any `||`, so `set -e` holds inside the stage's function;
  # in the background + `wait`, so a SIGTERM to this script is handled at once
  # (bash runs traps only after a foreground child ends).
  set +e; ( set -e; "$@" ) & stage_pid=$!; wait $stage_pid; rc=$?; set -e; stage_pid=
  echo "$name $(( $(now) - t0 ))s rc=$rc" | tee -a "$out/times.txt"
  # Stages that fill the cache run once; keep their times beside the cache.
  case $name in rootfs-*|cross-root-*) echo "$(date -u +%FT%TZ) $name $(( $(now) - t0 ))s rc=$rc" >> "$cache/cache-times.txt" ;; esac
  return $rc
}

# ---------------------------------------------------------------- chroots
mount_root() {  # mount_root DIR: proc, sys, dev, dev/pts for a chroot at DIR
  local root=$1 d
  for d in proc sys dev dev/pts; do
    mkdir -p "$root/$d"
    mountpoint -q "$root/$d" && continue
    case $d in
      proc) mount -t proc proc "$root/proc" ;;
      sys) mount -t sysfs sys "$root/sys" ;;
      dev) mount --bind /dev "$root/dev" ;;
      dev/pts) mount -t devpts devpts "$root/dev/pts" ;;
    esac
  done
  cp -L /etc/resolv.conf "$root/etc/resolv.conf"
}
chroot_pids() {  # processes whose root directory is one of our chroots
  local p r
  for p in /proc/[0-9]*; do
    r=$(readlink "$p/root" 2>/dev/null) || continue
    case $r in "$rootfs"|"$cross") echo "${p#/proc/}" ;; esac
  done
}
stop_chroot_processes() {
  local pids i
  pids=$(chroot_pids)
  [ -z "$pids" ] && return 0
  kill -TERM $pids 2>/dev/null || true
  for i in 1 2 3 4 5 6 7 8 9 10; do
    sleep 1
    pids=$(chroot_pids)
    [ -z "$pids" ] && return 0
  done
  kill -KILL $pids 2>/dev/null || true
  sleep 1
}
umount_roots() {  # everything mounted below either root, innermost first
  local m
  for m in $(findmnt -rn -o TARGET | grep -E "^($rootfs|$cross)/" | sort -r); do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
}
on_exit() {
  stop_chroot_processes; umount_roots
  case $0 in /tmp/arm-test.*.sh) rm -f "$0" ;; esac
}
on_signal() {  # on_signal SIG: stop the chroots' processes, unmount, exit
  trap - INT TERM
  log "$1: stopping the processes in the chroots and unmounting"
  # The stage's subshell first (it would start the next pytest session), then
  # everything running inside the chroots.
  [ -z "${stage_pid:-}" ] || kill -TERM "$stage_pid" 2>/dev/null || true
  stop_chroot_processes
  write_summary 2>/dev/null || true
  exit $(( 128 + $(kill -l "$1") ))
}
write_summary() { :; }  # replaced once the test stage knows its tree
stage_pid=
trap on_exit EXIT
trap 'on_signal INT' INT
trap 'on_signal TERM' TERM

# ---------------------------------------------------------------- rootfs
bootstrap_root() {  # bootstrap_root ARCH DIR LOG: a minbase Debian $suite for ARCH at DIR
  rm -rf "$2"
  debootstrap --arch="$1" --variant=minbase "$suite" "$2" "$mirror" > "$3" 2>&1 || { tail -20 "$3" >&2; return 1; }
  touch "$2/.fastroute-debootstrap-done"
}
if [ ! -e "$rootfs/.fastroute-debootstrap-done" ]; then
  log "debootstrap $suite arm64 into $rootfs (first + second stage under qemu)"
  timed rootfs-debootstrap bootstrap_root arm64 "$rootfs" "$out/debootstrap.log"
fi
mount_root "$rootfs"

# The host's CA bundle, so pip and cargo inside trust the same registries'
# certificates as on the host (this machine reaches them through its own CA).
host_ca=${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}
ca=/etc/ssl/host-ca-bundle.crt
mkdir -p "$rootfs/etc/ssl"; cp -L "$host_ca" "$rootfs$ca"
# Inside a chroot: a clean environment, Debian's PATH, the caches on its disk.
in_chroot() {  # in_chroot ROOT CMD...
  local root=$1; shift
  env -i HOME=/root TERM=dumb LANG=C.UTF-8 PATH=/opt/venv/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin \
    CARGO_HOME=/var/cache/fastroute/cargo-home CARGO_TARGET_DIR=/var/cache/fastroute/target \
    SSL_CERT_FILE=$ca PIP_CERT=$ca REQUESTS_CA_BUNDLE=$ca CARGO_HTTP_CAINFO=$ca \
    PIP_DISABLE_PIP_VERSION_CHECK=1 ${ARM_ENV:-} chroot "$root" "$@"
}
in_root() { in_chroot "$rootfs" "$@"; }
in_cross() { in_chroot "$cross" "$@"; }

apt_install() {  # apt_install ROOT LOG PACKAGES...: no daemons may start (nginx/haproxy postinst)
  local root=$1 logf=$2; shift 2
  printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
  chmod +x "$root/usr/sbin/policy-rc.d"
  in_chroot "$root" dpkg --configure -a  # finishes an install a stopped run interrupted
  in_chroot "$root" apt-get update -qq
  in_chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" \
    > "$logf" 2>&1 || { tail -20 "$logf" >&2; return 1; }
  in_chroot "$root" apt-get clean
}
pkg_stamp=$rootfs/.fastroute-packages-$(echo "$rootfs_packages" | md5sum | cut -c1-12)
install_packages() { apt_install "$rootfs" "$out/apt.log" $rootfs_packages; touch "$pkg_stamp"; }
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
venv_stamp=$rootfs/opt/.venv-$( (cat "$top/pyproject.toml"; echo "venv-layout-2 $sdist_only") | md5sum | cut -c1-12)
build_requires() {  # the [build-system] requires of pyproject.toml, one per line
  python3 -c 'import sys, tomllib; print("\n".join(tomllib.load(open(sys.argv[1], "rb"))["build-system"]["requires"]))' "$top/pyproject.toml"
}
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
  build_requires > "$rootfs/opt/build-requirements.txt"
  "${host_pip[@]}" --target "$site" -r "$rootfs/opt/build-requirements.txt" \
    wheel auditwheel > "$out/pip.log" 2>&1 || { tail -20 "$out/pip.log" >&2; return 1; }
  # Test packages in a directory of their own, behind the venv's site-packages,
  # so the build requirements' numpy is the one imported. Its path must contain
  # "/site-packages/": Hypothesis takes any other module file for the user's
  # own code and parses its source for constants (pandas, dask, pyarrow, ...),
  # which under emulation kept the first session busy for over 30 minutes.
  local test_site=/opt/test/site-packages
  rm -rf "$rootfs/opt/test-site" "$rootfs/opt/test"
  "${host_pip[@]}" --target "$rootfs$test_site" -r "$rootfs/opt/test-requirements.txt" >> "$out/pip.log" 2>&1 \
    || { tail -20 "$out/pip.log" >&2; return 1; }
  rm -rf "$rootfs$test_site/bin"  # console scripts with the host's shebang
  echo "$test_site" > "$site/fastroute-test-site.pth"
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

# ---------------------------------------------------------------- cross-build root
if [ "$build_route" = cross ] && [ "${ARM_SKIP_BUILD:-0}" != 1 ]; then
  if [ ! -e "$cross/.fastroute-debootstrap-done" ]; then
    log "debootstrap $suite amd64 into $cross (the cross-build system)"
    timed cross-root-debootstrap bootstrap_root amd64 "$cross" "$out/debootstrap-cross.log"
  fi
  mount_root "$cross"
  mkdir -p "$cross/etc/ssl"; cp -L "$host_ca" "$cross$ca"
  cross_pkg_stamp=$cross/.fastroute-packages-$(echo "$cross_packages" | md5sum | cut -c1-12)
  install_cross_packages() {
    in_cross dpkg --add-architecture arm64
    apt_install "$cross" "$out/apt-cross.log" $cross_packages
    # rustc loads only a std built by the same compiler; say which pair this is.
    in_cross dpkg-query -W -f '${Package}:${Architecture} ${Version}\n' rustc libstd-rust-dev:arm64 | tee "$cross/.fastroute-rust-pair"
    [ "$(cut -d' ' -f2 "$cross/.fastroute-rust-pair" | sort -u | wc -l)" = 1 ] \
      || { echo "rustc and libstd-rust-dev:arm64 differ in version" >&2; return 1; }
    touch "$cross_pkg_stamp"
  }
  if [ ! -e "$cross_pkg_stamp" ]; then
    log "apt-get install in the cross root: $cross_packages"
    timed cross-root-packages install_cross_packages
  fi
  cross_venv_stamp=$cross/opt/.venv-$(build_requires | md5sum | cut -c1-12)
  make_cross_venv() {
    [ -x "$cross/opt/venv/bin/python" ] || in_cross python3 -m venv /opt/venv
    build_requires > "$cross/opt/build-requirements.txt"
    in_cross /opt/venv/bin/python -m pip install -q -r /opt/build-requirements.txt wheel > "$out/pip-cross.log" 2>&1 \
      || { tail -20 "$out/pip-cross.log" >&2; return 1; }
    touch "$cross_venv_stamp"
  }
  if [ ! -e "$cross_venv_stamp" ]; then
    log "Python venv in the cross root (build requirements from PyPI)"
    timed cross-root-venv make_cross_venv
  fi
fi

# ---------------------------------------------------------------- build
# The working tree as it is (tracked and untracked, not ignored files), so
# uncommitted edits are tested too; build products stay in the chroots.
copy_tree() {  # copy_tree ROOT: the working tree to ROOT/src/fastroute
  local root=$1
  mkdir -p "$root/src/fastroute"
  rsync -a --delete --files-from="$out/files.txt" "$top/" "$root/src/fastroute.new/"
  rsync -a --delete --exclude=/build/ "$root/src/fastroute.new/" "$root/src/fastroute/"
  rm -rf "$root/src/fastroute.new"
}
# The tree's name: the commit, and for uncommitted edits a hash of them, so
# results are never filed under a commit whose tree they did not test.
tree_id() {
  local c dirty
  c=$(cd "$top" && git rev-parse --short=10 HEAD)
  dirty=$(cd "$top" && { git diff HEAD; git ls-files -o --exclude-standard -z | xargs -0 -r md5sum; } | md5sum | cut -c1-8)
  if (cd "$top" && git diff --quiet HEAD -- . && [ -z "$(git ls-files -o --exclude-standard)" ]); then
    echo "$c"
  else
    echo "$c+dirty-$dirty"
  fi
}
if [ "${ARM_SKIP_BUILD:-0}" != 1 ]; then
(cd "$top" && git ls-files -co --exclude-standard) > "$out/files.txt"
commit=$(tree_id)
log "copy the source tree ($commit) into the rootfs"
copy_tree "$rootfs"

build_wheel_emulated() {
  # build/cython (Cython's C output) is reused; compiled objects are not, since
  # setuptools would keep them across a change of compiler flags in setup.py.
  rm -rf "$rootfs/src/dist" "$rootfs"/src/fastroute/build/{lib,temp,bdist}.*
  in_root sh -c 'cd /src/fastroute && rustc --version && cargo --version && python3 --version &&
    pip wheel -v --no-deps --no-build-isolation -w /src/dist .' > "$out/build.log" 2>&1 \
    || { tail -30 "$out/build.log" >&2; return 1; }
}
build_wheel_cross() {
  # The amd64 python3.13 runs setuptools, but every platform fact comes from the
  # arm64 sysconfig data: _PYTHON_HOST_PLATFORM gives the wheel tag linux_aarch64,
  # _PYTHON_SYSCONFIGDATA_NAME gives EXT_SUFFIX, CC=aarch64-linux-gnu-gcc and
  # LDSHARED for the Cython extensions (Debian's cross-build idiom, as in pybuild).
  # setuptools-rust passes CARGO_BUILD_TARGET to cargo; PyO3's build script reads
  # the same sysconfig data from PYO3_CROSS_LIB_DIR (by its real name: PyO3
  # resolves symlinks, and _sysconfigdata__aarch64-linux-gnu.py is one).
  copy_tree "$cross"
  rm -rf "$cross/src/dist" "$cross"/src/fastroute/build/{lib,temp,bdist}.*
  in_cross env _PYTHON_HOST_PLATFORM=linux-aarch64 _PYTHON_SYSCONFIGDATA_NAME=_sysconfigdata__linux_aarch64-linux-gnu \
      CARGO_BUILD_TARGET=aarch64-unknown-linux-gnu CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
      CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc \
      PYO3_CROSS_LIB_DIR=/usr/lib/python3.13 PYO3_CROSS_PYTHON_VERSION=3.13 \
      sh -c 'cd /src/fastroute && rustc --version && cargo --version && aarch64-linux-gnu-gcc --version | head -1 &&
        python3 --version && pip wheel -v --no-deps --no-build-isolation -w /src/dist .' > "$out/build.log" 2>&1 \
    || { tail -30 "$out/build.log" >&2; return 1; }
  rm -rf "$rootfs/src/dist"; mkdir -p "$rootfs/src/dist"
  cp "$cross"/src/dist/fastroute-*.whl "$rootfs/src/dist/"
}
log "build the aarch64 wheel, route $build_route (log: $out/build.log)"
timed "build-wheel-$build_route" "build_wheel_$build_route"

check_wheel() {
  local raw
  raw=$(cd "$rootfs/src/dist" && ls fastroute-*.whl)
  case $raw in *_aarch64.whl) ;; *) echo "not an aarch64 wheel: $raw" >&2; return 1 ;; esac
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
print(\"import OK\", platform.machine(), fastroute.__version__, fastroute.RUST_BUILD_PROFILE, r.__file__, c.__file__)"' | tee "$out/import.txt"
  in_root sh -c 'cd / && fastroute bench --quick --json' > "$out/bench-quick.json"
  log "bench --quick --json ran ($(wc -c < "$out/bench-quick.json") bytes; emulated figures: a smoke test, not speed)"
}
log "auditwheel show/repair, install, import, bench --quick --json"
timed wheel-check check_wheel
echo "$commit" > "$rootfs/src/fastroute-commit"
echo "$build_route" > "$rootfs/src/fastroute-build-route"
else
  # ARM_SKIP_BUILD=1: test the tree and wheel already in the rootfs; the tree
  # is the one recorded when they were built.
  [ -s "$rootfs/src/fastroute-commit" ] || { echo "ARM_SKIP_BUILD=1: no previous build in $rootfs/src" >&2; exit 1; }
  commit=$(cat "$rootfs/src/fastroute-commit")
  log "ARM_SKIP_BUILD=1: reusing the tree and wheel of $commit"
fi
wheel=$(cd "$cache/wheels" && ls fastroute-*.whl)

# ---------------------------------------------------------------- tests
# Results per test file under $cache/results/<tree>/ (<file with / as __>.json,
# written by scripts/arm_results.py inside the rootfs when the file's last test
# ends); a file without one has not been run to its end for this tree.
results=$cache/results/$commit
if [ "${ARM_RESUME:-0}" != 1 ]; then rm -rf "$results"; fi
mkdir -p "$results"
mkdir -p "$rootfs/src/results"
mountpoint -q "$rootfs/src/results" || mount --bind "$results" "$rootfs/src/results"
all_files=$(cd "$rootfs/src/fastroute" && { echo tests/test_placement_vectors.py; find tests -name 'test_*.py' | sort; } | awk '!seen[$0]++')
if [ -n "${ARM_TEST_FILES:-}" ]; then all_files=$ARM_TEST_FILES; fi
selected=$(for f in $all_files; do case " $(echo $ARM_DESELECT) " in *" $f "*) ;; *) echo "$f" ;; esac; done)
echo "$selected" > "$results/selected.txt"
echo "${ARM_DESELECT:-}" | tr -s ' \n' '\n' | sed '/^$/d' > "$results/deselected.txt"
# ARM_RESUME_ACROSS=<tree>: that tree's result counts for a file with none here
# only when the test file is byte-identical in both commits; the summary names
# the tree each result belongs to. The code under test may still differ: say so.
if [ -n "${ARM_RESUME_ACROSS:-}" ]; then
  other=$cache/results/$ARM_RESUME_ACROSS
  [ -d "$other" ] || { echo "ARM_RESUME_ACROSS=$ARM_RESUME_ACROSS: no $other" >&2; exit 2; }
  for f in $selected; do
    r=$(echo "$f" | sed 's,/,__,g').json
    [ -e "$results/$r" ] || [ ! -e "$other/$r" ] && continue
    if (cd "$top" && git diff --quiet "${ARM_RESUME_ACROSS%%+*}" "${commit%%+*}" -- "$f" 2>/dev/null) \
        && [[ $ARM_RESUME_ACROSS != *+dirty* ]]; then
      ln -sf "../$ARM_RESUME_ACROSS/$r" "$results/$r"
    fi
  done
fi
write_summary() {
  python3 "$top/scripts/arm_results.py" summary "$results" "$commit" "$wheel" "$out/times.txt" \
    > "$results/summary.txt.new" && mv "$results/summary.txt.new" "$results/summary.txt"
  cp "$results/summary.txt" "$out/summary.txt"
}
pending() {
  local f
  for f in $selected; do [ -e "$results/$(echo "$f" | sed 's,/,__,g').json" ] || echo "$f"; done
}
run_pending() {
  # One pytest session over the files without a result (start-up under emulation
  # costs ~30 s, so not one session per file). A session that dies (a per-test
  # timeout ends the process) leaves its file "started": it is recorded as
  # stopped, and the next session goes on with the remaining files.
  # -p no:cacheprovider: nothing written into the copied tree's .pytest_cache.
  # The per-test timeout (300 s natively) is raised: under emulation the signal
  # sweep of tests/bulk/test_trust.py alone ran past 300 s.
  local todo session=0 rc
  while todo=$(pending) && [ -n "$todo" ]; do
    session=$((session + 1))
    log "pytest session $session: $(echo "$todo" | wc -l) files to go (log: $out/pytest-$session.log)"
    set +e
    in_root env PYTHONPATH=/src/fastroute/scripts ARM_RESULTS_DIR=/src/results ARM_RESULTS_TREE="$commit" \
      nice -n "${ARM_NICE:-19}" sh -c "cd /src/fastroute && python -m pytest -p arm_results -p no:cacheprovider -q -ra \
        --continue-on-collection-errors -o timeout=${ARM_TEST_TIMEOUT:-1800} $(echo $todo)" \
      > "$out/pytest-$session.log" 2>&1 &
    # The summary is rewritten as each file's result appears (polled: the
    # plugin runs emulated inside the rootfs, the summary is made out here).
    local pid=$! seen="" count
    while kill -0 "$pid" 2>/dev/null; do
      sleep 15 & wait $!
      count=$(find "$results" -maxdepth 1 -name '*.json' | wc -l)
      [ "$count" = "$seen" ] || { write_summary || true; seen=$count; }
    done
    wait "$pid"; rc=$?
    set -e
    python3 "$top/scripts/arm_results.py" stopped "$results" "$commit" "$out/pytest-$session.log" "$rc"
    write_summary
    # Exit 2 without a started file (interrupted) or 3/4 (internal/usage error): do not loop.
    [ -e "$results/.started" ] || [ "$rc" -le 1 ] || [ "$rc" = 5 ] || { log "pytest exited $rc; see the log"; return "$rc"; }
    rm -f "$results/.started"
    [ "$(pending)" != "$todo" ] || { log "pytest session $session recorded no file; see its log"; return 1; }
  done
}
write_summary
log "pytest on aarch64, file by file (deselected: $(echo ${ARM_DESELECT:-none}); results: $results)"
timed pytest run_pending || true
write_summary
cat "$results/summary.txt"
python3 "$top/scripts/arm_results.py" verdict "$results"
