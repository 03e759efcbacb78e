"""Self-contained HTML: one file, inline CSS, figures embedded as PNG data URIs (opens offline, mails as is)."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.9em;margin:.5em 0}
td,th{border:1px solid #ddd;padding:3px 7px;text-align:right}
th{background:#f4f4f4}td.l,th.l{text-align:left}.tok{display:inline-block;padding:1px 3px;margin:1px;border-radius:3px}
.note{color:#555;font-size:.9em}img{max-width:100%}
"""


def esc(text: object) -> str:
    return html.escape(str(text))


def figure_uri(fig: plt.Figure, save_as: Path | None = None) -> str:
    """The figure as a PNG data URI (and as a file when ``save_as``); closes it."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    data = buf.getvalue()
    if save_as is not None:
        save_as.write_bytes(data)
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def image(uri: str, alt: str) -> str:
    return f'<img src="{uri}" alt="{esc(alt)}">'


def table(header: Sequence[str], rows: Sequence[Sequence[object]], left: int = 1) -> str:
    """An HTML table; the first ``left`` columns are left-aligned (names), the rest right-aligned (numbers)."""

    def cells(row: Sequence[object], tag: str) -> str:
        return "".join(f"<{tag}{' class=l' if i < left else ''}>{esc(v)}</{tag}>" for i, v in enumerate(row))

    body = "".join(f"<tr>{cells(r, 'td')}</tr>" for r in rows)
    return f"<table><tr>{cells(header, 'th')}</tr>{body}</table>"


def heat_tokens(tokens: Sequence[str], scores: Sequence[float], skip: Sequence[bool] = ()) -> str:
    """Tokens on a red (for the prediction) / blue (against) background scaled by |score| / max |score|."""
    words = [s for s, k in zip(scores, skip or [False] * len(scores), strict=True) if not k]
    top = max((abs(s) for s in words), default=0.0) or 1.0
    spans = []
    for i, (tok, s) in enumerate(zip(tokens, scores, strict=True)):
        a = 0.0 if skip and skip[i] else min(1.0, abs(s) / top)
        rgb = "214,39,40" if s >= 0 else "31,119,180"
        spans.append(f'<span class="tok" style="background:rgba({rgb},{a:.2f})" title="{s:.4g}">{esc(tok)}</span>')
    return "".join(spans)


# Once loaded, the page records how many of its figures the browser decoded (a check for tests and for readers
# whose mail client strips images): <body data-images="decoded/total">.
ON_LOAD = (
    "addEventListener('load',()=>{const i=[...document.images];"
    "document.body.dataset.images=i.filter(x=>x.naturalWidth>0).length+'/'+i.length})"
)


def page(title: str, sections: Sequence[tuple[str, str]]) -> str:
    body = "".join(f"<h2>{esc(h)}</h2>{content}" if h else content for h, content in sections)
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{esc(title)}</title><style>{STYLE}</style>'
        f"<script>{ON_LOAD}</script></head><body><h1>{esc(title)}</h1>{body}</body></html>"
    )


def write(path: Path, title: str, sections: Sequence[tuple[str, str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page(title, sections), encoding="utf-8")
    return path
