"""``bot-db rehearse --report FILE.html``: the bot's call latency over time, each revision marked.

A stall is something people would rather see than read: one self-contained
page (no script, no network: the chart is SVG inline, its text drawn as
paths) with every bot call as a dot at the moment it started and the time it
took, each revision's window shaded and labelled with the locks it took, and
the budget as a line. Below it, the table the command prints.

Drawn with matplotlib (the ``report`` extra: ``pip install
'bot-persistence[report]'``), imported only here and only when a report is
asked for.
"""

from __future__ import annotations

import html
import io
from pathlib import Path

from bot_persistence.devdb.rehearsal import RehearsalReport
from bot_persistence.errors import ConfigurationError

__all__ = ["render", "write_report"]

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #1b1b1b; }
h1 { font-size: 1.4rem; } .ok { color: #1a7f37; } .bad { color: #c62828; }
table { border-collapse: collapse; margin-top: 1rem; }
td, th { border: 1px solid #ccc; padding: 0.3rem 0.6rem; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } svg { max-width: 100%; height: auto; }
"""


def _chart(report: RehearsalReport) -> str:
    """The latency chart as an SVG document."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot
    except ImportError:
        raise ConfigurationError(
            "--report draws with matplotlib, which is not installed: "
            "pip install 'bot-persistence[report]'"
        ) from None
    figure, axes = pyplot.subplots(figsize=(11, 5), dpi=100)
    try:
        good = [c for c in report.calls if not c.error]
        bad = [c for c in report.calls if c.error]
        axes.scatter([c.started for c in good], [c.ms for c in good], s=4, alpha=0.5,
                     color="#1f77b4", label="bot call")  # fmt: skip
        if bad:
            axes.scatter([c.started for c in bad], [c.ms for c in bad], s=14, marker="x",
                         color="#c62828", label="bot call that failed")  # fmt: skip
        axes.axhline(report.budget_ms, color="#c62828", linestyle="--", linewidth=1,
                     label=f"budget {report.budget_ms:.0f} ms")  # fmt: skip
        for index, revision in enumerate(report.revisions):
            over = revision.over(report.budget_ms)
            axes.axvspan(revision.started, revision.ended, alpha=0.18,
                         color="#c62828" if over else "#2e7d32")  # fmt: skip
            locks = "\n".join(f"{mode} {table}" for mode, table in revision.locks[:4])
            axes.annotate(
                f"{revision.revision}\n{locks}",
                xy=(revision.started, 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(3, -4 - 12 * (index % 3)),
                textcoords="offset points",
                va="top",
                fontsize=7,
            )
        axes.set_yscale("log")
        axes.set_xlabel("seconds since the rehearsal started")
        axes.set_ylabel("call latency (ms, log scale)")
        axes.set_title("The bot's calls while the revisions were applied")
        axes.legend(loc="lower right", fontsize=8)
        figure.tight_layout()
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg")
    finally:
        pyplot.close(figure)
    svg = buffer.getvalue()
    return svg[svg.index("<svg") :]


def render(report: RehearsalReport) -> str:
    """The whole page."""
    worst = report.worst
    verdict = (
        '<p class="ok">Every revision kept the bot within its budget.</p>'
        if worst is None
        else f'<p class="bad">Revision {html.escape(worst.revision)} failed the rehearsal.</p>'
    )
    rows = []
    for r in report.revisions:
        locks = "<br>".join(html.escape(f"{mode} {table}") for mode, table in r.locks) or "none"
        rewrites = ", ".join(f"{t} ({n:,} rows)" for t, n in r.rewritten.items()) or "none"
        errors = "<br>".join(html.escape(e) for e in r.errors) or "none"
        rows.append(
            f"<tr><td>{html.escape(r.revision)}<br>{html.escape(r.message)}</td>"
            f"<td>{r.seconds:.2f} s</td><td>{locks}</td>"
            f"<td>{r.blocked_ms:.0f} ms</td><td>{r.p99_ms:.0f} ms</td>"
            f"<td>{rewrites}</td><td>{errors}</td>"
            f'<td class="{"bad" if r.over(report.budget_ms) else "ok"}">'
            f"{'over budget' if r.over(report.budget_ms) else 'ok'}</td></tr>"
        )
    data = ", ".join(f"{count:,} {table}" for table, count in report.rows.items())
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Migration rehearsal</title><style>{_STYLE}</style></head>
<body>
<h1>Migration rehearsal from {html.escape(report.start or "base")}</h1>
{verdict}
<p>Scale {report.scale} ({html.escape(data)}); budget {report.budget_ms:.0f} ms;
baseline p99 {report.baseline_p99_ms:.1f} ms over {len(report.calls):,} bot calls.</p>
<figure>{_chart(report)}</figure>
<table>
<tr><th>revision</th><th>wall time</th><th>locks</th><th>longest wait on it</th>
<th>p99 during it</th><th>rewritten</th><th>bot errors</th><th>verdict</th></tr>
{"".join(rows)}
</table>
</body></html>
"""


def write_report(report: RehearsalReport, path: Path) -> None:
    """Write the page to ``path``."""
    path.write_text(render(report), encoding="utf-8")
