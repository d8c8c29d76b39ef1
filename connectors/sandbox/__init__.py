"""Vendor sandbox: a stateful stand-in for Adobe IMS, Privacy Service, Data Hygiene and ID5.

Served on loopback for the demo, end-to-end tests and benchmarks, standard library only (it must
not import Django nor the connectors it is meant to catch out). Each vendor lives under its own
prefix with the vendor's paths below it:

- ``/adobe/ims/ims/token/v3``                       Adobe IMS (client_credentials)
- ``/adobe/privacy/jobs``, ``/jobs/{jobId}``          Adobe Privacy Service
- ``/adobe/download/{jobId}.zip?sig=...``             result ZIPs (a pre-signed URL: no auth)
- ``/adobe/hygiene/workorder[/{id}]``, ``/quota``     Adobe Data Hygiene
- ``/id5/partners/v1/{PARTNER}/privacy/requests/...`` ID5 deletion requests

Jobs advance through the vendors' statuses on a virtual clock (``speed`` seconds per step;
``0`` = instant, ``None`` = manual). The control API under ``/_sandbox`` (see ``control.py``)
reads request counters and redacted bodies, resets state, arms faults (5xx, 429 with/without
Retry-After, slow, timeout, dropped connections before/after applying, malformed JSON), advances
time and forces outcomes. Markers in identity values pick outcomes too (``sandbox-error`` ...):
see README.md.

Usage::

    from connectors.sandbox import SandboxServer
    with SandboxServer(port=0, speed=0) as sandbox:
        requests.post(f"{sandbox.url}/adobe/ims/ims/token/v3", data={...})
        sandbox.count("adobe_privacy", "create_jobs")
"""

from .config import SandboxConfig
from .server import SandboxServer
from .state import SandboxState

__all__ = ["SandboxConfig", "SandboxServer", "SandboxState"]
