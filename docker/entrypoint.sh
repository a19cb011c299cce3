#!/usr/bin/env bash
# The image's entry point: one role per container, the same image for all of them.
#
#   entrypoint.sh web              the Daphne processes on $PORT (one per core: $ARCADE_WEB_PROCESSES)
#   entrypoint.sh worker           a Celery worker ($ARCADE_WORKER_CONCURRENCY processes, $ARCADE_WORKER_QUEUES)
#   entrypoint.sh beat             Celery beat, one copy at a time (a lock in Redis)
#   entrypoint.sh migrate          apply database migrations, then exit
#   entrypoint.sh manage CMD ...   any management command (load_catalogue, createsuperuser, ...)
#
# Extra arguments after web, worker, beat and migrate go to the command. Each role execs its
# command, so it gets the container's signals directly (SIGTERM: Daphne and Celery finish
# what they hold and stop).
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
    sed -n '4,8s/^# \{0,1\}//p' "$0" >&2
    exit 64
}

role=${1:-}
[[ $# -gt 0 ]] && shift

case $role in
    web)
        exec python -m arcade.serve \
            --processes "${ARCADE_WEB_PROCESSES:-$(nproc)}" \
            --bind "${ARCADE_BIND:-0.0.0.0}" --port "${PORT:-8000}" "$@"
        ;;
    worker)
        # Replay verification has a queue of its own, so it can be given workers of its own.
        # Mingle and gossip are chatter between workers that Arcade never uses; mingle alone
        # holds a starting worker for seconds.
        exec celery -A arcade worker --loglevel "${LOG_LEVEL:-INFO}" \
            --queues "${ARCADE_WORKER_QUEUES:-celery,verify}" --without-mingle --without-gossip \
            --concurrency "${ARCADE_WORKER_CONCURRENCY:-2}" "$@"
        ;;
    beat)
        # Only while holding a lock in Redis: a second copy (a rollout's new instance, a
        # `--scale beat=2`) waits instead of sending every scheduled task a second time.
        # The schedule file records when each entry last ran; the code folder is read-only.
        exec python docker/singleton.py beat -- \
            celery -A arcade beat --loglevel "${LOG_LEVEL:-INFO}" \
            --schedule "${ARCADE_VAR_DIR:-/var/lib/arcade}/celerybeat-schedule" "$@"
        ;;
    migrate)
        exec python manage.py migrate --noinput "$@"
        ;;
    manage)
        [[ $# -gt 0 ]] || usage
        exec python manage.py "$@"
        ;;
    *)
        echo "entrypoint: unknown role '${role}'; use one of:" >&2
        usage
        ;;
esac
