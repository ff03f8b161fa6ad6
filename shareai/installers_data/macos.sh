#!/bin/sh
# shareai node agent installer for macOS (launchd).
#
#   curl -fsSL http://COORDINATOR:8080/install.sh | sh -s -- --token TOKEN
#   sh install.sh --token-file FILE --coordinator HOST:50051 --source CHECKOUT|WHEEL [options]
#   sh install.sh --uninstall [--purge]
#
# The agent installed is the serving coordinator's own wheel (its version), downloaded from it and
# checked against the SHA-256 this script carries before anything is created; --source overrides.
# llama-cpp-python compiles from source unless --llama-wheel-index names a prebuilt build; the build
# tools are checked first. The token reaches `shareai-agent enroll` through its environment, never
# argv; --token-file (or $SHAREAI_ENROLL_TOKEN) keeps it off this script's command line too.
#
# By default the agent is a LaunchAgent of the logged-in user (~/.shareai), so idle-time mode
# sees the owner's session and hands the machine back when they return. `--system` installs a
# LaunchDaemon instead (sudo; /usr/local/shareai), running as --user at boot, with no session.
# Running it again upgrades in place and keeps the enrollment.
#
# TLS to the coordinator: --tls, with --tls-ca for a private CA. The choice is kept in the data dir
# (`install-tls`, the CA copied to `tls-ca.pem`), so a re-run without the flags keeps it and the job
# runs `shareai-agent run --tls [--tls-ca ...]`; --no-tls drops it.
set -eu

# Filled in by the coordinator that serves this script (GET /install.sh); empty in the repository.
SHAREAI_COORDINATOR=""
# Filled in by that coordinator too: its HTTP address, and the agent wheel it serves (its own
# version) with the wheel's SHA-256, checked before anything is installed. Empty in the repository.
SHAREAI_URL=""
SHAREAI_WHEEL=""
SHAREAI_WHEEL_SHA256=""
# Filled in with "1" by a coordinator that serves gRPC over TLS; empty in the repository.
SHAREAI_TLS=""

LABEL="ai.shareai.agent"
SYSTEM=0
PREFIX=""
DATA_DIR=""
RUN_USER=""
SOURCE=""
LLAMA_INDEX=""
TOKEN_FILE=""
PROGRESS_S="${SHAREAI_PROGRESS_S:-15}"
WORK=""
PYTHON=""
# The token may come from the environment: unlike argv, `ps` does not show it to other users.
TOKEN="${SHAREAI_ENROLL_TOKEN:-}"
NAME=""
CONFIG=""
MODEL=""
MODEL_NAME=""
CHAT_FORMAT=""
PIP_ARGS=""
ACTION="install"
PURGE=0
TLS=""
TLS_CA=""
CREATED_VENV=0
LOAD=1

usage() {
    cat <<'EOF'
Usage: install.sh [options]
  --token TOKEN          enrollment token (shareai-coordinator token create --org ORG); other users
                         see it in `ps` while this runs: prefer --token-file or $SHAREAI_ENROLL_TOKEN
  --token-file PATH      read the enrollment token from a file
  --coordinator H:P      the coordinator's gRPC address (default: the coordinator that served this script)
  --name NAME            node name shown in the fleet (default: the hostname)
  --tls                  the coordinator serves gRPC over TLS (default when the coordinator that
                         served this script does; a re-run keeps the choice)
  --tls-ca PATH          CA bundle for a coordinator certificate from a private CA (implies --tls)
  --no-tls               plaintext gRPC; forgets a TLS choice kept from an earlier run
  --system               LaunchDaemon at boot (needs sudo) instead of the user's LaunchAgent
  --user NAME            with --system: the account the daemon runs as (default: $SUDO_USER)
  --prefix DIR           virtualenv location (default ~/.shareai/venv, /usr/local/shareai with --system)
  --data-dir DIR         agent state (default ~/.shareai/data, /usr/local/var/shareai with --system)
  --source SPEC          install this instead of the coordinator's own agent wheel: a pip
                         requirement, a local checkout or a wheel (the agent extra is added)
  --llama-wheel-index U  take a prebuilt llama-cpp-python instead of compiling it: an index URL, or
                         cpu, metal, cu121, cu122, cu123, cu124 (abetlen.github.io/llama-cpp-python/whl/...)
  --python PATH          Python 3.11+ interpreter (e.g. from 'brew install python@3.12')
  --pip-args ARGS        extra arguments for pip install
  --model PATH           GGUF model to serve (with --model-name and --chat-format)
  --model-name NAME      public model name clients use
  --chat-format FMT      chat format where the GGUF has no template (e.g. gemma)
  --config FILE          agent TOML config passed to 'shareai-agent run'
  --no-load              write the plist but do not load it into launchd
  --print-plist          print the launchd plist this would write, and exit
  --uninstall            unload and remove the plist and the virtualenv (keeps the data dir)
  --purge                with --uninstall: also remove the data dir
EOF
}

