"""The HTML report of a checked history: one self-contained file (inline CSS and SVG, no
scripts, no external assets).

Each key gets a timeline: one row per client, one bar per operation from invocation to
completion (an indeterminate one fades out to the end of the history, a failed one is grey),
numbered in the order the checker linearized it. For an illegal key the bars of the longest
linearizable prefix are numbered and the operation that cannot be placed after them is red.
Faults are shaded bands across every timeline, on the same time axis; leader changes are
bands from one leader event to the next.
"""

from __future__ import annotations

import html
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from senate.check import (
    CheckIllegal,
    CheckResult,
    CheckUnknown,
    Event,
    History,
    Operation,
    describe,
)

__all__ = ["MAX_REPORT_KEYS", "MAX_REPORT_OPS_PER_KEY", "render_html", "write_html"]

#: Keys drawn, at most (the illegal and unknown keys first); the others are only counted.
MAX_REPORT_KEYS = 100
#: Operations drawn per key, at most (the first by invocation).
MAX_REPORT_OPS_PER_KEY = 2_000

_WIDTH_PX = 1100
_LABEL_PX = 90
_ROW_PX = 22
#: The strip above the rows that labels the bands: leaders on its first line, faults below.
_BANDS_PX = 26
#: The time axis below the rows.
_AXIS_PX = 16
_BAR_PX = 14
#: Band colours per event kind (leader bands alternate between two).
_PARTITION_COLOUR = "#b9a3f4"
_BAND_COLOURS = {
    "kill": "#f4a3a3",
    "pause": "#f7d08a",
    "isolate-leader": _PARTITION_COLOUR,
    "split": _PARTITION_COLOUR,
    "bridge": _PARTITION_COLOUR,
    "one-way": _PARTITION_COLOUR,
    "partition": _PARTITION_COLOUR,
    "disk-stall": "#a3d3f4",
    "snapshot": "#c8e6c9",
    "transfer": "#f4c3e9",
}
_LEADER_COLOURS = ("#eef3fb", "#fbf6ee")

_CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; }
h1 { font-size: 20px; } h2 { font-size: 16px; margin-top: 28px; }
.verdict { padding: 10px 14px; border-radius: 6px; display: inline-block; font-weight: 600; }
.ok { background: #e3f4e1; } .illegal { background: #fbe0e0; } .unknown { background: #fdf0d5; }
table { border-collapse: collapse; margin: 8px 0; }
td, th { padding: 2px 10px; text-align: left; border-bottom: 1px solid #eee; }
code { background: #f4f4f4; padding: 0 3px; }
svg text { font: 10px monospace; }
.legend span { display: inline-block; margin-right: 14px; }
.swatch { display: inline-block; width: 12px; height: 12px; vertical-align: middle;
          margin-right: 4px; border: 1px solid #888; }
"""


@dataclass(frozen=True)
class _Axis:
    """Maps nanoseconds in `[start_ns, end_ns]` to pixels in the plot area."""

    start_ns: int
    end_ns: int

    def x(self, t_ns: int) -> float:
        span = max(1, self.end_ns - self.start_ns)
        return _LABEL_PX + (t_ns - self.start_ns) / span * (_WIDTH_PX - _LABEL_PX - 10)

    def ms(self, t_ns: int) -> str:
        """`t_ns` from the start, in a unit that suits the whole span."""
        span = self.end_ns - self.start_ns
        unit, scale = ("s", 1e9) if span >= 1e10 else ("ms", 1e6) if span >= 1e7 else ("µs", 1e3)
        if span < 1e4:
            unit, scale = "ns", 1.0
        return f"{(t_ns - self.start_ns) / scale:.4g} {unit}"


def _axis(history: History) -> _Axis:
    times = [op.invoke_ns for op in history.operations]
    times += [op.complete_ns for op in history.operations if op.complete_ns is not None]
    for event in history.events:
        times.append(event.start_ns)
        if event.end_ns is not None:
            times.append(event.end_ns)
    if not times:
        return _Axis(0, 1)
    return _Axis(min(times), max(times) + 1)


def _bands(events: Sequence[Event], axis: _Axis) -> list[tuple[int, int, str, str]]:
    """(start_ns, end_ns, colour, label) of every band, leader bands first (drawn below)."""
    leaders = sorted((e for e in events if e.kind == "leader"), key=lambda e: e.start_ns)
    bands = []
    for i, event in enumerate(leaders):
        end = leaders[i + 1].start_ns if i + 1 < len(leaders) else axis.end_ns
        who = ",".join(f"n{n}" for n in event.nodes) or "?"
        bands.append((event.start_ns, end, _LEADER_COLOURS[i % 2], f"leader {who}"))
    for event in events:
        if event.kind == "leader":
            continue
        end = event.end_ns if event.end_ns is not None else axis.end_ns
        nodes = ",".join(f"n{n}" for n in event.nodes)
        label = " ".join(part for part in (event.kind, nodes, event.note) if part)
        bands.append((event.start_ns, end, _BAND_COLOURS.get(event.kind, "#ddd"), label))
    return bands


def _bar(
    op: Operation,
    y: float,
    axis: _Axis,
    position: int | None,
    colour: str,
    outline: str,
) -> str:
    x0 = axis.x(op.invoke_ns)
    end = op.complete_ns if op.outcome == "ok" and op.complete_ns is not None else axis.end_ns
    x1 = max(axis.x(end), x0 + 2)
    place = f"; linearized #{position}" if position is not None else ""
    completed = axis.ms(op.complete_ns) if op.complete_ns is not None else "never"
    title = (
        f"op {op.id}, client {op.client_id}: {describe(op)} ({op.outcome}); "
        f"invoked {axis.ms(op.invoke_ns)}, completed {completed}{place}"
    )
    fill = "url(#fade)" if op.outcome == "indeterminate" else colour
    dash = ' stroke-dasharray="3 2"' if op.outcome != "ok" else ""
    width = 2.5 if outline == "#c00" else 1
    parts = [
        f'<g><title>{html.escape(title)}</title><rect x="{x0:.1f}" y="{y:.1f}" '
        f'width="{x1 - x0:.1f}" height="{_BAR_PX}" rx="2" fill="{fill}" stroke="{outline}" '
        f'stroke-width="{width}"{dash}/>'
    ]
    label = (f"#{position} " if position is not None else "") + describe(op)
    if x1 - x0 > 6.2 * len(label):
        parts.append(f'<text x="{x0 + 3:.1f}" y="{y + 11:.1f}">{html.escape(label)}</text>')
    elif position is not None and x1 - x0 > 6.2 * len(f"#{position}"):
        parts.append(f'<text x="{x0 + 3:.1f}" y="{y + 11:.1f}">#{position}</text>')
    parts.append("</g>")
    return "".join(parts)


def _timeline(
    ops: Sequence[Operation],
    axis: _Axis,
    bands: Sequence[tuple[int, int, str, str]],
    order: Mapping[int, int],
    blocked: int | None,
) -> str:
    clients = sorted({op.client_id for op in ops})
    row = {client: i for i, client in enumerate(clients)}
    rows_end = _BANDS_PX + _ROW_PX * len(clients) + 4
    height = rows_end + _AXIS_PX
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH_PX}" height="{height}">',
        '<defs><linearGradient id="fade"><stop offset="0" stop-color="#f0c36d"/>'
        '<stop offset="1" stop-color="#f0c36d" stop-opacity="0.05"/></linearGradient></defs>',
    ]
    for start, end, colour, label in bands:
        x0, x1 = axis.x(start), max(axis.x(end), axis.x(start) + 2)
        # Leader names on the first line of the strip, faults on the second; a label is cut
        # to its band's width (6 px a character), so neighbours do not overprint.
        y = 10 if label.startswith("leader ") else 22
        text = label[: max(0, int((x1 - x0 - 2) / 6.2))]
        out.append(
            f'<g><title>{html.escape(label)}</title><rect x="{x0:.1f}" y="0" '
            f'width="{x1 - x0:.1f}" height="{rows_end}" fill="{colour}" opacity="0.6"/>'
            f'<text x="{x0 + 2:.1f}" y="{y}">{html.escape(text)}</text></g>'
        )
    for i in range(6):
        t = axis.start_ns + (axis.end_ns - axis.start_ns) * i // 5
        x = axis.x(t)
        out.append(
            f'<line x1="{x:.1f}" y1="{_BANDS_PX}" x2="{x:.1f}" y2="{rows_end}" stroke="#ddd"/>'
        )
        anchor = "end" if i == 5 else "middle" if i else "start"
        y = height - 4
        out.append(f'<text x="{x:.1f}" y="{y}" text-anchor="{anchor}">{axis.ms(t)}</text>')
    for client in clients:
        y = _BANDS_PX + row[client] * _ROW_PX + 11
        out.append(f'<text x="4" y="{y + 4}">client {client}</text>')
    for op in ops:
        y = _BANDS_PX + row[op.client_id] * _ROW_PX + 4
        position = order.get(op.id)
        if op.id == blocked:
            colour, outline = "#f5b5b5", "#c00"
        elif op.outcome == "failed":
            colour, outline = "#ddd", "#999"
        elif position is not None:
            colour, outline = "#9cc3e8", "#3a6ea5"
        else:
            colour, outline = "#eee", "#999"
        out.append(_bar(op, y, axis, position, colour, outline))
    out.append("</svg>")
    return "\n".join(out)


def _summary(history: History, result: CheckResult, by_id: Mapping[int, Operation]) -> str:
    outcomes = Counter(op.outcome for op in history.operations)
    events = Counter(event.kind for event in history.events)
    rows = [
        ("model", history.model),
        ("operations", str(len(history.operations))),
        *((f"&nbsp;&nbsp;{name}", str(outcomes[name])) for name in sorted(outcomes)),
        ("keys", str(result.parts)),
        ("search steps", str(result.steps)),
        *((f"event: {name}", str(count)) for name, count in sorted(events.items())),
    ]
    table = "".join(f"<tr><th>{name}</th><td>{value}</td></tr>" for name, value in rows)
    if isinstance(result, CheckIllegal):
        op = by_id[result.blocked]
        verdict = (
            f'<div class="verdict illegal">illegal: key <code>{html.escape(result.key)}</code>: '
            f"op {op.id} (client {op.client_id}, <code>{html.escape(describe(op))}</code>) "
            f"cannot be placed after the {len(result.prefix)} operations of the longest "
            f"linearizable prefix, which leave the state <code>{html.escape(result.state)}"
            "</code></div>"
        )
    elif isinstance(result, CheckUnknown):
        keys = ", ".join(result.keys)
        verdict = (
            f'<div class="verdict unknown">unknown: the search of {html.escape(keys)} ran out '
            "of budget (not a pass)</div>"
        )
    else:
        verdict = '<div class="verdict ok">ok: every key is linearizable</div>'
    legend = (
        '<p class="legend">'
        '<span><i class="swatch" style="background:#9cc3e8"></i>linearized (#: order)</span>'
        '<span><i class="swatch" style="background:#f5b5b5;border-color:#c00"></i>'
        "cannot be placed</span>"
        '<span><i class="swatch" style="background:#f0c36d"></i>indeterminate</span>'
        '<span><i class="swatch" style="background:#ddd"></i>failed (not applied)</span>'
        '<span><i class="swatch" style="background:#eee"></i>not placed</span></p>'
    )
    return f"{verdict}<table>{table}</table>{legend}"


def _keys_in_report_order(result: CheckResult, keys: Iterable[str]) -> list[str]:
    first: list[str] = []
    if isinstance(result, CheckIllegal):
        first = [result.key]
    elif isinstance(result, CheckUnknown):
        first = list(result.keys)
    return first + sorted(set(keys) - set(first))


def render_html(history: History, result: CheckResult) -> str:
    """The report of `history` checked with `result`, as one HTML document."""
    by_id = {op.id: op for op in history.operations}
    by_key: dict[str, list[Operation]] = defaultdict(list)
    for op in history.operations:
        by_key[op.key].append(op)
    axis = _axis(history)
    bands = _bands(history.events, axis)
    sections = []
    keys = _keys_in_report_order(result, by_key)
    for key in keys[:MAX_REPORT_KEYS]:
        ops = sorted(by_key[key], key=lambda op: (op.invoke_ns, op.id))
        blocked = None
        if isinstance(result, CheckIllegal) and key == result.key:
            order = {op_id: i + 1 for i, op_id in enumerate(result.prefix)}
            blocked = result.blocked
            status = "illegal: numbered bars are the longest linearizable prefix"
        else:
            linearization = result.linearizations.get(key)
            order = {op_id: i + 1 for i, op_id in enumerate(linearization or ())}
            status = "linearizable" if linearization is not None else "not checked to the end"
            if isinstance(result, CheckUnknown) and key in result.keys:
                status = "unknown: out of budget"
        shown = ops[:MAX_REPORT_OPS_PER_KEY]
        more = f" (the first {len(shown)} of {len(ops)} drawn)" if len(shown) < len(ops) else ""
        sections.append(
            f"<h2>key <code>{html.escape(key)}</code>: {len(ops)} operations, {status}{more}</h2>"
            + _timeline(shown, axis, bands, order, blocked)
        )
    if len(keys) > MAX_REPORT_KEYS:
        sections.append(f"<p>{len(keys) - MAX_REPORT_KEYS} more keys are not drawn.</p>")
    title = f"senate check: {result.status}"
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{_CSS}</style></head><body><h1>{title}</h1>"
        + _summary(history, result, by_id)
        + "\n".join(sections)
        + "</body></html>\n"
    )


def write_html(path: str | Path, history: History, result: CheckResult) -> None:
    """Writes the report of `history` checked with `result` to `path`."""
    Path(path).write_text(render_html(history, result), encoding="utf-8")
