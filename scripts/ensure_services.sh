#!/usr/bin/env bash
# Start the services the test suite uses, where nothing listens yet, bound to 127.0.0.1:
#   Redis on 6379 (Debian's redis-server): the Celery tests' broker under CI, and a
#     signal transport;
#   NATS on 4222 (Debian's nats-server, JetStream on): a signal transport.
# The binaries are installed when missing (and allowed) even where something already
# listens: the tests start brokers of their own from them to stop and restart.
set -euo pipefail

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

have() { command -v "$1" >/dev/null || [[ -x "/usr/sbin/$1" ]]; }

install() {
    if [[ $(id -u) -ne 0 ]]; then
        echo "$1 is missing; install it with: sudo apt-get install -y $1" >&2
        return 1
    fi
    if [[ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -print -quit 2>/dev/null)" ]]; then
        apt-get update -qq >&2
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >&2
}

wait_for() {
    for _ in $(seq 100); do listening "$1" && return 0; sleep 0.1; done
    echo "nothing listens on 127.0.0.1:$1 after starting $2" >&2
    return 1
}

have redis-server || install redis-server
have nats-server || install nats-server
PATH="$PATH:/usr/sbin"

if ! listening 6379; then
    redis-server --bind 127.0.0.1 --port 6379 --daemonize yes --save "" --appendonly no >&2
    wait_for 6379 redis-server
fi

if ! listening 4222; then
    store="${TMPDIR:-/tmp}/dflock-nats"
    mkdir -p "$store"
    # nats-server has no daemon mode: detached, its output in the store folder.
    setsid nohup nats-server -a 127.0.0.1 -p 4222 -js -sd "$store" \
        >"$store/nats-server.log" 2>&1 </dev/null &
    wait_for 4222 nats-server
fi