say() { printf 'shareai: %s\n' "$*"; }
die() { printf 'shareai: error: %s\n' "$*" >&2; exit 1; }
need_value() {
    if [ "$#" -lt 2 ] || [ -z "$2" ]; then die "$1 needs a value (see --help)"; fi
}

while [ "$#" -gt 0 ]; do
    case "$1" in
        --token) need_value "$@"; TOKEN=$2; shift 2 ;;
        --token-file) need_value "$@"; TOKEN_FILE=$2; shift 2 ;;
        --llama-wheel-index) need_value "$@"; LLAMA_INDEX=$2; shift 2 ;;
        --coordinator) need_value "$@"; SHAREAI_COORDINATOR=$2; shift 2 ;;
        --name) need_value "$@"; NAME=$2; shift 2 ;;
        --tls) TLS=1; shift ;;
        --tls-ca) need_value "$@"; TLS=1; TLS_CA=$2; shift 2 ;;
        --no-tls) TLS=0; TLS_CA=""; shift ;;
        --system) SYSTEM=1; shift ;;
        --user) need_value "$@"; RUN_USER=$2; shift 2 ;;
        --prefix) need_value "$@"; PREFIX=$2; shift 2 ;;
        --data-dir) need_value "$@"; DATA_DIR=$2; shift 2 ;;
        --source) need_value "$@"; SOURCE=$2; shift 2 ;;
        --python) need_value "$@"; PYTHON=$2; shift 2 ;;
        --pip-args) need_value "$@"; PIP_ARGS=$2; shift 2 ;;
        --model) need_value "$@"; MODEL=$2; shift 2 ;;
        --model-name) need_value "$@"; MODEL_NAME=$2; shift 2 ;;
        --chat-format) need_value "$@"; CHAT_FORMAT=$2; shift 2 ;;
        --config) need_value "$@"; CONFIG=$2; shift 2 ;;
        --no-load) LOAD=0; shift ;;
        --print-plist) ACTION="print-plist"; shift ;;
        --uninstall) ACTION="uninstall"; shift ;;
        --purge) PURGE=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown option: $1" ;;
    esac
done

if [ -n "$TOKEN_FILE" ]; then
    [ -r "$TOKEN_FILE" ] || die "--token-file $TOKEN_FILE: cannot read it"
    TOKEN=$(tr -d ' \t\r\n' < "$TOKEN_FILE")
    [ -n "$TOKEN" ] || die "--token-file $TOKEN_FILE is empty"
fi
case "$LLAMA_INDEX" in
    "" | http://* | https://* | file://*) ;;
    cpu | metal | cu121 | cu122 | cu123 | cu124 | cu125) LLAMA_INDEX="https://abetlen.github.io/llama-cpp-python/whl/$LLAMA_INDEX" ;;
    *) die "--llama-wheel-index: an index URL, or one of cpu, metal, cu121, cu122, cu123, cu124" ;;
esac

