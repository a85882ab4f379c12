#!/usr/bin/env bash
# The container image, end to end, on this machine (Debian, as root), with nothing leaving
# 127.0.0.1 at run time:
#   - installs docker.io and debootstrap if missing, starts dockerd if none is running
#     (--bridge=none --iptables=false; stopped again on exit);
#   - builds a Debian base offline of any registry (debootstrap + docker import), cached as
#     syncer-base:test, then the image from this checkout's Containerfile (its dependencies
#     from requirements.lock, hashes required) and checks its OCI labels;
#   - (a) `syncer demo` in the image;
#   - (b) the daemon in the image against the fake Intercom and fake Collector on the host:
#     /healthz answers 200, the image's HEALTHCHECK says healthy, goals arrive, `docker stop`
#     returns within 10 s with exit status 0, and the state on the volume says what arrived;
#     stopped during its start-up (the syncer as PID 1) it returns within 10 s too; with no
#     [metrics] in its config, the HEALTHCHECK says healthy from the state database;
#   - (c) with $SYNCER_TEST_POSTGRES (as .ci/run sets it): two daemons in the image on one
#     PostgreSQL database, as on Kubernetes: one active, the other's /healthz says standby;
#     `docker stop` of the active one and the standby takes over, nothing delivered twice.
# Every container runs with --network host, a read-only root, no capabilities, as uid 10001.
# One line per step, then `container: N passed, M failed`; exit status 1 on any failure.
#
# Environment: SYNCER_BASE_IMAGE (default syncer-base:test; an existing image is used as
# it is), DEBIAN_MIRROR (default: the host's apt sources), SYNCER_CONTAINER_CLEAN=all (also
# remove the base image and the builder stage's cached layers at the end).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD

BASE_IMAGE=${SYNCER_BASE_IMAGE:-syncer-base:test}
IMAGE=syncer:container-test
DAEMON=syncer-container-test-daemon
EARLY=syncer-container-test-early
QUIET=syncer-container-test-no-metrics
VOLUME=syncer-container-test-state
PG_A=syncer-container-test-pg-a
PG_B=syncer-container-test-pg-b
PG_DATABASE=syncer_container_test
POSTGRES=${SYNCER_TEST_POSTGRES:-}
pg_ready=""
PYTHON=${PYTHON:-python3}

passed=0
failed=0
current=""
step_started=0
work=$(mktemp -d /tmp/syncer-container.XXXXXX)
chmod 755 "$work" # the container's user reads the config mounted from here
fakes_pid=""
slow_fakes_pid=""
dockerd_pid=""
declare -A figures=()

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

begin() {
    current=$1
    step_started=$(now)
}
pass() {
    passed=$((passed + 1))
    printf 'ok    %-58s %6ss%s\n' "$current" "$(elapsed "$step_started")" "${1:+  ($1)}"
    current=""
}

