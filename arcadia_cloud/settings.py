"""Arcadia Cloud settings: everything comes from environment variables with safe defaults.

The embedded default (no DATABASE_URL, no CELERY_BROKER_URL) is the quick start: a SQLite file
and tasks run in-process. `ARCADIA_ENV=production` turns on the production guards: the default
secret keys refuse to boot and the security middleware settings are enforced.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VERSION = "0.1.0"


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if raw.strip().lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.strip().lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean; use true or false")


def env_positive_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a positive whole number")
    return int(raw)


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_json_object(name: str) -> dict:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ImproperlyConfigured(
            f'{name} must be a JSON object, e.g. {{"visibility_timeout": 3600}}'
        )
    return value


ARCADIA_ENV = env_str("ARCADIA_ENV", "development")
IS_PRODUCTION = ARCADIA_ENV == "production"

DEFAULT_SECRET_KEY = "dev-only-insecure-secret-key-change-me"
DEFAULT_JWT_SECRET = "dev-only-insecure-jwt-secret-change-me-0123456789abcdef0123456789abcdef"

SECRET_KEY = env_str("SECRET_KEY", DEFAULT_SECRET_KEY)
ARCADIA_JWT_SECRET = env_str("ARCADIA_JWT_SECRET", DEFAULT_JWT_SECRET)
DEBUG = env_bool("DEBUG", default=False)

if IS_PRODUCTION:
    if SECRET_KEY == DEFAULT_SECRET_KEY:
        raise ImproperlyConfigured(
            "ARCADIA_ENV=production but SECRET_KEY is the development default: "
            "set SECRET_KEY to a long random value before starting in production."
        )
    if ARCADIA_JWT_SECRET == DEFAULT_JWT_SECRET:
        raise ImproperlyConfigured(
            "ARCADIA_ENV=production but ARCADIA_JWT_SECRET is the development default: "
            "set it to the secret shared with arcadia-app."
        )
    if DEBUG:
        raise ImproperlyConfigured("DEBUG must be off when ARCADIA_ENV=production")

ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS", "" if IS_PRODUCTION else "localhost,127.0.0.1,[::1],testserver"
)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

# arcadia_cloud comes last: its post_migrate hook syncs the staff groups' permissions, so it must
# run after every other app has created its permissions.
LOCAL_APPS = [
    "inventory",
    "billing",
    "catalog",
    "customers",
    "deployments",
    "invoicing",
    "analytics",
    "drift",
    "dunning",
    "webhooks",
    "demo",
    "arcadia_cloud",
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    *LOCAL_APPS,
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # After the message middleware (it reports dropped admin filters), before anything that
    # reads a body or the query string (the CSRF check, the Idempotency-Key, the views).
    "arcadia_cloud.request_text.RequestTextMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "arcadia_cloud.idempotency.IdempotencyMiddleware",
]

ROOT_URLCONF = "arcadia_cloud.urls"
WSGI_APPLICATION = "arcadia_cloud.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "arcadia_cloud" / "templates"],
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

# Database: PostgreSQL from DATABASE_URL; a SQLite file when it is unset (the embedded default).
VAR_DIR = Path(env_str("ARCADIA_VAR_DIR", str(BASE_DIR / "var")))
DATABASE_URL = env_str("DATABASE_URL")
# Seconds a web or worker process keeps its database connection between requests (0: a new
# connection per request, which costs PostgreSQL a process per request; see
# docs/performance.md). Production keeps them a minute unless told otherwise.
DATABASE_CONN_MAX_AGE = int(env_str("DATABASE_CONN_MAX_AGE", "60" if IS_PRODUCTION else "0"))
# After how many runs on one connection psycopg prepares a statement of the hand-written reads
# (arcadia_cloud/sql.py; the ORM's queries bind on the client and are never prepared). Planning
# was half of PostgreSQL's time on the API's hottest lists. "off" for a connection pooler that
# cannot keep prepared statements (PgBouncer in transaction mode before 1.21).
DATABASE_PREPARE_THRESHOLD = (
    None
    if env_str("DATABASE_PREPARE_THRESHOLD") == "off"
    else env_positive_int("DATABASE_PREPARE_THRESHOLD", 5)
)
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=DATABASE_CONN_MAX_AGE)}
    if DATABASE_PREPARE_THRESHOLD is not None:
        DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = (
            DATABASE_PREPARE_THRESHOLD
        )
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "arcadia.sqlite3",
            "OPTIONS": {"timeout": 30, "transaction_mode": "IMMEDIATE"},
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-au"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
if not IS_PRODUCTION:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if IS_PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Serve static files from the finders without collectstatic outside production (quick start).
WHITENOISE_USE_FINDERS = not IS_PRODUCTION
WHITENOISE_AUTOREFRESH = DEBUG

# Uploads and request bodies: the LLM batch endpoint takes up to 1000 events.
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

# --- REST API ---------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["arcadia_cloud.auth.ArcadiaJWTAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["arcadia_cloud.permissions.IsApiCaller"],
    "DEFAULT_PAGINATION_CLASS": "arcadia_cloud.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_RENDERER_CLASSES": ["arcadia_cloud.renderers.OrjsonRenderer"],
    "DEFAULT_PARSER_CLASSES": ["arcadia_cloud.parsing.ExactJSONParser"],
    "EXCEPTION_HANDLER": "arcadia_cloud.errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "COERCE_DECIMAL_TO_STRING": True,
    "UNAUTHENTICATED_USER": None,
}

# Seconds of clock difference tolerated between arcadia-app and this service, applied to a
# token's exp, nbf and iat: a token issued a second "in the future" by a slightly fast issuer
# clock is still valid, and one expired a moment ago still is for this long.
ARCADIA_JWT_LEEWAY_SECONDS = int(env_str("ARCADIA_JWT_LEEWAY_SECONDS", "30"))
if not 0 <= ARCADIA_JWT_LEEWAY_SECONDS <= 300:
    raise ImproperlyConfigured(
        f"ARCADIA_JWT_LEEWAY_SECONDS={ARCADIA_JWT_LEEWAY_SECONDS} is outside 0..300 seconds"
    )

SIMPLE_JWT = {
    "ALGORITHM": "HS512",
    "SIGNING_KEY": ARCADIA_JWT_SECRET,
    "AUTH_HEADER_TYPES": ("Bearer",),
    "USER_ID_CLAIM": "sub",
    "USER_ID_FIELD": "id",
    "TOKEN_TYPE_CLAIM": None,
    "JTI_CLAIM": None,
    "AUTH_TOKEN_CLASSES": ("arcadia_cloud.auth.ArcadiaAccessToken",),
    "TOKEN_USER_CLASS": "arcadia_cloud.auth.Principal",
    "LEEWAY": ARCADIA_JWT_LEEWAY_SECONDS,
}
# Algorithms accepted on incoming tokens (arcadia-app signs with HS512; HS256 is tolerated).
ARCADIA_JWT_ALGORITHMS = ("HS512", "HS256")

SPECTACULAR_SETTINGS = {
    "TITLE": "Arcadia Cloud API",
    "DESCRIPTION": "Cloud operations and billing back office: inventory, catalog, quotes, "
    "deployments, invoices, margin.",
    "VERSION": VERSION,
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {},
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "arcadia_cloud.schema.document_error_responses",
    ],
}

IDEMPOTENCY_KEY_TTL_HOURS = 24
# Where the database has no row locks (the SQLite quick start), an in-progress Idempotency-Key
# belongs to its request this long; after it a retry runs the request again. Keep it above the
# longest request (gunicorn's --timeout). PostgreSQL decides by the request's own row lock.
IDEMPOTENCY_LEASE_SECONDS = int(env_str("IDEMPOTENCY_LEASE_SECONDS", "120"))

# --- Celery -----------------------------------------------------------------------------------
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL")
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND") or None
# No broker: run tasks in-process, eagerly (quick start and the default in tests).
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_TIME_LIMIT = 30 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 25 * 60
CELERY_TASK_ACKS_LATE = False
# Broker transport options as a JSON object. On Redis, `visibility_timeout` (default 3600 s) is
# how long a task a worker took but never acknowledged (acks_late tasks whose worker died) waits
# before another worker gets it: keep it above the longest task time limit.
CELERY_BROKER_TRANSPORT_OPTIONS = env_json_object("CELERY_BROKER_TRANSPORT_OPTIONS")
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"
CELERY_ENABLE_UTC = True

# --- Integrations -----------------------------------------------------------------------------
DO_API_BASE_URL = env_str("DO_API_BASE_URL", "https://api.digitalocean.com")
DO_API_TOKEN = env_str("DO_API_TOKEN")
DO_TOKEN_SYNC = env_str("DO_TOKEN_SYNC")
DO_TOKEN_BILLING = env_str("DO_TOKEN_BILLING")
DO_TOKEN_PROVISIONING = env_str("DO_TOKEN_PROVISIONING")
# The account whose billing insights (daily COGS, issue 18) are ingested: do:team:<uuid> or
# do:teamgroup:<uuid>; unset: the nightly ingest logs one line and does nothing.
DO_BILLING_ACCOUNT_URN = env_str("DO_BILLING_ACCOUNT_URN")
# DigitalOcean's limits per token, shared by every sync using it (docs/sandbox.md).
DO_RATE_LIMIT_PER_MINUTE = env_positive_int("DO_RATE_LIMIT_PER_MINUTE", 250)
DO_RATE_LIMIT_PER_HOUR = env_positive_int("DO_RATE_LIMIT_PER_HOUR", 5000)
DO_RATE_BUDGET_MAX_WAIT = env_positive_int("DO_RATE_BUDGET_MAX_WAIT", 60)
# Spaces (S3 API) keys for measuring bucket sizes (issue 17); unset: nothing measured.
SPACES_ACCESS_KEY_ID = env_str("SPACES_ACCESS_KEY_ID")
SPACES_SECRET_ACCESS_KEY = env_str("SPACES_SECRET_ACCESS_KEY")
SPACES_ENDPOINT_URL = env_str("SPACES_ENDPOINT_URL", "https://{region}.digitaloceanspaces.com")
SPACES_DEFAULT_REGION = env_str("SPACES_DEFAULT_REGION", "nyc3")
SPACES_MEASURE_MAX_SECONDS = env_positive_int("SPACES_MEASURE_MAX_SECONDS", 120)
FINANCE_URL = env_str("FINANCE_URL")
# The largest DigitalOcean invoice CSV the ingest downloads, in bytes (refused while streaming).
# A real invoice is far smaller: 50,000 lines are about 6 MB.
DO_INVOICE_CSV_MAX_BYTES = env_positive_int("DO_INVOICE_CSV_MAX_BYTES", 20 * 1024 * 1024)

# Tenant invoices: GST on the subtotal (AU default).
INVOICE_TAX_RATE = env_str("INVOICE_TAX_RATE", "0.10")
INVOICE_TAX_LABEL = env_str("INVOICE_TAX_LABEL", "GST")
INVOICE_NUMBER_PREFIX = env_str("INVOICE_NUMBER_PREFIX", "ARC")
# A payment may be recorded this far ahead of the server clock (another system's clock), not more.
INVOICE_PAID_AT_LEEWAY_SECONDS = int(env_str("INVOICE_PAID_AT_LEEWAY_SECONDS", "300"))
# Days from issue to the due date a tax invoice shows (a billing profile may override it).
INVOICE_PAYMENT_TERMS_DAYS = env_positive_int("INVOICE_PAYMENT_TERMS_DAYS", 14)
# Adjustment notes are numbered per year from their own counter: ARC-CN-2026-000001.
CREDIT_NOTE_NUMBER_PREFIX = env_str("CREDIT_NOTE_NUMBER_PREFIX", f"{INVOICE_NUMBER_PREFIX}-CN")
# The seller a tax invoice names (ATO: identity and ABN) and how to pay it. Development has
# sandbox defaults; production refuses to start without real ones (below).
SELLER_DEFAULTS = {
    "SELLER_LEGAL_NAME": "Arcadia Cloud Pty Ltd (development)",
    "SELLER_ABN": "51824753556",
    "SELLER_ADDRESS": "Level 1, 1 Example Street, Sydney NSW 2000",
    "SELLER_PAYMENT_INSTRUCTIONS": "Development only: do not pay.",
}
SELLER_LEGAL_NAME = env_str(
    "SELLER_LEGAL_NAME", "" if IS_PRODUCTION else SELLER_DEFAULTS["SELLER_LEGAL_NAME"]
)
SELLER_ABN = env_str("SELLER_ABN", "" if IS_PRODUCTION else SELLER_DEFAULTS["SELLER_ABN"])
SELLER_ADDRESS = env_str(
    "SELLER_ADDRESS", "" if IS_PRODUCTION else SELLER_DEFAULTS["SELLER_ADDRESS"]
)
SELLER_PAYMENT_INSTRUCTIONS = env_str(
    "SELLER_PAYMENT_INSTRUCTIONS",
    "" if IS_PRODUCTION else SELLER_DEFAULTS["SELLER_PAYMENT_INSTRUCTIONS"],
)
if IS_PRODUCTION:
    _missing = [
        name
        for name in SELLER_DEFAULTS
        if not globals()[name].strip() or globals()[name] == SELLER_DEFAULTS[name]
    ]
    if _missing:
        raise ImproperlyConfigured(
            f"ARCADIA_ENV=production but {', '.join(_missing)} not set (or left at the "
            "development default): tax invoices must name the seller, its ABN, its address and "
            "how to pay (set them in the environment)."
        )
    from stdnum.au import abn as _abn

    if not _abn.is_valid(SELLER_ABN):
        raise ImproperlyConfigured(f"SELLER_ABN={SELLER_ABN!r} is not a valid ABN")
    SELLER_ABN = _abn.compact(SELLER_ABN)
# Documents are emailed from here (Django's email framework: EMAIL_BACKEND chooses SMTP, a
# provider's backend, or the console, which development and the demo use).
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if IS_PRODUCTION
    else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_positive_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_positive_int("EMAIL_TIMEOUT", 30)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "billing@arcadia-cloud.invalid")
# Where payment reminders go when a tenant has no billing contact (empty: reminders not emailed).
ARCADIA_BILLING_FALLBACK_EMAIL = env_str("ARCADIA_BILLING_FALLBACK_EMAIL")
# Webhooks: receivers must be https and public in production (SSRF); development allows
# http and loopback/private addresses (the demo's local receiver).
WEBHOOKS_ALLOW_PRIVATE = env_bool("WEBHOOKS_ALLOW_PRIVATE", default=not IS_PRODUCTION)
WEBHOOK_TIMEOUT_SECONDS = env_positive_int("WEBHOOK_TIMEOUT_SECONDS", 5)
# A delivery is retried with exponential backoff (30 s doubling, at most an hour apart) until
# this many attempts; an endpoint whose deliveries fail this many times in a row is disabled.
WEBHOOK_MAX_ATTEMPTS = env_positive_int("WEBHOOK_MAX_ATTEMPTS", 8)
WEBHOOK_DISABLE_AFTER_FAILED_DELIVERIES = env_positive_int(
    "WEBHOOK_DISABLE_AFTER_FAILED_DELIVERIES", 5
)
# Usage dated more than this many days ago is refused (LLM events: 422; metering backfills: an
# error): older usage could no longer reach an invoice. Late usage of an invoiced month within
# the horizon is billed on the tenant's next invoice (invoicing/invoices/late_usage.py).
LATE_USAGE_HORIZON_DAYS = int(env_str("LATE_USAGE_HORIZON_DAYS", "62"))
# The monthly rollup task fans the period's tenants out over the workers in chunks of this many
# (invoicing/invoices/rollup/fanout.py); each chunk is one `invoicing.roll_up_chunk` task.
ROLLUP_CHUNK_SIZE = int(env_str("ROLLUP_CHUNK_SIZE", "250"))
# A tenant is told (`trial.ending` webhook) this many days before its trial ends, once.
TRIAL_ENDING_NOTICE_DAYS = int(env_str("TRIAL_ENDING_NOTICE_DAYS", "3"))

# --- Security ---------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if IS_PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(env_str("SECURE_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
        # WeasyPrint logs every rendering step of every PDF at INFO.
        "weasyprint": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},
    },
}