absolute() {
    case "$1" in
        /*) printf '%s' "$1" ;;
        *) printf '%s/%s' "$(pwd)" "$1" ;;
    esac
}

if [ "$SYSTEM" -eq 1 ]; then
    : "${PREFIX:=/usr/local/shareai}" "${DATA_DIR:=/usr/local/var/shareai}" "${RUN_USER:=${SUDO_USER:-}}"
    PLIST_DIR="/Library/LaunchDaemons"
    LOG_FILE="/Library/Logs/shareai-agent.log"
    DOMAIN="system"
else
    : "${PREFIX:=$HOME/.shareai/venv}" "${DATA_DIR:=$HOME/.shareai/data}"
    PLIST_DIR="$HOME/Library/LaunchAgents"
    LOG_FILE="$HOME/Library/Logs/shareai-agent.log"
    DOMAIN="gui/$(id -u)"
fi
PLIST_DIR="${SHAREAI_LAUNCHD_DIR:-$PLIST_DIR}"
PREFIX=$(absolute "$PREFIX")
DATA_DIR=$(absolute "$DATA_DIR")
[ -z "$CONFIG" ] || CONFIG=$(absolute "$CONFIG")
[ -z "$MODEL" ] || MODEL=$(absolute "$MODEL")
[ -z "$TLS_CA" ] || TLS_CA=$(absolute "$TLS_CA")
AGENT="$PREFIX/bin/shareai-agent"

# TLS: an explicit flag wins; otherwise the choice kept in the data dir, or the serving coordinator's.
TLS_STATE="$DATA_DIR/install-tls"
TLS_CA_COPY="$DATA_DIR/tls-ca.pem"
if [ -z "$TLS" ]; then
    if [ -f "$TLS_STATE" ] || [ "$SHAREAI_TLS" = "1" ]; then TLS=1; else TLS=0; fi
fi
# The CA the service reads: the copy in the data dir (the service's user may not read the original).
RUN_TLS_CA=""
if [ "$TLS" = "1" ] && { [ -n "$TLS_CA" ] || [ -f "$TLS_CA_COPY" ]; }; then RUN_TLS_CA="$TLS_CA_COPY"; fi
PLIST="$PLIST_DIR/$LABEL.plist"

xml() { printf '%s' "$1" | sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g' -e 's/"/\&quot;/g'; }
string() { printf '        <string>%s</string>\n' "$(xml "$1")"; }

print_plist() {
    cat <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<!-- Written by the shareai installer; a second run of the installer rewrites it. -->
<plist version="1.0">
<dict>
    <key>Label</key>
    <string>$LABEL</string>
    <key>ProgramArguments</key>
    <array>
EOF
    string "$AGENT"
    string run
    string --data-dir
    string "$DATA_DIR"
    if [ -n "$CONFIG" ]; then string --config; string "$CONFIG"; fi
    if [ -n "$MODEL" ]; then string --model; string "$MODEL"; fi
    if [ -n "$MODEL_NAME" ]; then string --model-name; string "$MODEL_NAME"; fi
    if [ -n "$CHAT_FORMAT" ]; then string --chat-format; string "$CHAT_FORMAT"; fi
    if [ "$TLS" = "1" ]; then string --tls; fi
    if [ -n "$RUN_TLS_CA" ]; then string --tls-ca; string "$RUN_TLS_CA"; fi
    cat <<EOF
    </array>
    <key>WorkingDirectory</key>
    <string>$(xml "$DATA_DIR")</string>
    <key>EnvironmentVariables</key>
    <dict>
        <key>PYTHONUNBUFFERED</key>
        <string>1</string>
    </dict>
    <key>RunAtLoad</key>
    <true/>
    <!-- Restart after a crash or a non-zero exit, not after a clean stop. -->
    <key>KeepAlive</key>
    <dict>
        <key>SuccessfulExit</key>
        <false/>
    </dict>
    <key>ThrottleInterval</key>
    <integer>10</integer>
    <key>ProcessType</key>
    <string>Background</string>
    <key>StandardOutPath</key>
    <string>$(xml "$LOG_FILE")</string>
    <key>StandardErrorPath</key>
    <string>$(xml "$LOG_FILE")</string>
EOF
    if [ "$SYSTEM" -eq 1 ] && [ -n "$RUN_USER" ]; then
        printf '    <key>UserName</key>\n    <string>%s</string>\n' "$(xml "$RUN_USER")"
    fi
    printf '</dict>\n</plist>\n'
}

find_python() {
    if [ -n "$PYTHON" ]; then
        printf '%s' "$PYTHON"
        return
    fi
    for candidate in python3.13 python3.12 python3.11 /opt/homebrew/bin/python3 /usr/local/bin/python3 python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            command -v "$candidate"
            return
        fi
    done
}

# --- the agent to install: the coordinator's wheel (hash checked) or --source ----------------------

download() {
    if command -v curl >/dev/null 2>&1; then
        curl -fsSL --max-time 300 "$1" -o "$2"
    elif command -v wget >/dev/null 2>&1; then
        wget -q -T 300 -O "$2" "$1"
    else
        die "curl or wget is needed to download the agent"
    fi
}

sha256_of() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum "$1" | cut -d' ' -f1
    elif command -v shasum >/dev/null 2>&1; then
        shasum -a 256 "$1" | cut -d' ' -f1
    else
        "$PY" -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$1"
    fi
}

# Sets SPEC (what pip installs) and EXACT (a wheel to pin with --force-reinstall --no-deps).
resolve_source() {
    EXACT=""
    if [ -n "$SOURCE" ]; then
        SPEC=$(pip_spec)
        return
    fi
    if [ -z "$SHAREAI_WHEEL" ] || [ -z "$SHAREAI_URL" ]; then
        die "no agent to install: fetch this script from your coordinator (curl -fsSL http://COORDINATOR:8080/install.sh | sh -s -- ...) or pass --source CHECKOUT|WHEEL|REQUIREMENT"
    fi
    wheel="$WORK/$SHAREAI_WHEEL"
    say "downloading the agent $SHAREAI_WHEEL from $SHAREAI_URL"
    download "$SHAREAI_URL/install/$SHAREAI_WHEEL" "$wheel" || die "cannot download $SHAREAI_URL/install/$SHAREAI_WHEEL"
    got=$(sha256_of "$wheel")
    if [ "$got" != "$SHAREAI_WHEEL_SHA256" ]; then
        rm -f "$wheel"
        die "refusing $SHAREAI_WHEEL: its SHA-256 is $got but the coordinator's script expects $SHAREAI_WHEEL_SHA256 (corrupted or tampered with); nothing was installed"
    fi
    say "verified $SHAREAI_WHEEL (sha256 $got)"
    SPEC="${wheel}[agent]"
    EXACT=$wheel
}

# --- llama-cpp-python: a prebuilt wheel from --llama-wheel-index, or a source build that needs tools

llama_present() { [ -x "$PREFIX/bin/python" ] && "$PREFIX/bin/python" -c 'import llama_cpp' >/dev/null 2>&1; }
binary_only() {
    case ",${PIP_ONLY_BINARY:-}," in
        *,:all:,* | *,llama-cpp-python,* | *,llama_cpp_python,*) return 0 ;;
    esac
    return 1
}

check_build_tools() {
    if [ -n "$LLAMA_INDEX" ] || llama_present || binary_only; then return 0; fi
    missing=$(missing_build_tools)
    [ -z "$missing" ] || die "building llama-cpp-python needs$missing: $BUILD_TOOLS_HINT (or pass --llama-wheel-index for a prebuilt build)"
    if command -v nvidia-smi >/dev/null 2>&1; then
        say "an NVIDIA GPU is present but this source build is CPU-only: re-run with --llama-wheel-index cu124 (your CUDA version) for a CUDA build"
    fi
    say "llama-cpp-python compiles from source: several minutes (progress below; --llama-wheel-index skips it)"
}

# pip with its output in a log: milestones are echoed as they come, and while a long step (the
# llama.cpp compile) prints nothing, a line every PROGRESS_S seconds says it is still going.
run_pip() {
    log="$WORK/pip.log"
    : > "$log"
    "$PREFIX/bin/python" -m pip "$@" > "$log" 2>&1 &
    pid=$!
    shown=0
    quiet=0
    elapsed=0
    while kill -0 "$pid" 2>/dev/null; do
        sleep 1
        elapsed=$((elapsed + 1))
        quiet=$((quiet + 1))
        lines=$(($(wc -l < "$log")))
        if [ "$lines" -gt "$shown" ]; then
            sed -n "$((shown + 1)),${lines}p" "$log" |
                sed -n -e '/^Collecting /p' -e '/^Building wheel/p' -e '/^Successfully /p' -e '/^Installing collected/p' |
                sed 's/^/shareai: pip: /'
            shown=$lines
        fi
        if [ "$quiet" -ge "$PROGRESS_S" ]; then
            say "still installing (${elapsed}s): $(tail -n 1 "$log" | cut -c1-100)"
            quiet=0
        fi
    done
    status=0
    wait "$pid" || status=$?
    sed -n "$((shown + 1)),\$p" "$log" | sed -n -e '/^Collecting /p' -e '/^Building wheel/p' \
        -e '/^Successfully /p' -e '/^Installing collected/p' | sed 's/^/shareai: pip: /'
    if [ "$status" -ne 0 ]; then tail -n 40 "$log" >&2; fi
    return "$status"
}

pip_install() {
    llama_args=""
    [ -z "$LLAMA_INDEX" ] || llama_args="--extra-index-url $LLAMA_INDEX --only-binary llama-cpp-python"
    # PIP_ARGS and llama_args are lists of words on purpose.
    # shellcheck disable=SC2086
    run_pip install --disable-pip-version-check --upgrade $PIP_ARGS $llama_args "$SPEC" || return 1
    # The same version number may carry other bytes (a coordinator rebuilt from a checkout): pin them.
    if [ -n "$EXACT" ]; then
        run_pip install --disable-pip-version-check --force-reinstall --no-deps "$EXACT" || return 1
    fi
}

BUILD_TOOLS_HINT="xcode-select --install"
# cmake is not needed here: llama-cpp-python's build backend fetches it from PyPI when absent.
missing_build_tools() {
    if ! xcode-select -p >/dev/null 2>&1 || ! command -v clang >/dev/null 2>&1; then
        printf ' the Xcode Command Line Tools'
    fi
}

pip_spec() {
    case "$SOURCE" in
        *'['*) printf '%s' "$SOURCE" ;;
        *.whl) printf '%s[agent]' "$(absolute "$SOURCE")" ;;
        *) if [ -d "$SOURCE" ]; then printf '%s[agent]' "$(absolute "$SOURCE")"; else printf '%s' "$SOURCE"; fi ;;
    esac
}

install_venv() {
    PY=$(find_python)
    [ -n "$PY" ] || die "Python 3.11 or newer is required (the system python3 is older): brew install python@3.12, or pass --python"
    "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || die "$PY is older than Python 3.11"
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/shareai-install.XXXXXX")
    # Everything that can refuse runs before the virtualenv exists: nothing is left half-installed.
    resolve_source
    check_build_tools
    py=$PY
    if [ ! -x "$PREFIX/bin/python" ]; then
        mkdir -p "$(dirname "$PREFIX")"
        "$py" -m venv "$PREFIX" || die "cannot create a virtualenv with $py"
        CREATED_VENV=1
        say "created virtualenv $PREFIX"
    fi
    say "installing $SPEC into $PREFIX (llama.cpp uses Metal on Apple silicon)"
    if ! pip_install; then
        # A virtualenv this run created and pip could not fill is removed, not left half-installed.
        if [ "$CREATED_VENV" = 1 ]; then rm -rf "$PREFIX"; fi
        die "pip install failed (see above)"
    fi
    [ -x "$AGENT" ] || die "$AGENT is missing after the install"
}

has_identity() { [ -f "$DATA_DIR/identity.json" ]; }

# Keep the TLS choice (and a copy of the CA) with the enrollment, for the service and later runs.
save_tls() {
    if [ "$TLS" != "1" ]; then
        rm -f "$TLS_STATE" "$TLS_CA_COPY"
        return
    fi
    if [ -n "$TLS_CA" ] && [ "$TLS_CA" != "$TLS_CA_COPY" ]; then
        cp "$TLS_CA" "$TLS_CA_COPY.tmp"
        chmod 0644 "$TLS_CA_COPY.tmp"
        mv "$TLS_CA_COPY.tmp" "$TLS_CA_COPY"
    fi
    printf '# Written by the shareai installer: the agent reaches its coordinator over TLS.\n' > "$TLS_STATE"
}

enroll() {
    tls_note=""
    [ "$TLS" != "1" ] || tls_note=" --tls"
    [ -z "$RUN_TLS_CA" ] || tls_note="$tls_note --tls-ca $RUN_TLS_CA"
    if [ -z "$TOKEN" ]; then
        if has_identity; then
            say "no --token: keeping the existing enrollment in $DATA_DIR"
        else
            say "no --token: not enrolled yet; later run: $AGENT enroll --token-file FILE --coordinator HOST:50051 --data-dir $DATA_DIR$tls_note"
        fi
        return
    fi
    [ -n "$SHAREAI_COORDINATOR" ] || die "--coordinator HOST:PORT is needed with --token"
    over=""
    [ "$TLS" != "1" ] || over=" over TLS"
    say "enrolling with $SHAREAI_COORDINATOR$over"
    set -- enroll --coordinator "$SHAREAI_COORDINATOR" --data-dir "$DATA_DIR"
    [ -z "$NAME" ] || set -- "$@" --name "$NAME"
    if [ "$TLS" = "1" ]; then
        set -- "$@" --tls
        # The CA given now (root may read what the service user cannot), else the kept copy.
        ca="${TLS_CA:-$RUN_TLS_CA}"
        [ -z "$ca" ] || set -- "$@" --tls-ca "$ca"
    fi
    status=0
    # The token goes through the environment, never argv: `ps` shows argv to every user.
    SHAREAI_ENROLL_TOKEN=$TOKEN "$AGENT" "$@" || status=$?
    case "$status" in
        0) say "enrolled" ;;
        2) die "enrollment refused (exit 2): the token is wrong, expired or used up; create one with 'shareai-coordinator token create'" ;;
        *) die "enrollment failed (exit $status): is the coordinator reachable at $SHAREAI_COORDINATOR$over? (--tls, --tls-ca or --no-tls)" ;;
    esac
}

is_venv() { [ -f "$1/pyvenv.cfg" ]; }

unload() { launchctl bootout "$DOMAIN/$LABEL" >/dev/null 2>&1 || true; }

install_plist() {
    mkdir -p "$PLIST_DIR" "$(dirname "$LOG_FILE")"
    print_plist > "$PLIST.tmp"
    chmod 0644 "$PLIST.tmp"
    mv "$PLIST.tmp" "$PLIST"
    if [ "$LOAD" -eq 0 ] || ! command -v launchctl >/dev/null 2>&1; then
        say "wrote $PLIST; load it with: launchctl bootstrap $DOMAIN $PLIST"
        return
    fi
    unload  # a second run is an upgrade: reload with the new plist and code
    launchctl bootstrap "$DOMAIN" "$PLIST"
    launchctl enable "$DOMAIN/$LABEL"
    say "launchd job $LABEL loaded (logs: $LOG_FILE)"
}

uninstall() {
    if [ -f "$PLIST" ]; then
        if command -v launchctl >/dev/null 2>&1; then unload; fi
        rm -f "$PLIST"
        say "removed $PLIST"
    fi
    if [ -d "$PREFIX" ]; then
        is_venv "$PREFIX" || die "$PREFIX is not a virtualenv; refusing to delete it"
        rm -rf "$PREFIX"
        say "removed $PREFIX"
    fi
    if [ "$PURGE" -eq 1 ]; then
        rm -rf "$DATA_DIR"
        say "removed $DATA_DIR"
    else
        say "kept $DATA_DIR (the node's identity); --purge removes it"
    fi
}

main() {
    case "$ACTION" in
        print-plist) print_plist; return ;;
        uninstall) uninstall; return ;;
    esac
    if [ "$SYSTEM" -eq 1 ]; then
        [ "$(id -u)" -eq 0 ] || die "--system installs a LaunchDaemon: run with sudo"
        if [ -z "$RUN_USER" ] || [ "$RUN_USER" = "root" ]; then
            die "--system needs --user NAME (an account that is not root)"
        fi
    fi
    if [ -n "$(ls -A "$PREFIX" 2>/dev/null)" ] && ! is_venv "$PREFIX"; then
        die "$PREFIX exists and is not a virtualenv; choose another --prefix"
    fi
    if [ -n "$TLS_CA" ] && [ ! -f "$TLS_CA" ]; then die "--tls-ca $TLS_CA: no such file"; fi
    install_venv
    mkdir -p "$DATA_DIR"
    chmod 0700 "$DATA_DIR"
    enroll
    save_tls
    if [ "$SYSTEM" -eq 1 ]; then
        chown -R "$RUN_USER" "$DATA_DIR"
    fi
    install_plist
}

cleanup() { if [ -n "$WORK" ]; then rm -rf "$WORK"; fi; }
trap cleanup EXIT
trap 'exit 1' INT TERM
main
