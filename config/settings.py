"""Privacy Desk settings: one flat module, every value from the environment (twelve-factor).

Every variable is listed with a comment in `.env.example`. Development defaults apply only when
DEBUG is on (or under the test runner); production refuses to start without real secrets.
"""

import datetime as dt
import sys
from pathlib import Path

import environ
from cryptography.fernet import Fernet
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# The test runner gets the same development defaults as DEBUG, plus a synchronous task queue.
TESTING = "pytest" in sys.modules or sys.argv[1:2] == ["test"]
DEBUG = env.bool("DEBUG", default=False)
DEV_DEFAULTS = DEBUG or TESTING

# Published, therefore only ever used when DEBUG is on: see `_require_production_secrets`.
_DEV_SECRET_KEY = "dev-only-insecure-secret-key-do-not-use-in-production-7f3a9c"  # noqa: S105
# base64 of "dev-only-field-key-not-for-prod-"
_DEV_FIELD_KEY = "ZGV2LW9ubHktZmllbGQta2V5LW5vdC1mb3ItcHJvZC0="

SECRET_KEY = env.str("SECRET_KEY", default=_DEV_SECRET_KEY if DEV_DEFAULTS else "")
FIELD_ENCRYPTION_KEYS = env.list(
    "FIELD_ENCRYPTION_KEYS", default=[_DEV_FIELD_KEY] if DEV_DEFAULTS else []
)


def _require_production_secrets() -> None:
    if not SECRET_KEY or SECRET_KEY == _DEV_SECRET_KEY or len(SECRET_KEY) < 50:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set to a random value of at least 50 characters when DEBUG is off."
        )
    if not FIELD_ENCRYPTION_KEYS or _DEV_FIELD_KEY in FIELD_ENCRYPTION_KEYS:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS must list your own Fernet keys (newest first) when DEBUG is off."
        )


def _check_field_keys() -> None:
    for position, key in enumerate(FIELD_ENCRYPTION_KEYS, start=1):
        try:
            Fernet(key)
        except ValueError as exc:
            raise ImproperlyConfigured(
                f"FIELD_ENCRYPTION_KEYS entry {position} is not a valid Fernet key "
                "(32 url-safe base64-encoded bytes; make one with "
                "`python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'`)."
            ) from exc


if not DEV_DEFAULTS:
    _require_production_secrets()
_check_field_keys()

ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"] if DEV_DEFAULTS else []
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and ReDoc assets, served locally (no CDN)
    "django_q",
    # Two-factor sign-in for staff (cases.security, cases.two_factor): authenticator apps,
    # recovery codes and WebAuthn security keys/passkeys, all django-otp devices.
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "django_otp_webauthn",
    "axes",  # sign-in lockout (cases.security)
    "cases",
    "connectors",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # The subject portal's strict headers (CSP, no referrer, no framing, no caching).
    "cases.portal.PortalHeadersMiddleware",
    # Content-Security-Policy with a per-request nonce (CONTENT_SECURITY_POLICY below).
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    # Django's CSRF check, fit for `Referrer-Policy: no-referrer` (see cases.security).
    "cases.security.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.user.is_verified(), then the gate that keeps /admin/ behind a second factor.
    "django_otp.middleware.OTPMiddleware",
    "cases.security.TwoFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Idle and absolute session limits (SESSION_IDLE_MINUTES, SESSION_MAX_HOURS).
    "cases.security.SessionLimitsMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: turns a locked-out sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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

# SQLite for a trial, PostgreSQL in production. SQLite is tuned so the web process and a worker
# can write at once: WAL lets readers run beside the writer, IMMEDIATE transactions take the write
# lock up front (no deadlocked upgrades), and a busy timeout waits instead of failing.
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
# PostgreSQL: each process keeps a bounded pool of connections (psycopg_pool, through Django), so
# a threaded server or a burst of requests waits for a free connection instead of opening one per
# thread until PostgreSQL refuses more. With the pool CONN_MAX_AGE must be 0: a request hands its
# connection back to the pool when it ends. The budget: README "Connection budget".
DB_POOL = env.bool("DB_POOL", default=True)
DB_POOL_MIN_SIZE = env.int("DB_POOL_MIN_SIZE", default=1)
DB_POOL_MAX_SIZE = env.int("DB_POOL_MAX_SIZE", default=4)
DB_POOL_TIMEOUT = env.float("DB_POOL_TIMEOUT", default=10.0)
if DB_POOL_MAX_SIZE < 1 or not 0 <= DB_POOL_MIN_SIZE <= DB_POOL_MAX_SIZE:
    raise ImproperlyConfigured(
        f"DB_POOL_MIN_SIZE ({DB_POOL_MIN_SIZE}) and DB_POOL_MAX_SIZE ({DB_POOL_MAX_SIZE}) must "
        "satisfy 0 <= DB_POOL_MIN_SIZE <= DB_POOL_MAX_SIZE, with DB_POOL_MAX_SIZE at least 1."
    )
