#!/usr/bin/env bash
# usage: ci/with-postgres-redis.sh DIR COMMAND...
#
# Start a throw-away PostgreSQL server and a Redis server, run COMMAND in DIR with
#   SMS_E2E_POSTGRES_URL=postgresql://airflow@127.0.0.1:<port>/postgres
#   SMS_E2E_CELERY_BROKER_URL=redis://127.0.0.1:<port>/0
# (tests/airflow_e2e/cluster.py reads them), then stop both and delete their data, also on failure.
# Both listen on loopback only, on free ports, with their files in a temporary folder. Run as
# root, they run as an unprivileged user (created if missing: $CI_SERVICE_USER, default sms-ci),
# and redis-server is installed with apt-get when missing.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 DIR COMMAND..." >&2; exit 2; }
dir=$1
shift
USER_NAME=${CI_SERVICE_USER:-sms-ci}

for tool in initdb pg_ctl postgres; do
    command -v "$tool" >/dev/null || { echo "error: $tool not found: install PostgreSQL" >&2; exit 1; }
done
if ! command -v redis-server >/dev/null; then
    [ "$(id -u)" = 0 ] || { echo "error: redis-server not found: install Redis (Debian: redis-server)" >&2; exit 1; }
    echo "installing redis-server with apt-get" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >/dev/null
fi

as_service_user() { "$@"; }
if [ "$(id -u)" = 0 ]; then
    id "$USER_NAME" >/dev/null 2>&1 ||
        useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$USER_NAME"
    as_service_user() { runuser -u "$USER_NAME" -- "$@"; }
fi

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

work=$(mktemp -d /tmp/sms-ci-services.XXXXXX)
chmod 755 "$work"
mkdir "$work/pg" "$work/redis"
[ "$(id -u)" = 0 ] && chown "$USER_NAME" "$work/pg" "$work/redis"
cleanup() {
    as_service_user pg_ctl -D "$work/pg/data" -m immediate -w stop >/dev/null 2>&1 || true
    if [ -s "$work/redis/redis.pid" ]; then
        local pid
        pid=$(cat "$work/redis/redis.pid")
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -rf "$work"
}
trap cleanup EXIT

pg_port=$(free_port)
as_service_user initdb --pgdata "$work/pg/data" --username airflow --auth trust --encoding UTF8 \
    --no-instructions >"$work/pg/initdb.log"
as_service_user pg_ctl -D "$work/pg/data" -l "$work/pg/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $pg_port -k $work/pg -c max_connections=200 -c fsync=off" \
    start >/dev/null || { cat "$work/pg/server.log" >&2; exit 1; }

redis_port=$(free_port)
as_service_user redis-server --bind 127.0.0.1 --port "$redis_port" --dir "$work/redis" \
    --save "" --appendonly no --daemonize yes --pidfile "$work/redis/redis.pid" \
    --logfile "$work/redis/server.log"
for attempt in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$redis_port") 2>/dev/null && break
    [ "$attempt" = 100 ] && { cat "$work/redis/server.log" >&2; exit 1; }
    sleep 0.1
done

echo "PostgreSQL $(postgres --version | awk '{print $3}') on 127.0.0.1:$pg_port," \
    "$(redis-server --version | awk '{print $1, $3}') on 127.0.0.1:$redis_port" >&2
status=0
(
    cd "$dir"
    SMS_E2E_POSTGRES_URL="postgresql://airflow@127.0.0.1:$pg_port/postgres" \
        SMS_E2E_CELERY_BROKER_URL="redis://127.0.0.1:$redis_port/0" "$@"
) || status=$?
exit $status
