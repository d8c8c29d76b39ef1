"""Virtual clock and the status path every simulated vendor job walks along."""

from __future__ import annotations

import datetime as dt
import math
import time
from dataclasses import dataclass, field


class Clock:
    """Wall-clock time plus an offset that ``POST /_sandbox/advance {"seconds": N}`` grows."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds

    def utc_day(self) -> str:
        return utc(self.now()).date().isoformat()


def utc(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC)


def adobe_date(ts: float) -> str:
    """Privacy Service dates: ``MM/dd/yyyy hh:mm a GMT`` (not ISO 8601)."""
    moment = utc(ts)
    hour = moment.hour % 12 or 12
    half = "AM" if moment.hour < 12 else "PM"
    return f"{moment:%m/%d/%Y} {hour:02d}:{moment:%M} {half} GMT"


def iso_date(ts: float) -> str:
    """Data Hygiene dates: ISO 8601 with milliseconds and ``Z``."""
    return utc(ts).strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc(ts).microsecond // 1000:03d}Z"


@dataclass
class Progress:
    """Where a job is on its path of statuses; the last entry is final.

    The step a job has reached is ``bonus`` (manual advances) plus the steps elapsed on the
    virtual clock at the configured speed; it never goes back.
    """

    path: list[str]
    created: float
    step: int = 0
    bonus: int = 0
    modified: float = 0.0
    reached: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.modified = self.modified or self.created
        self.reached.setdefault(self.path[0], self.created)

    @property
    def status(self) -> str:
        return self.path[self.step]

    @property
    def final(self) -> bool:
        return self.step >= len(self.path) - 1

    def refresh(self, now: float, speed: float | None) -> None:
        """Move to the step the clock and manual advances say; record when it changed."""
        target = min(len(self.path) - 1, self.bonus + _elapsed_steps(self.created, now, speed))
        while self.step < target:
            self.step += 1
            self.modified = now
            self.reached[self.path[self.step]] = now

    def reroute(self, path: list[str]) -> None:
        """Switch to another path (an outcome set from the control API), keeping the step."""
        self.path = path
        self.step = min(self.step, len(path) - 1)


def _elapsed_steps(created: float, now: float, speed: float | None) -> int:
    if speed is None:
        return 0
    if speed <= 0:
        return 1_000_000
    return max(0, math.floor((now - created) / speed))
