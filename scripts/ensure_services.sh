#!/usr/bin/env bash
# Start the services the test suite uses, where nothing listens yet: Redis on
# 127.0.0.1:6379 (Debian's redis-server, installed when missing and allowed).
set -euo pipefail

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

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

if ! listening 6379; then
    command -v redis-server >/dev/null || install redis-server
    redis-server --bind 127.0.0.1 --port 6379 --daemonize yes --save "" --appendonly no >&2
    wait_for 6379 redis-server
fi
