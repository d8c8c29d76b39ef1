"""gunicorn settings, read by `gunicorn config.wsgi` from the project root (gunicorn's default
`./gunicorn.conf.py`). Every value comes from the environment (or `.env`), like Django's.

Each worker process runs `threads` requests at once and each request holds at most one database
connection, so keep DB_POOL_MAX_SIZE >= GUNICORN_THREADS (README "Connection budget").
"""

from pathlib import Path

import environ

env = environ.Env()
environ.Env.read_env(Path(__file__).resolve().parent / ".env", overwrite=False)

wsgi_app = "config.wsgi:application"
bind = env.list("GUNICORN_BIND", default=["127.0.0.1:8000"])
# Processes; each loads the app once (preload would share one pool's sockets across forks).
workers = env.int("WEB_CONCURRENCY", default=2)
threads = env.int("GUNICORN_THREADS", default=4)
worker_class = "gthread"
# A request running longer than this is killed and its worker restarted.
timeout = env.int("GUNICORN_TIMEOUT", default=60)
graceful_timeout = env.int("GUNICORN_GRACEFUL_TIMEOUT", default=30)
keepalive = 5
# Recycle workers now and then so slow leaks cannot grow for ever; jitter avoids all at once.
max_requests = env.int("GUNICORN_MAX_REQUESTS", default=5000)
max_requests_jitter = max_requests // 10

accesslog = "-"
errorlog = "-"
# The path only (%(U)s), never the query string or the referrer: search terms and links can
# carry personal data; nor the client's address (a data subject's IP is personal data too; the
# TLS proxy's log has it if you need it). Time, method, path, protocol, status, bytes, ms.
access_log_format = '%(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms'
# Behind a TLS proxy on the same host, trust its X-Forwarded-* headers (see BEHIND_TLS_PROXY).
forwarded_allow_ips = env.str("FORWARDED_ALLOW_IPS", default="127.0.0.1")
