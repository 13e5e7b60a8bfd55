#!/usr/bin/env bash
# Generates the Go code for shared/proto/*.proto.
#
#   scripts/proto.sh           regenerate shared/proto/*.pb.go in place   (make proto)
#   scripts/proto.sh --check   fail if the committed code is stale         (make proto-check)
#
# protoc and the well-known .proto files come from Debian (protobuf-compiler, libprotobuf-dev)
# and are installed if missing. protoc-gen-go and protoc-gen-go-grpc are pinned by the `tool`
# directives in go.mod and built from the module cache, so every machine generates the same
# bytes.
set -euo pipefail

cd "$(dirname "$0")/.."

mode=generate
case "${1:-}" in
"") ;;
--check) mode=check ;;
*)
	echo "usage: $0 [--check]" >&2
	exit 2
	;;
esac

proto_dir=shared/proto
include=/usr/include

ensure_protoc() {
	if command -v protoc >/dev/null && [ -f "$include/google/protobuf/timestamp.proto" ]; then
		return
	fi
	local sudo=()
	if [ "$(id -u)" -ne 0 ]; then
		sudo=(sudo)
	fi
	echo "proto: installing protoc (protobuf-compiler, libprotobuf-dev) from Debian" >&2
	export DEBIAN_FRONTEND=noninteractive
	if ! "${sudo[@]}" apt-get install -y -q protobuf-compiler libprotobuf-dev >/dev/null; then
		"${sudo[@]}" apt-get update -q >/dev/null
		"${sudo[@]}" apt-get install -y -q protobuf-compiler libprotobuf-dev >/dev/null
	fi
}

ensure_protoc

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The plugins at the versions go.mod pins.
mkdir -p "$tmp/bin"
go build -o "$tmp/bin/protoc-gen-go" google.golang.org/protobuf/cmd/protoc-gen-go
go build -o "$tmp/bin/protoc-gen-go-grpc" google.golang.org/grpc/cmd/protoc-gen-go-grpc

generate() {
	local out=$1
	mkdir -p "$out"
	protoc \
		--plugin=protoc-gen-go="$tmp/bin/protoc-gen-go" \
		--plugin=protoc-gen-go-grpc="$tmp/bin/protoc-gen-go-grpc" \
		-I "$proto_dir" -I "$include" \
		--go_out="$out" --go_opt=paths=source_relative \
		--go-grpc_out="$out" --go-grpc_opt=paths=source_relative \
		"$proto_dir"/*.proto
}

if [ "$mode" = generate ]; then
	generate "$proto_dir"
	echo "proto: regenerated $proto_dir ($(protoc --version))"
	exit 0
fi

generate "$tmp/out"
stale=0
for f in "$tmp/out"/*.go; do
	committed="$proto_dir/$(basename "$f")"
	if ! cmp -s "$f" "$committed"; then
		echo "proto: $committed is stale or missing:" >&2
		diff -u "$committed" "$f" | head -40 >&2 || true
		stale=1
	fi
done
for f in "$proto_dir"/*.pb.go; do
	if [ ! -f "$tmp/out/$(basename "$f")" ]; then
		echo "proto: $f is not generated from any .proto file" >&2
		stale=1
	fi
done
if [ "$stale" -ne 0 ]; then
	echo "proto: generated code in $proto_dir is out of date: run \`make proto\` and commit the result" >&2
	exit 1
fi
echo "proto: $proto_dir is up to date"
