#!/usr/bin/env bash
# Builds govmomi's vCenter simulator (tools/vcsim/main.go) once per checkout and prints the binary's path.
# Offline: Debian's golang-go and golang-github-vmware-govmomi-dev provide the compiler and the sources (GOPATH mode).
# Without them it exits 3 naming what is missing. The binary is cached under .cache/homebound/ by the hash of main.go,
# so a changed main.go rebuilds and an unchanged one costs a sha256sum. Concurrent callers wait on a lock; the build
# goes to a temporary file renamed into place.
set -euo pipefail
cd "$(dirname "$0")/.."

source_file=tools/vcsim/main.go
# Both overridable (the tests check the message for missing sources with an empty GOPATH and cache).
cache_dir=${VCSIM_CACHE_DIR:-.cache/homebound}
gopath=${VCSIM_GOPATH:-/usr/share/gocode}
hash=$(sha256sum "$source_file" | cut -c1-16)
binary="$(realpath -m "$cache_dir")/vcsim-$hash"

if [ ! -x "$binary" ]; then
  # Exit 3 with one line naming what to install: core/localcloud/vcsim.ts turns it into VcsimToolsMissingError.
  if ! command -v go >/dev/null 2>&1; then
    echo "no Go compiler (go) on PATH" >&2
    exit 3
  fi
  if [ ! -d "$gopath/src/github.com/vmware/govmomi/simulator" ]; then
    echo "no govmomi sources in $gopath/src/github.com/vmware/govmomi" >&2
    exit 3
  fi
  mkdir -p "$cache_dir"
  # Test files start in parallel: the first caller builds, the others wait for it instead of building too.
  exec 9>"$cache_dir/vcsim.lock"
  flock 9
  if [ ! -x "$binary" ]; then
    partial=$(mktemp "$cache_dir/vcsim-build.XXXXXX")
    GO111MODULE=off GOPATH="$gopath" GOCACHE="$(realpath -m "$cache_dir")/go-build" GOFLAGS= \
      go build -o "$partial" "./$(dirname "$source_file")" >&2
    mv -f "$partial" "$binary"
  fi
fi
echo "$binary"
