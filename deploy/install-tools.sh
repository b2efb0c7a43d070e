#!/usr/bin/env bash
# Installs the tools deploy/deploy_test.go needs, if missing:
#   promtool  - Debian package "prometheus" (the service is not started)
#   helm      - built from the Go module proxy into $(go env GOPATH)/bin
# Idempotent: does nothing when both are already there. Used by CI:
#   bash deploy/install-tools.sh
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-v3.19.0}"
# helm's Makefile stamps the version and the default Kubernetes version
# (used by `helm template` for .Capabilities and Chart.yaml kubeVersion);
# a plain `go install` would report Kubernetes v1.20.
HELM_K8S_MAJOR="${HELM_K8S_MAJOR:-1}"
HELM_K8S_MINOR="${HELM_K8S_MINOR:-34}"

log() { printf 'install-tools: %s\n' "$*" >&2; }

if command -v promtool >/dev/null 2>&1; then
  log "promtool present: $(promtool --version 2>&1 | head -n1)"
else
  log "installing promtool (apt package prometheus)"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  # policy-rc.d keeps the package's postinst from starting a Prometheus server.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod 0755 /usr/sbin/policy-rc.d
    trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  $SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  log "installed: $(promtool --version 2>&1 | head -n1)"
fi

GOBIN_DIR="$(go env GOBIN)"
if [ -z "$GOBIN_DIR" ]; then GOBIN_DIR="$(go env GOPATH)/bin"; fi
if command -v helm >/dev/null 2>&1; then
  log "helm present on PATH: $(helm version --short 2>/dev/null || true)"
elif [ -x "$GOBIN_DIR/helm" ]; then
  log "helm present in $GOBIN_DIR: $("$GOBIN_DIR/helm" version --short 2>/dev/null || true)"
else
  log "building helm $HELM_VERSION with $(go version) (takes a few minutes)"
  # Outside any module, so the project's go.mod is untouched.
  (cd / && GOFLAGS=-mod=mod CGO_ENABLED=0 go install -trimpath \
    -ldflags "-s -w \
      -X helm.sh/helm/v3/internal/version.version=${HELM_VERSION} \
      -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=${HELM_K8S_MAJOR} \
      -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=${HELM_K8S_MINOR} \
      -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=${HELM_K8S_MAJOR} \
      -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=${HELM_K8S_MINOR}" \
    "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}")
  log "installed: $("$GOBIN_DIR/helm" version --short)"
fi