if DB_POOL_TIMEOUT <= 0:
    raise ImproperlyConfigured(f"DB_POOL_TIMEOUT must be more than 0 seconds: {DB_POOL_TIMEOUT}")
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
    )
# django-q2's cluster forks its processes from one parent: a pool opened before the fork would
# hand the same sockets to several processes (seen as crossed results and duplicate keys). Each
# cluster process runs one task at a time with one connection, so the worker keeps plain ones.
elif DB_POOL and sys.argv[1:2] != ["qcluster"]:
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # With the pool, this checks each connection as it leaves the pool: a database restart or
    # failover costs a reconnect, not a 500.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": DB_POOL_MIN_SIZE,
        "max_size": DB_POOL_MAX_SIZE,
        "timeout": DB_POOL_TIMEOUT,
    }
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The cache holds the Adobe access token so every worker process shares one; it must be shared
# across processes, hence a file cache by default rather than per-process memory.
CACHES = {
    "default": env.cache(
        "CACHE_URL",
        default="locmemcache://" if TESTING else f"filecache://{BASE_DIR / 'var' / 'cache'}",
    )
}

# Tests create users by the dozen; a slow hasher there buys nothing.
if TESTING:
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-gb"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
# Production serves the collected files (`collectstatic`) itself through WhiteNoise, with hashed
# names (cached for ever) and pre-compressed; development and tests read them from the apps.
if not DEV_DEFAULTS:
    MIDDLEWARE.insert(
        MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
        "whitenoise.middleware.WhiteNoiseMiddleware",
    )
    STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }
# Result files hold personal data: they are stored here but never served by URL; officers and
# API clients fetch them through audited views.
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")

LOGIN_URL = "admin:login"

