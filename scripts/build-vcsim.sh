#!/usr/bin/env bash
# Builds govmomi's vCenter simulator (tools/vcsim/main.go) once per checkout and prints the binary's path.
# Offline: Debian's golang-go and golang-github-vmware-govmomi-dev provide the compiler and the sources (GOPATH mode).
# The binary is cached under .cache/homebound/ by the hash of main.go, so a changed main.go rebuilds and an unchanged
# one costs a sha256sum. Concurrent callers wait on a lock; the build goes to a temporary file renamed into place.
set -euo pipefail
cd "$(dirname "$0")/.."

source_file=tools/vcsim/main.go
cache_dir=.cache/homebound
hash=$(sha256sum "$source_file" | cut -c1-16)
binary="$PWD/$cache_dir/vcsim-$hash"

if [ ! -x "$binary" ]; then
  mkdir -p "$cache_dir"
  # Test files start in parallel: the first caller builds, the others wait for it instead of building too.
  exec 9>"$cache_dir/vcsim.lock"
  flock 9
  if [ ! -x "$binary" ]; then
    partial=$(mktemp "$cache_dir/vcsim-build.XXXXXX")
    GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE="$PWD/$cache_dir/go-build" GOFLAGS= \
      go build -o "$partial" "./$(dirname "$source_file")" >&2
    mv -f "$partial" "$binary"
  fi
fi
echo "$binary"
