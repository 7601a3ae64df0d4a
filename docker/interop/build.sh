#!/usr/bin/env bash
# Builds the Go programs of the witness interoperability tests (tests/test_interop.py), once:
#
#   litewitness, witnessctl   an off-the-shelf C2SP witness, from the Go module filippo.io/torchwood
#   witness-client            a tlog-witness client that is not liuhen's (witness-client/, this module)
#   proof-check               checks a c2sp.org/tlog-proof with golang.org/x/mod alone (proof-check/)
#
# into .cache/go/bin, with the module and build caches in .cache/go (GOMODCACHE, GOCACHE): the first
# build downloads about a dozen modules through the Go module proxy (GOPROXY) and takes a minute or
# two; later runs find the binaries and return at once (the client is rebuilt when its source or
# go.sum changes). Needs the Go toolchain (1.24 or later; torchwood v0.6.1 builds on Go 1.26).
# Prints the folder of the binaries.
set -euo pipefail

TORCHWOOD_VERSION=v0.6.1
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache="$repo/.cache/go"
bin="$cache/bin"

command -v go >/dev/null || { echo "build.sh: the Go toolchain (go) is not installed" >&2; exit 1; }
mkdir -p "$bin"
export GOMODCACHE="$cache/mod" GOCACHE="$cache/build" GOBIN="$bin"
export GOFLAGS=-modcacherw  # a module cache that 'rm -rf .cache' can delete
export GOTOOLCHAIN=local    # build with the Go that is installed, never download another

# One build at a time: tests running in parallel share the cache.
exec 9>"$cache/.build.lock"
flock 9

stamp="$bin/.torchwood-$TORCHWOOD_VERSION"
if [[ ! -x "$bin/litewitness" || ! -x "$bin/witnessctl" || ! -e "$stamp" ]]; then
    go install "filippo.io/torchwood/cmd/litewitness@$TORCHWOOD_VERSION" \
        "filippo.io/torchwood/cmd/witnessctl@$TORCHWOOD_VERSION"
    rm -f "$bin"/.torchwood-*
    touch "$stamp"
fi

for program in witness-client proof-check; do
    source_sum=$(cat "$here/go.mod" "$here/go.sum" "$here/$program"/*.go | sha256sum | cut -c1-16)
    program_stamp="$bin/.$program-$source_sum"
    if [[ ! -x "$bin/$program" || ! -e "$program_stamp" ]]; then
        (cd "$here" && go build -mod=readonly -o "$bin/$program" "./$program")
        rm -f "$bin/.$program"-*
        touch "$program_stamp"
    fi
done
echo "$bin"