# Two-factor sign-in (README "Security"). Staff with a device always give a second factor after
# the password; with REQUIRE_2FA, staff without one are sent to enrolment and reach no other admin
# page. Off in the DEBUG demo (and under the test runner) so `make demo` keeps a one-step login.
REQUIRE_2FA = env.bool("REQUIRE_2FA", default=not DEV_DEFAULTS)
OTP_TOTP_ISSUER = "Privacy Desk"
# The device admin pages would show TOTP secrets; devices are managed on the 2FA pages instead.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
# WebAuthn (django-otp-webauthn): keys are bound to WEBAUTHN_RP_ID (this site's host name) and
# signed for WEBAUTHN_ORIGINS. Empty: both are taken from the request's own host, which Django
# has already checked against ALLOWED_HOSTS. A key works as a second factor only (no passwordless
# login: the password step keeps its checks).
WEBAUTHN_RP_ID = env.str("WEBAUTHN_RP_ID", default="")
WEBAUTHN_ORIGINS = env.list("WEBAUTHN_ORIGINS", default=[])
OTP_WEBAUTHN_RP_NAME = "Privacy Desk"
OTP_WEBAUTHN_RP_ID_CALLABLE = "cases.security.webauthn_rp_id"
OTP_WEBAUTHN_HELPER_CLASS = "cases.security.WebAuthnHelper"
OTP_WEBAUTHN_ALLOWED_ORIGINS = WEBAUTHN_ORIGINS
OTP_WEBAUTHN_ALLOW_PASSWORDLESS_LOGIN = False
# otp_webauthn.E030 asks for a fixed origin list; cases.security.WebAuthnHelper falls back to the
# request's own origin instead.
SILENCED_SYSTEM_CHECKS = [] if WEBAUTHN_ORIGINS else ["otp_webauthn.E030"]
# Sign-in: django-axes first (it refuses locked-out sign-ins before any password is checked),
# then local accounts, then single sign-on when configured (below).
AUTHENTICATION_BACKENDS = [
    "cases.security.AxesBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Lockout (django-axes): after AXES_FAILURE_LIMIT failed sign-ins for one username from one
# address, that pair is refused for AXES_COOLOFF_MINUTES (an Administrator can unlock sooner).
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_MINUTES = env.int("AXES_COOLOFF_MINUTES", default=15)
if AXES_FAILURE_LIMIT < 1 or AXES_COOLOFF_MINUTES < 1:
    raise ImproperlyConfigured("AXES_FAILURE_LIMIT and AXES_COOLOFF_MINUTES must be 1 or more.")
AXES_COOLOFF_TIME = dt.timedelta(minutes=AXES_COOLOFF_MINUTES)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# Axes' own log lines name the attempt by a hash of the username, never the username itself.
AXES_CLIENT_STR_CALLABLE = "cases.security.axes_client_str"
# Failed API keys per address per minute before the API answers 429 (cases.api.authentication).
API_KEY_FAILURES_PER_MINUTE = env.int("API_KEY_FAILURES_PER_MINUTE", default=10)
if API_KEY_FAILURES_PER_MINUTE < 1:
    raise ImproperlyConfigured("API_KEY_FAILURES_PER_MINUTE must be 1 or more.")

# Sessions: signed out after SESSION_IDLE_MINUTES without a request, and SESSION_MAX_HOURS after
# signing in whatever the activity (cases.security.SessionLimitsMiddleware).
SESSION_IDLE_MINUTES = env.int("SESSION_IDLE_MINUTES", default=30)
SESSION_MAX_HOURS = env.int("SESSION_MAX_HOURS", default=12)
if SESSION_IDLE_MINUTES < 1 or SESSION_MAX_HOURS < 1:
    raise ImproperlyConfigured("SESSION_IDLE_MINUTES and SESSION_MAX_HOURS must be 1 or more.")
SESSION_COOKIE_AGE = SESSION_MAX_HOURS * 3600
SESSION_EXPIRE_AT_BROWSER_CLOSE = True

# Roles: auditors see the case record without the subject's name, email and identity values
# unless this is on.
AUDITOR_SEES_CONTACT_DATA = env.bool("AUDITOR_SEES_CONTACT_DATA", default=False)

# Single sign-on with OpenID Connect (mozilla-django-oidc, cases.sso): on when a client id and
# either OIDC_ISSUER (endpoints read from its discovery document) or the four endpoints are set.
OIDC_ISSUER = env.str("OIDC_ISSUER", default="").rstrip("/")
OIDC_RP_CLIENT_ID = env.str("OIDC_CLIENT_ID", default="")
OIDC_RP_CLIENT_SECRET = env.str("OIDC_CLIENT_SECRET", default="")
OIDC_OP_AUTHORIZATION_ENDPOINT = env.str("OIDC_AUTHORIZATION_ENDPOINT", default="")
OIDC_OP_TOKEN_ENDPOINT = env.str("OIDC_TOKEN_ENDPOINT", default="")
OIDC_OP_USER_ENDPOINT = env.str("OIDC_USERINFO_ENDPOINT", default="")
OIDC_OP_JWKS_ENDPOINT = env.str("OIDC_JWKS_ENDPOINT", default="")
OIDC_RP_SIGN_ALGO = env.str("OIDC_SIGN_ALGO", default="RS256")
OIDC_RP_SCOPES = env.str("OIDC_SCOPES", default="openid email profile")
OIDC_GROUPS_CLAIM = env.str("OIDC_GROUPS_CLAIM", default="groups")
OIDC_OFFICER_GROUPS = env.list("OIDC_OFFICER_GROUPS", default=[])
OIDC_AUDITOR_GROUPS = env.list("OIDC_AUDITOR_GROUPS", default=[])
OIDC_USE_PKCE = True
OIDC_TIMEOUT = env.int("OIDC_TIMEOUT", default=10)
OIDC_CALLBACK_CLASS = "cases.sso.CallbackView"
OIDC_AUTHENTICATE_CLASS = "cases.sso.AuthenticateView"
LOGIN_REDIRECT_URL = "/admin/"
_OIDC_ENDPOINTS = (
    OIDC_OP_AUTHORIZATION_ENDPOINT, OIDC_OP_TOKEN_ENDPOINT, OIDC_OP_USER_ENDPOINT,
    OIDC_OP_JWKS_ENDPOINT,
)
SSO_ENABLED = bool(OIDC_RP_CLIENT_ID and (OIDC_ISSUER or all(_OIDC_ENDPOINTS)))
if OIDC_RP_CLIENT_ID and not SSO_ENABLED:
    raise ImproperlyConfigured(
        "OIDC_CLIENT_ID is set: set OIDC_ISSUER too, or all four of OIDC_AUTHORIZATION_ENDPOINT, "
        "OIDC_TOKEN_ENDPOINT, OIDC_USERINFO_ENDPOINT and OIDC_JWKS_ENDPOINT."
    )
if SSO_ENABLED and not (OIDC_OFFICER_GROUPS or OIDC_AUDITOR_GROUPS):
    raise ImproperlyConfigured(
        "Single sign-on needs OIDC_OFFICER_GROUPS and/or OIDC_AUDITOR_GROUPS: without them "
        "nobody could sign in through it."
    )
# The backend is always listed: it does nothing unless SSO_ENABLED (tests turn SSO on).
AUTHENTICATION_BACKENDS.append("cases.sso.OIDCBackend")

# Content-Security-Policy (django-csp) for every page but the portal, which sets a stricter one
# of its own (cases.portal): no inline script anywhere, only scripts carrying the request's
# nonce; styles from this host, plus the error pages' one inline <style> block by its hash
# (templates/errors/page.html is self-contained so that a 500 renders with nothing else working;
# tests/security/test_headers.py checks the hash against the template).
ERROR_PAGE_STYLE_HASH = "'sha256-6ShZ10XADNmiYiBg20UUPeG4ZMPrFldEDOgiAUjVvrE='"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, ERROR_PAGE_STYLE_HASH],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# Vendors (see connectors/README.md). A vendor whose credentials are empty is "not configured".
ADOBE_IMS_TOKEN_URL = env.str(
    "ADOBE_IMS_TOKEN_URL", default="https://ims-na1.adobelogin.com/ims/token/v3"
)
ADOBE_CLIENT_ID = env.str("ADOBE_CLIENT_ID", default="")
ADOBE_CLIENT_SECRET = env.str("ADOBE_CLIENT_SECRET", default="")
ADOBE_SCOPES = env.str(
    "ADOBE_SCOPES",
    default="openid,session,AdobeID,read_organizations,additional_info.projectedProductContext",
)
ADOBE_ORG_ID = env.str("ADOBE_ORG_ID", default="")
ADOBE_PRIVACY_BASE_URL = env.str(
    "ADOBE_PRIVACY_BASE_URL", default="https://platform.adobe.io/data/core/privacy"
)
ADOBE_HYGIENE_BASE_URL = env.str(
    "ADOBE_HYGIENE_BASE_URL", default="https://platform.adobe.io/data/core/hygiene"
)
ADOBE_SANDBOX_NAME = env.str("ADOBE_SANDBOX_NAME", default="")
ADOBE_HYGIENE_DATASET_ID = env.str("ADOBE_HYGIENE_DATASET_ID", default="")
ADOBE_DEFAULT_PRODUCTS = env.list("ADOBE_DEFAULT_PRODUCTS", default=[])
ID5_BASE_URL = env.str("ID5_BASE_URL", default="https://api.id5-sync.com")
ID5_PARTNER_ID = env.str("ID5_PARTNER_ID", default="")
ID5_TOKEN = env.str("ID5_TOKEN", default="")
# ID5 refuses more than this many deletion requests per partner per UTC day (counted here too).
ID5_DAILY_PARTNER_LIMIT = env.int("ID5_DAILY_PARTNER_LIMIT", default=3000)
# ID5 has no access API. `manual`: each access request gets a manual task for an officer to ask
# ID5 by email; `not_applicable`: ID5 access requests are recorded as not applicable.
ID5_ACCESS_REQUESTS = env.str("ID5_ACCESS_REQUESTS", default="manual").strip().lower()
if ID5_ACCESS_REQUESTS not in ("manual", "not_applicable"):
    raise ImproperlyConfigured(
        f"ID5_ACCESS_REQUESTS must be 'manual' or 'not_applicable', not "
        f"'{ID5_ACCESS_REQUESTS}'."
    )
