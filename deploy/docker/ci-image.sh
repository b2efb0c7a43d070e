#!/usr/bin/env bash
# ci-image.sh: builds turnkey's container image the way CI can, with no
# registry: the static binary is built here and put into the final stage of
# deploy/docker/Dockerfile with its base replaced by `scratch`, so CI checks
# the very stage the published image uses (entrypoint, user, labels, ports,
# volume, environment) without pulling golang, debian or distroless.
#
#   bash deploy/docker/ci-image.sh [TAG]     # default turnkey:ci; prints the tag
#
# Needs podman (Debian package) and setcap (libcap2-bin). Run from anywhere.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TAG=${1:-turnkey:ci}
VERSION=${VERSION:-ci}
CTX=$(mktemp -d /tmp/turnkey-image.XXXXXX)
trap 'rm -rf "$CTX"' EXIT

# The build stage's command, without the Docker cache mounts.
(cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o "$CTX/out/turnkey" ./cmd/turnkey)
# The caps stage's commands.
setcap cap_net_bind_service=+ep "$CTX/out/turnkey"
getcap "$CTX/out/turnkey" | grep -q cap_net_bind_service
mkdir -p "$CTX/out/var/lib/turnkey"
chown 65532:65532 "$CTX/out/var/lib/turnkey"
chmod 0700 "$CTX/out/var/lib/turnkey"

# The final stage, verbatim but for its base and the stage it copies from.
awk '/^FROM gcr\.io\/distroless\/static-debian12:nonroot$/ {final=1; print "FROM scratch"; next} final' \
	"$ROOT/deploy/docker/Dockerfile" | sed 's# --from=caps\(.*\) /out/# \1 out/#; s#  *# #g' >"$CTX/Containerfile"
if ! grep -q '^FROM scratch$' "$CTX/Containerfile"; then
	echo "ci-image.sh: no distroless final stage found in deploy/docker/Dockerfile" >&2
	exit 1
fi
podman build --quiet --build-arg "VERSION=${VERSION}" -f "$CTX/Containerfile" -t "$TAG" "$CTX" >/dev/null
echo "$TAG"