cleanup() {
    local status=$?
    set +e
    if [ -n "$current" ]; then
        failed=$((failed + 1))
        printf 'FAIL  %s\n' "$current"
        for log in "$work"/*.log; do
            [ -s "$log" ] && { echo "--- $(basename "$log") (last 20 lines)"; tail -n 20 "$log"; }
        done
    fi
    for pid in $fakes_pid $slow_fakes_pid; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
    if docker info >/dev/null 2>&1; then
        docker rm -f -v "$DAEMON" "$EARLY" "$QUIET" "$PG_A" "$PG_B" >/dev/null 2>&1
        [ -z "$pg_ready" ] || postgres_sql "DROP DATABASE IF EXISTS $PG_DATABASE WITH (FORCE)"
        docker volume rm -f "$VOLUME" >/dev/null 2>&1
        docker rmi -f "$IMAGE" >/dev/null 2>&1
        if [ "${SYNCER_CONTAINER_CLEAN:-}" = all ]; then
            docker image prune -f --filter label=io.absmartly.syncer.stage=builder >/dev/null
            docker rmi -f "$BASE_IMAGE" >/dev/null 2>&1
        fi
    fi
    if [ -n "$dockerd_pid" ]; then
        kill "$dockerd_pid" 2>/dev/null
        for _ in $(seq 1 100); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -rf "$work"
    for name in "${!figures[@]}"; do printf 'figure %s: %s\n' "$name" "${figures[$name]}"; done |
        sort
    [ "$status" -ne 0 ] && [ "$failed" -eq 0 ] && failed=1
    echo "container: $passed passed, $failed failed"
    [ "$failed" -eq 0 ] || exit 1
    exit 0
}
trap cleanup EXIT

# Polls `$@` (a command) every 0.2 s until it succeeds or `deadline` seconds pass.
wait_for() {
    local deadline=$1
    shift
    local until_=$(($(date +%s) + deadline))
    until "$@"; do
        [ "$(date +%s)" -lt "$until_" ] || return 1
        sleep 0.2
    done
}

http_ok() {
    "$PYTHON" -c 'import sys, urllib.request as u
try:
    sys.exit(u.urlopen(sys.argv[1], timeout=2).status != 200)
except Exception:
    sys.exit(1)' "$1"
}

healthz_says() { # $1: URL; $2: the body /healthz must answer with status 200
    "$PYTHON" -c 'import sys, urllib.request as u
try:
    with u.urlopen(sys.argv[1], timeout=2) as answer:
        sys.exit(answer.status != 200 or answer.read().decode().strip() != sys.argv[2])
except Exception:
    sys.exit(1)' "$1" "$2"
}

postgres_sql() { # one statement on $SYNCER_TEST_POSTGRES's server, with the image's psycopg
    docker run --rm --network host --entrypoint python3 "$IMAGE" -c 'import sys, psycopg
with psycopg.connect(sys.argv[1], autocommit=True) as conn:
    conn.execute(sys.argv[2])' "${POSTGRES/+psycopg/}" "$1" >/dev/null
}

# docker stop $1, asserting it returns within 10 s and the container exits 0 after SIGTERM.
stop_within_10s() {
    local stop_started seconds code
    stop_started=$(now)
    docker stop -t 30 "$1" >/dev/null
    seconds=$(elapsed "$stop_started")
    docker logs "$1" >"$work/$1.log" 2>&1
    code=$(docker inspect -f '{{.State.ExitCode}}' "$1")
    echo "docker stop $1: $seconds s, exit status $code" >>"$work/$1.log"
    awk -v s="$seconds" 'BEGIN { exit !(s < 10) }' && [ "$code" = 0 ] &&
        grep -q 'SIGTERM received' "$work/$1.log" && stopped_in=$seconds
}

received() { # the fake Collector's count of accepted goals (or distinct ones)
    "$PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' \
        "$work/received.json" "${1:-goals}" 2>/dev/null || echo 0
}

# The hardening the Kubernetes manifests ask for, here too.
hardened=(--network host --read-only --tmpfs /tmp --cap-drop ALL
    --security-opt no-new-privileges)

# -- the tools -----------------------------------------------------------------------------
begin "docker and debootstrap installed"
missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if [ ${#missing[@]} -gt 0 ]; then
    apt-get -o DPkg::Lock::Timeout=300 update -qq >"$work/apt.log" 2>&1
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
        "${missing[@]}" >>"$work/apt.log" 2>&1
fi
pass "${missing[*]:+installed ${missing[*]}}"

begin "dockerd running"
if ! docker info >/dev/null 2>&1; then
    dockerd --bridge=none --iptables=false >"$work/dockerd.log" 2>&1 &
    dockerd_pid=$!
    wait_for 60 docker info >/dev/null 2>&1
fi
pass "${dockerd_pid:+started, pid $dockerd_pid}"

# Leftovers of a run that was killed: same names, so this run starts clean.
docker rm -f -v "$DAEMON" "$EARLY" "$PG_A" "$PG_B" >/dev/null 2>&1 || true
docker volume rm -f "$VOLUME" >/dev/null 2>&1 || true

# -- the images ----------------------------------------------------------------------------
begin "base image $BASE_IMAGE"
if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    pass "cached"
else
    mirror=${DEBIAN_MIRROR:-$(
        "$PYTHON" - <<'EOF'
# The first Debian archive (not -security) among the host's apt sources, one-line or deb822.
import glob, re
for path in ["/etc/apt/sources.list", *sorted(glob.glob("/etc/apt/sources.list.d/*"))]:
    try:
        text = open(path, encoding="utf-8").read()
    except OSError:
        continue
    uris = re.findall(r"^\s*deb\s+(?:\[[^]]*\]\s+)?(\S+)\s", text, re.M)
    uris += [u for line in re.findall(r"^URIs:(.*)$", text, re.M) for u in line.split()]
    for uri in uris:
        if re.search(r"/debian/?$", uri):
            print(uri)
            raise SystemExit
print("http://deb.debian.org/debian")
EOF
    )}
    rootfs="$work/rootfs"
    timeout 900 debootstrap --variant=minbase \
        --include=python3,python3-venv,python3-pip,ca-certificates \
        bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1
    # What an image does not need: downloaded packages, package lists, documentation.
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
        "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/*
    tar -C "$rootfs" -c . | docker import - "$BASE_IMAGE" >/dev/null
    rm -rf "$rootfs"
    pass "debootstrap from $mirror"
fi

begin "image builds from the Containerfile"
# pip in the build reaches PyPI as the host does: its index settings (not file:// ones,
# which the build cannot see), its proxies, and the CAs this host added to its trust store.
build_args=(--build-arg "BASE=$BASE_IMAGE")
# The OCI labels: the version pyproject.toml says, the checkout's commit, where it came from.
version=$("$PYTHON" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
revision=$(git -C "$repo" rev-parse HEAD 2>/dev/null || echo unknown)
build_args+=(--build-arg "VERSION=$version" --build-arg "REVISION=$revision")
build_args+=(--build-arg "SOURCE=$(git -C "$repo" remote get-url origin 2>/dev/null || echo "file://$repo")")
pip_setting() { # $1: PIP_* variable, $2: pip config key; the value without file:// URLs
    local value=${!1:-}
    [ -n "$value" ] || value=$("$PYTHON" -m pip config get "$2" 2>/dev/null || true)
    tr ' ' '\n' <<<"$value" | grep -v -e '^file:' -e '^$' | paste -sd ' ' || true
}
index=$(pip_setting PIP_INDEX_URL global.index-url)
extra=$(pip_setting PIP_EXTRA_INDEX_URL global.extra-index-url)
[ -z "$index" ] || build_args+=(--build-arg "PIP_INDEX_URL=$index")
[ -z "$extra" ] || build_args+=(--build-arg "PIP_EXTRA_INDEX_URL=$extra")
shopt -s nullglob
local_cas=(/usr/local/share/ca-certificates/*.crt)
shopt -u nullglob
[ ${#local_cas[@]} -eq 0 ] || build_args+=(--build-arg "PIP_EXTRA_CA=$(cat "${local_cas[@]}")")
for proxy in HTTP_PROXY HTTPS_PROXY NO_PROXY http_proxy https_proxy no_proxy; do
    [ -z "${!proxy:-}" ] || build_args+=(--build-arg "$proxy")
done
timeout 1200 docker build --network host -f Containerfile "${build_args[@]}" -t "$IMAGE" . \
    >"$work/build.log" 2>&1
size=$(docker image inspect -f '{{.Size}}' "$IMAGE")
base_size=$(docker image inspect -f '{{.Size}}' "$BASE_IMAGE")
figures[image size]="$((size / 1000000)) MB ($((base_size / 1000000)) MB base + $(((size - base_size) / 1000000)) MB syncer)"
figures[build time]="$(elapsed "$step_started") s"
pass "$((size / 1000000)) MB"

begin "image: uid 10001, ENTRYPOINT syncer, STOPSIGNAL, HEALTHCHECK, OCI labels"
config=$(docker image inspect -f \
    '{{.Config.User}} {{json .Config.Entrypoint}} {{.Config.StopSignal}} {{json .Config.Healthcheck.Test}}' \
    "$IMAGE")
case $config in
'10001:10001 ["syncer"] SIGTERM ["CMD","python3","/opt/syncer/healthcheck.py"]') ;;
*) echo "unexpected image config: $config" >"$work/image.log" && false ;;
esac
label() { docker image inspect -f "{{index .Config.Labels \"org.opencontainers.image.$1\"}}" "$IMAGE"; }
labels="$(label version) $(label revision)"
[ "$labels" = "$version $revision" ] && [ -n "$(label source)" ] || {
    echo "OCI labels: version, revision = $labels; source = $(label source)" >"$work/image.log"
    false
}
pass "version $version, revision ${revision:0:12}"

begin "image: no compiler, no pip in the venv"
docker run --rm "${hardened[@]}" --entrypoint sh "$IMAGE" -c \
    'for tool in gcc cc c++ make /opt/syncer/bin/pip; do
         command -v "$tool" && exit 1
     done; [ "$(id -u)" = 10001 ]' >"$work/tools.log" 2>&1
pass

# -- (a) the demo --------------------------------------------------------------------------
begin "(a) syncer demo in the image exits 0"
timeout 120 docker run --rm "${hardened[@]}" "$IMAGE" demo --conversations 60 \
    >"$work/demo.log" 2>&1
grep -q '^total  *[1-9]' "$work/demo.log"
pass "$(awk '/^total/ { print $2 " goals" }' "$work/demo.log")"

# -- (b) the daemon ------------------------------------------------------------------------
begin "(b) fakes on 127.0.0.1"
pg_database_url=""
[ -z "$POSTGRES" ] || pg_database_url="${POSTGRES%/*}/$PG_DATABASE"
PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" tests/container/fakes.py "$work" \
    ${pg_database_url:+--postgres "$pg_database_url"} >"$work/fakes.log" 2>&1 &
fakes_pid=$!
wait_for 30 test -s "$work/received.json"
# shellcheck disable=SC1091
. "$work/ports"
pass "healthz at $HEALTHZ_URL"

begin "(b) daemon starts: /healthz 200"
docker volume create "$VOLUME" >/dev/null
started=$(now)
docker run -d --name "$DAEMON" "${hardened[@]}" \
    -v "$work/config.toml:/etc/syncer/config.toml:ro" \
    -v "$VOLUME:/var/lib/syncer" \
    --env-file "$work/env" \
    --health-interval 1s --health-start-period 30s \
    "$IMAGE" >/dev/null
wait_for 60 http_ok "$HEALTHZ_URL" || { docker logs "$DAEMON" >"$work/daemon.log" 2>&1; false; }
figures[start to /healthz 200]="$(elapsed "$started") s"
pass "$(elapsed "$started") s after docker run"

begin "(b) goals reach the fake Collector"
has_goals() { [ "$(received)" -gt 0 ]; }
wait_for 120 has_goals || { docker logs "$DAEMON" >"$work/daemon.log" 2>&1; false; }
first_goal=$(elapsed "$started")
figures[start to first goal]="$first_goal s"
# The first cycle reads the whole backlog; once it has logged, every goal is in.
cycled() { docker logs "$DAEMON" 2>&1 | grep -q 'cycle: '; }
wait_for 120 cycled || { docker logs "$DAEMON" >"$work/daemon.log" 2>&1; false; }
goals=$(received)
pass "$goals goals, the first $first_goal s after docker run"

begin "(b) HEALTHCHECK reports healthy"
healthy() { [ "$(docker inspect -f '{{.State.Health.Status}}' "$DAEMON")" = healthy ]; }
wait_for 60 healthy || {
    docker inspect -f '{{json .State.Health}}' "$DAEMON" >"$work/health.log" 2>&1
    false
}
pass

begin "(b) docker stop: within 10 s, exit status 0"
stop_within_10s "$DAEMON"
figures[docker stop]="$stopped_in s"
pass "$stopped_in s, exit 0"

begin "(b) docker stop during start-up (the syncer as PID 1): within 10 s"
# A slow Intercom makes the start-up probe last seconds; the stop comes in the middle of it.
# As PID 1 the syncer gets no default SIGTERM handler from the kernel: it must have its own
# from its first moment, or it would be killed after docker stop's timeout.
mkdir -m 755 "$work/slow"
PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" tests/container/fakes.py "$work/slow" \
    --latency 0.2 >"$work/slow-fakes.log" 2>&1 &
slow_fakes_pid=$!
wait_for 30 test -s "$work/slow/received.json"
slow_healthz=$(sed -n 's/^HEALTHZ_URL=//p' "$work/slow/ports")
docker run -d --name "$EARLY" "${hardened[@]}" \
    -v "$work/slow/config.toml:/etc/syncer/config.toml:ro" --env-file "$work/slow/env" \
    "$IMAGE" >/dev/null
wait_for 60 http_ok "$slow_healthz" || { docker logs "$EARLY" >"$work/early.log" 2>&1; false; }
early_started=$(now)
docker stop -t 30 "$EARLY" >/dev/null
early_seconds=$(elapsed "$early_started")
early_code=$(docker inspect -f '{{.State.ExitCode}}' "$EARLY")
docker logs "$EARLY" >"$work/early.log" 2>&1
echo "docker stop: $early_seconds s, exit status $early_code" >>"$work/early.log"
if grep -q 'syncer.daemon: probe ' "$work/early.log"; then
    echo "the stop came after the start-up probe: this step tested nothing" >>"$work/early.log"
    false
fi
awk -v s="$early_seconds" 'BEGIN { exit !(s < 10) }'
case $early_code in 0 | 143) ;; *) false ;; esac
figures[docker stop during start-up]="$early_seconds s, exit $early_code"
pass "$early_seconds s, exit $early_code"

begin "(b) HEALTHCHECK without [metrics]: healthy from the state database"
# The same config with no [metrics] table: nothing listens, the check reads the last cycle.
"$PYTHON" - "$work/slow/config.toml" "$work/slow/no-metrics.toml" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
open(sys.argv[2], "w").write(re.sub(r"\[metrics\]\n[^\[]*", "", text))
PY
! grep -q '^\[metrics\]' "$work/slow/no-metrics.toml"
docker run -d --name "$QUIET" "${hardened[@]}" \
    -v "$work/slow/no-metrics.toml:/etc/syncer/config.toml:ro" --env-file "$work/slow/env" \
    --health-interval 1s --health-start-period 30s "$IMAGE" >/dev/null
quiet_healthy() { [ "$(docker inspect -f '{{.State.Health.Status}}' "$QUIET")" = healthy ]; }
wait_for 90 quiet_healthy || {
    docker inspect -f '{{json .State.Health}}' "$QUIET" >"$work/no-metrics.log" 2>&1
    docker logs "$QUIET" >>"$work/no-metrics.log" 2>&1
    false
}
quiet_said=$(docker inspect -f '{{range .State.Health.Log}}{{.Output}}{{end}}' "$QUIET" |
    grep -v '^$' | tail -n 1)
docker rm -f -v "$QUIET" >/dev/null
pass "$quiet_said"

begin "(b) state on the volume: every goal sent once"
docker run --rm "${hardened[@]}" \
    -v "$work/config.toml:/etc/syncer/config.toml:ro" -v "$VOLUME:/var/lib/syncer" \
    --env-file "$work/env" "$IMAGE" status --json >"$work/status.json" 2>"$work/status.log"
sent=$("$PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))["outbox"].get("sent", 0))' \
    "$work/status.json")
distinct=$(received distinct)
goals=$(received)
if [ "$sent" != "$goals" ] || [ "$distinct" != "$goals" ]; then
    echo "outbox sent $sent, Collector took $goals ($distinct distinct)" >"$work/status.log"
    false
fi
pass "$sent sent, $goals received, no duplicate"

# -- (c) two daemons on PostgreSQL ---------------------------------------------------------
if [ -z "$POSTGRES" ]; then
    echo "skip  (c) PostgreSQL active and standby: SYNCER_TEST_POSTGRES is not set"
    exit 0
fi
pg_run() { # $1: container name; $2: its config
    docker run -d --name "$1" "${hardened[@]}" \
        -v "$work/$2:/etc/syncer/config.toml:ro" --env-file "$work/env" "$IMAGE" >/dev/null
}

begin "(c) PostgreSQL: the first instance is active and delivers"
postgres_sql "DROP DATABASE IF EXISTS $PG_DATABASE WITH (FORCE)"
postgres_sql "CREATE DATABASE $PG_DATABASE"
pg_ready=1
first=$goals
pg_run "$PG_A" pg-a.toml
wait_for 60 healthz_says "$HEALTHZ_PG_A" active || { docker logs "$PG_A" >"$work/pg-a.log" 2>&1; false; }
a_cycled() { docker logs "$PG_A" 2>&1 | grep -q 'cycle: '; }
wait_for 120 a_cycled || { docker logs "$PG_A" >"$work/pg-a.log" 2>&1; false; }
[ "$(received)" = $((2 * first)) ] || {
    echo "the Collector took $(received) goals, expected $((2 * first))" >"$work/pg-a.log"
    false
}
pass "$first goals"

begin "(c) PostgreSQL: the second instance stands by, /healthz 200"
pg_run "$PG_B" pg-b.toml
wait_for 60 healthz_says "$HEALTHZ_PG_B" standby || {
    docker logs "$PG_B" >"$work/pg-b.log" 2>&1
    false
}
healthz_says "$HEALTHZ_PG_A" active
pass

begin "(c) PostgreSQL: docker stop the active one; the standby takes over"
a_stopped=$(now)
stop_within_10s "$PG_A"
wait_for 30 healthz_says "$HEALTHZ_PG_B" active || { docker logs "$PG_B" >"$work/pg-b.log" 2>&1; false; }
takeover=$(elapsed "$a_stopped")
figures[docker stop of the active to the standby active]="$takeover s"
b_cycled() { docker logs "$PG_B" 2>&1 | grep -q 'cycle: '; }
wait_for 60 b_cycled || { docker logs "$PG_B" >"$work/pg-b.log" 2>&1; false; }
stop_within_10s "$PG_B"
if [ "$(received)" != $((2 * first)) ] || [ "$(received distinct)" != "$first" ]; then
    echo "the Collector took $(received) goals ($(received distinct) distinct)," \
        "expected $((2 * first)) ($first)" >"$work/pg-b.log"
    false
fi
pass "stopped in $stopped_in s, standby active $takeover s after docker stop, nothing twice"