RESULT_DOWNLOAD_HOSTS = env.list(
    "RESULT_DOWNLOAD_HOSTS", default=["platform.adobe.io", "api.id5-sync.com"]
)
# Seconds to wait for a vendor's answer (Adobe's gateway itself gives up after 60).
VENDOR_READ_TIMEOUT = env.int("VENDOR_READ_TIMEOUT", default=30)
# An interrupted Adobe submission not found in Adobe's job list after this many seconds is
# taken as never received and sent again (Adobe lists a job as soon as it is created).
RECONCILE_GRACE_SECONDS = env.int("RECONCILE_GRACE_SECONDS", default=300)
# So a burst of cases fills one Adobe request: submissions that follow an Adobe request by less
# than ADOBE_SEND_WINDOW_SECONDS wait until no other has come for that long, and at most
# ADOBE_SEND_MAX_WAIT_SECONDS (or until 1000 users wait). After a quiet spell they go at once.
ADOBE_SEND_WINDOW_SECONDS = env.float("ADOBE_SEND_WINDOW_SECONDS", default=3.0)
if not 0 <= ADOBE_SEND_WINDOW_SECONDS <= 300:
    raise ImproperlyConfigured("ADOBE_SEND_WINDOW_SECONDS must be between 0 and 300 seconds.")
