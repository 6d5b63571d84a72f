"""A horizontal bar chart as SVG, for docs/benchmarks.md (no plotting library needed)."""

from __future__ import annotations

from html import escape

ROW_H = 28
LABEL_W = 330
BAR_W = 360
VALUE_W = 90
TOP = 40


def bar_chart(title: str, bars: list[tuple[str, float]], unit: str) -> str:
    """`bars` as (label, value); the longest bar spans the plot width."""
    longest = max(value for _, value in bars) or 1.0
    width = LABEL_W + BAR_W + VALUE_W
    height = TOP + ROW_H * len(bars) + 12
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="13">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="8" y="22" font-size="15" font-weight="bold">{escape(title)}</text>',
    ]
    for row, (label, value) in enumerate(bars):
        y = TOP + row * ROW_H
        length = max(1.0, BAR_W * value / longest)
        parts += [
            f'<text x="{LABEL_W - 8}" y="{y + 17}" text-anchor="end">{escape(label)}</text>',
            f'<rect x="{LABEL_W}" y="{y + 4}" width="{length:.1f}" height="{ROW_H - 8}" '
            'fill="#3f6fb5"/>',
            f'<text x="{LABEL_W + length + 6:.1f}" y="{y + 17}">{value:,.0f} {escape(unit)}</text>',
        ]
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
