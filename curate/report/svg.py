"""Hand-written SVG charts: small, deterministic, no fonts or scripts to fetch."""

from __future__ import annotations

from html import escape

PALETTE = ("#3b6ea8", "#c8553d", "#6a994e", "#8e6c8a", "#d4a017", "#5b8e7d")


def bars(
    items: list[tuple[str, float]],
    title: str,
    value_format: str = "{:,.0f}",
    color: str = PALETTE[0],
    width: int = 640,
) -> str:
    """Horizontal bars, one per (label, value), labels on the left, values at the bar ends."""
    row, top, left = 22, 28, 250
    height = top + row * max(len(items), 1) + 10
    peak = max((v for _, v in items), default=0) or 1
    span = width - left - 90
    parts = [_open(width, height, title)]
    for i, (label, value) in enumerate(items):
        y = top + i * row
        w = max(value / peak * span, 1 if value else 0)
        parts.append(
            f'<text x="{left - 6}" y="{y + 15}" text-anchor="end">{escape(_clip(label))}</text>'
            f'<rect x="{left}" y="{y + 3}" width="{w:.1f}" height="{row - 6}" fill="{color}">'
            f"<title>{escape(label)}: {escape(value_format.format(value))}</title></rect>"
            f'<text x="{left + w + 5:.1f}" y="{y + 15}">{escape(value_format.format(value))}</text>'
        )
    if not items:
        parts.append(f'<text x="{left}" y="{top + 15}">no data</text>')
    parts.append("</svg>")
    return "".join(parts)


def histogram(
    edges: list[float],
    series: list[tuple[str, list[int]]],
    title: str,
    x_label: str,
    width: int = 640,
    height: int = 260,
) -> str:
    """Side-by-side columns per bin (log-spaced edges), trimmed to the bins that hold data."""
    used = [i for i in range(len(edges) - 1) if any(s[i] for _, s in series)]
    parts = []
    left, right, top, bottom = 50, 10, 28, 46
    if not used:
        parts = [_open(width, 80, title), f'<text x="{left}" y="50">no data</text></svg>']
        return "".join(parts)
    lo, hi = used[0], used[-1] + 1
    n = hi - lo
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max(max(s[lo:hi]) for _, s in series) or 1
    slot = plot_w / n
    bar = slot / len(series)
    parts.append(_open(width, height, title))
    parts.append(
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" '
        'stroke="#888"/>'
        f'<text x="{left - 4}" y="{top + 8}" text-anchor="end">{peak:,}</text>'
        f'<text x="{left - 4}" y="{top + plot_h}" text-anchor="end">0</text>'
    )
    for k, (name, counts) in enumerate(series):
        color = PALETTE[k % len(PALETTE)]
        for j, i in enumerate(range(lo, hi)):
            c = counts[i]
            if not c:
                continue
            h = max(c / peak * plot_h, 1)
            x = left + j * slot + k * bar
            parts.append(
                f'<rect x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{max(bar - 1, 1):.1f}" '
                f'height="{h:.1f}" fill="{color}"><title>{escape(name)} '
                f"[{edges[i]:,.0f}, {edges[i + 1]:,.0f}): {c:,}</title></rect>"
            )
        parts.append(
            f'<rect x="{width - right - 110}" y="{top + 14 * k}" width="10" height="10" '
            f'fill="{color}"/><text x="{width - right - 96}" y="{top + 9 + 14 * k}">'
            f"{escape(name)}</text>"
        )
    step = max(1, n // 8)
    for j in range(0, n + 1, step):
        x = left + j * slot
        parts.append(
            f'<text x="{x:.1f}" y="{top + plot_h + 16}" text-anchor="middle">'
            f"{edges[lo + j]:,.0f}</text>"
        )
    parts.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 6}" text-anchor="middle">'
        f"{escape(x_label)}</text></svg>"
    )
    return "".join(parts)


def _open(width: int, height: int, title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="plot" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" font-family="sans-serif" font-size="12">'
        f'<text x="4" y="16" font-weight="bold">{escape(title)}</text>'
    )


def _clip(label: str, n: int = 38) -> str:
    return label if len(label) <= n else label[: n - 1] + "\u2026"