ADOBE_SEND_MAX_WAIT_SECONDS = env.float("ADOBE_SEND_MAX_WAIT_SECONDS", default=30.0)
if not ADOBE_SEND_WINDOW_SECONDS <= ADOBE_SEND_MAX_WAIT_SECONDS <= 300:
    raise ImproperlyConfigured(
        "ADOBE_SEND_MAX_WAIT_SECONDS must be between ADOBE_SEND_WINDOW_SECONDS and 300 seconds.")
# Largest result file accepted from a vendor, in bytes (compressed, as downloaded).
RESULT_MAX_BYTES = env.int("RESULT_MAX_BYTES", default=2 * 1024**3)
# Result files are purged this many days after download (they hold personal data).
RESULT_RETENTION_DAYS = env.int("RESULT_RETENTION_DAYS", default=90)
# Files officers attach to a case (notes and attachments): the largest upload accepted, in bytes,
# and the allowed types by extension (PDF, PNG, JPEG and ZIP/DOCX are also checked by content).
ATTACHMENT_MAX_BYTES = env.int("ATTACHMENT_MAX_BYTES", default=10 * 1024**2)
_ATTACHMENT_TYPES = ["pdf", "png", "jpg", "jpeg", "txt", "csv", "eml", "zip", "docx"]
ATTACHMENT_TYPES = [
    kind.strip().lower().lstrip(".")
    for kind in env.list("ATTACHMENT_TYPES", default=_ATTACHMENT_TYPES)
    if kind.strip()
]
# Intake refuses a receipt date older than this many days (a mistyped year, an old ticket);
# officers and ticketing systems may backdate within it.
MAX_RECEIPT_AGE_DAYS = env.int("MAX_RECEIPT_AGE_DAYS", default=365)
if MAX_RECEIPT_AGE_DAYS < 0:
    raise ImproperlyConfigured("MAX_RECEIPT_AGE_DAYS must be 0 or more days.")

# Messages to data subjects (cases.messaging). EMAIL_URL is a django-environ email URL, e.g.
# smtp+tls://user:password@smtp.example.com:587. Unset with DEBUG on: every email is printed to
# the console and kept as an .eml file in var/outbox/ (cases.mail.OutboxBackend).
if env.str("EMAIL_URL", default=""):
    vars().update(env.email_url("EMAIL_URL"))
elif DEBUG:
    EMAIL_BACKEND = "cases.mail.OutboxBackend"
    EMAIL_FILE_PATH = BASE_DIR / "var" / "outbox"
