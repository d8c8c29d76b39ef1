"""The figures of a bench run, printed as one Markdown table (README's benchmark section)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    """One measure beside its baseline from the same run; `ratio` is ours / baseline."""

    measure: str
    baseline_label: str
    baseline: float
    ours: float
    unit: str
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.ours / self.baseline if self.baseline else float("nan")


def _figure(value: float, unit: str) -> str:
    if unit in ("calls", "SQL", "rows"):
        return f"{value:,.0f} {unit.removesuffix('s') if value == 1 else unit}"
    if value < 10:
        return f"{value:,.2f} {unit}"
    return f"{value:,.1f} {unit}" if value < 100 else f"{value:,.0f} {unit}"


def render(rows: list[Row]) -> str:
    lines = [
        "| measure | baseline (same run) | Privacy Desk | ratio | notes |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        lines.append(
            f"| {row.measure} | {row.baseline_label}: {_figure(row.baseline, row.unit)} "
            f"| {_figure(row.ours, row.unit)} | {row.ratio:.2f}× | {row.note} |"
        )
    return "\n".join(lines)
