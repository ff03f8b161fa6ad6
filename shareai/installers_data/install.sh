#!/bin/sh
# Point-and-enroll: the coordinator serves this script at GET /install.sh with its own addresses
# filled in, so one command enrolls a Linux or macOS machine:
#
#   curl -fsSL http://COORDINATOR:8080/install.sh | sudo sh -s -- --token TOKEN    # Linux (systemd)
#   curl -fsSL http://COORDINATOR:8080/install.sh | sh -s -- --token TOKEN         # macOS (LaunchAgent)
#
# It picks the platform installer, fetches it from the same coordinator (also filled in), and
# runs it with every argument given here (see its --help). A coordinator that serves gRPC over
# TLS serves platform installers that default to --tls (add --tls-ca PATH for a private CA).
set -eu

# Filled in by the coordinator that serves this script; empty in the repository.
SHAREAI_URL=""

die() { printf 'shareai: error: %s\n' "$*" >&2; exit 1; }

[ -n "$SHAREAI_URL" ] || die "fetch this script from a coordinator: curl -fsSL http://COORDINATOR:8080/install.sh"
case "$(uname -s)" in
    Linux) platform="ubuntu" ;;
    Darwin) platform="macos" ;;
    *) die "unsupported system $(uname -s); on Windows use install.ps1 (see $SHAREAI_URL/install.ps1)" ;;
esac

script=$(mktemp "${TMPDIR:-/tmp}/shareai-install.XXXXXX")
trap 'rm -f "$script"' EXIT INT TERM
if command -v curl >/dev/null 2>&1; then
    curl -fsSL --max-time 60 "$SHAREAI_URL/install/$platform.sh" -o "$script" || die "cannot download $SHAREAI_URL/install/$platform.sh"
elif command -v wget >/dev/null 2>&1; then
    wget -q -T 60 -O "$script" "$SHAREAI_URL/install/$platform.sh" || die "cannot download $SHAREAI_URL/install/$platform.sh"
else
    die "curl or wget is needed"
fi
# The platform script already carries the coordinator's address; --coordinator still overrides it.
sh "$script" "$@"