# Seconds to wait for the mail server; without it a hung server would hold a worker forever.
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="privacy@localhost")
# Absolute base of the links in messages (the subject portal).
PUBLIC_BASE_URL = env.str(
    "PUBLIC_BASE_URL", default="http://127.0.0.1:8000" if DEV_DEFAULTS else ""
).rstrip("/")
# Send the acknowledgement when a case with a contact email is opened (API and admin intake).
AUTO_ACKNOWLEDGE = env.bool("AUTO_ACKNOWLEDGE", default=True)
# On PostgreSQL the admin's unfiltered case list shows the planner's row estimate instead of an
# exact COUNT(*) (a scan of the whole table) above this many cases; 0 always counts exactly.
ADMIN_COUNT_ESTIMATE_ABOVE = env.int("ADMIN_COUNT_ESTIMATE_ABOVE", default=10_000)
# Days a verification link (/portal/verify/<token>/) stays valid, and how many portal requests
# one address, or one link, may make per minute before the portal answers 429.
VERIFY_LINK_DAYS = env.int("VERIFY_LINK_DAYS", default=7)
PORTAL_ATTEMPTS_PER_MINUTE = env.int("PORTAL_ATTEMPTS_PER_MINUTE", default=10)
if VERIFY_LINK_DAYS < 1 or PORTAL_ATTEMPTS_PER_MINUTE < 1:
    raise ImproperlyConfigured("VERIFY_LINK_DAYS and PORTAL_ATTEMPTS_PER_MINUTE must be 1 or more.")
# The response link (/portal/response/<token>/): days it stays valid and how many downloads of
# the package it allows.
RESPONSE_LINK_DAYS = env.int("RESPONSE_LINK_DAYS", default=30)
RESPONSE_MAX_DOWNLOADS = env.int("RESPONSE_MAX_DOWNLOADS", default=5)
if RESPONSE_LINK_DAYS < 1 or RESPONSE_MAX_DOWNLOADS < 1:
    raise ImproperlyConfigured("RESPONSE_LINK_DAYS and RESPONSE_MAX_DOWNLOADS must be 1 or more.")

# django-q2: the ORM broker needs no extra service. `timeout` must stay below `retry`, or a slow
# task is handed to a second worker while the first still runs; `max_attempts` bounds redelivery
# (the default retries forever). Tests run tasks inline.
# Q_BROKER=redis hands tasks over through Redis (REDIS_URL) instead, for higher throughput; the
# work itself (pending jobs, schedules, results) stays in the database either way.
Q_BROKER = env.str("Q_BROKER", default="orm").strip().lower()
if Q_BROKER not in ("orm", "redis"):
    raise ImproperlyConfigured(f"Q_BROKER must be 'orm' or 'redis', not '{Q_BROKER}'.")
REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
Q_CLUSTER = {
    "name": "privacy-desk",
    **({"redis": REDIS_URL} if Q_BROKER == "redis" else {"orm": "default"}),
    "workers": env.int("Q_WORKERS", default=2),
    "timeout": 120,
    "retry": 180,
    "max_attempts": 3,
    "ack_failures": True,
    "catch_up": False,
    "save_limit": 1000,
    "sync": TESTING,
    "label": "Task queue",
}

# The REST API for the ticketing system (cases/api/): API keys only, JSON only, per-client rate.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["cases.api.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": ["cases.api.throttling.ApiClientRateThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "cases.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
}
# Requests per API client, e.g. 120/min, 10/s, 5000/hour (DRF's rate syntax).
API_THROTTLE_RATE = env.str("API_THROTTLE_RATE", default="120/min")
# Webhooks: seconds to wait for the client's server, attempts before giving up, and whether a
# webhook URL may resolve to a loopback or private address (the demo posts to localhost).
WEBHOOK_TIMEOUT = env.int("WEBHOOK_TIMEOUT", default=10)
WEBHOOK_MAX_ATTEMPTS = env.int("WEBHOOK_MAX_ATTEMPTS", default=8)
WEBHOOK_ALLOW_PRIVATE_NETWORKS = env.bool("WEBHOOK_ALLOW_PRIVATE_NETWORKS", default=DEBUG)

SPECTACULAR_SETTINGS = {
    "TITLE": "Privacy Desk API",
    # Markdown shown at the top of /api/v1/docs/: what the operations alone do not say.
    "DESCRIPTION": """
The ticketing system's API: open data subject request cases idempotently, read their status,
vendor jobs, results and audit trail, submit them, download result files.

**Authentication**: `Authorization: Api-Key <key>` (see the ApiKeyAuth scheme). A missing,
wrong or revoked key answers 401; a key without an operation's scope answers 403. Scopes:
`cases:read`, `cases:write`, `results:read`, and `cases:all` to see every case rather than only
the ones the client opened. Each client is rate-limited (429 with `Retry-After`).

**Errors**: 400 bodies map each field to its messages; every other error is `{"detail": "..."}`.

**Idempotency**: the same `external_ref` from the same client returns the existing case (200)
when the body is the same and 409 when it differs. An `Idempotency-Key` header replays the
first response exactly. Both hold under concurrent duplicates.

**Personal data**: the subject and identities are accepted but never returned.

**Webhooks**: on every status change of a case the client opened, Privacy Desk POSTs
`{"event_id", "event": "case.status_changed", "timestamp", "case": {"id", "reference",
"external_ref", "status", "previous_status", "status_changed_at", "due_at", "days_left"}}` to the
client's webhook URL (and event `message.failed`, with `case.message` = `{"id", "kind",
"status"}`, when a message to the subject failed for good; and event `case.verified`, with
`case.verification` = `{"method", "verified_at"}`, when the subject confirmed the email link) with
`X-PrivacyDesk-Signature: sha256=<hex HMAC-SHA256 of the raw body
keyed by the client's webhook secret>`, `X-PrivacyDesk-Timestamp` (also in the signed body),
`X-PrivacyDesk-Event` and `X-PrivacyDesk-Delivery`. Any answer but 2xx is retried with
exponential backoff; deliveries are at least once, so deduplicate on `event_id`.
""",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and docs are public: they describe the API and hold no data.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "ActionEnum": "cases.choices.Action",
        "IdentityTypeEnum": "cases.choices.IdentityType",
        "CaseStatusEnum": "cases.choices.CaseStatus",
        "JobStatusEnum": "cases.choices.JobStatus",
        "RegulationEnum": "cases.choices.Regulation",
        "MessageKindEnum": "cases.choices.MessageKind",
        "MessageStatusEnum": "cases.choices.MessageStatus",
        "VerificationMethodEnum": "cases.choices.VerificationMethod",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # Defence in depth: whatever logs a URL or header, secrets are masked on the way out.
    "filters": {"redact": {"()": "connectors.base.RedactingFilter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact"]}
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # urllib3 logs full request URLs at DEBUG, and ID5's token travels in the URL.
        "urllib3": {"level": "WARNING"},
        # django-axes logs every sign-in at INFO; its lockouts and errors are WARNING and up.
        "axes": {"level": "WARNING"},
        # Django's default config gives "django" its own console handler (DEBUG only) and
        # mail_admins; its records also reach the root handler, so each was printed twice.
        # Here they go to the root handler only, once.
        "django": {"handlers": [], "level": "INFO", "propagate": True},
    },
}

# Health and metrics (config/health.py). /metrics answers only with this bearer token (unset:
# 404). /readyz fails when no worker has finished a task for this many seconds (a scheduled sync
# runs every minute) or when more tasks than this wait in the queue.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
READYZ_WORKER_MAX_AGE = env.int("READYZ_WORKER_MAX_AGE", default=300)
READYZ_MAX_BACKLOG = env.int("READYZ_MAX_BACKLOG", default=1000)

# Production hardening; `manage.py check --deploy` passes with these when DEBUG is off.
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
# Django's CSRF middleware is there, as cases.security.CsrfViewMiddleware (a subclass fit for
# no-referrer), which this check cannot see; tests/security/test_headers.py checks it is listed.
SILENCED_SYSTEM_CHECKS = [*SILENCED_SYSTEM_CHECKS, "security.W003"]
# Pages show personal data, and admin URLs may hold search terms: send no Referer at all.
SECURE_REFERRER_POLICY = "no-referrer"
if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not TESTING)
    # Probes from the orchestrator speak plain HTTP to the process; these hold no data.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
    if env.bool("BEHIND_TLS_PROXY", default=False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
