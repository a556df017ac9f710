#!/usr/bin/env python3
"""Chart of listing cost per file against tree size, from bench-scale.sh's cost-per-file.tsv.

    scripts/scale-chart.py WORK/cost-per-file.tsv docs/scale-cost-per-file.svg

Standard library only: an SVG with one line per filesystem (direct, mirror, deidfs), tree
size on a log axis, microseconds of cold `ls -lR` per file on a linear one.
"""
import csv
import math
import sys

COLOURS = {"direct": "#888888", "mirror": "#1f77b4", "deidfs": "#d62728"}
W, H, L, R, T, B = 560, 320, 60, 110, 30, 45


def main(tsv, out):
    rows = {}
    with open(tsv) as f:
        for r in csv.DictReader(f, delimiter="\t"):
            rows.setdefault(r["fs"], []).append((int(r["files"]), float(r["cold ls -lR us/file"])))
    sizes = sorted({n for pts in rows.values() for n, _ in pts})
    top = max(c for pts in rows.values() for _, c in pts) * 1.15
    lo, hi = math.log10(min(sizes)), math.log10(max(sizes))
    span = (hi - lo) or 1

    def x(n):
        return L + (math.log10(n) - lo) / span * (W - L - R)

    def y(c):
        return H - B - c / top * (H - T - B)

    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
           f'<text x="{L}" y="18">cold ls -lR: microseconds per file</text>',
           f'<line x1="{L}" y1="{H - B}" x2="{W - R}" y2="{H - B}" stroke="black"/>',
           f'<line x1="{L}" y1="{T}" x2="{L}" y2="{H - B}" stroke="black"/>']
    for n in sizes:
        svg.append(f'<text x="{x(n):.0f}" y="{H - B + 18}" text-anchor="middle">{n:,}</text>')
    svg.append(f'<text x="{(L + W - R) / 2:.0f}" y="{H - 8}" text-anchor="middle">files in the tree</text>')
    step = 10 ** math.floor(math.log10(top / 4))
    tick = 0
    while tick <= top:
        svg.append(f'<text x="{L - 6}" y="{y(tick) + 4:.0f}" text-anchor="end">{tick:g}</text>')
        tick += step * max(1, round(top / 5 / step))
    for i, (fs, pts) in enumerate(sorted(rows.items())):
        pts.sort()
        colour = COLOURS.get(fs, "#2ca02c")
        path = " ".join(f"{x(n):.1f},{y(c):.1f}" for n, c in pts)
        svg.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for n, c in pts:
            svg.append(f'<circle cx="{x(n):.1f}" cy="{y(c):.1f}" r="3" fill="{colour}"/>')
        svg.append(f'<text x="{W - R + 10}" y="{T + 20 + 18 * i}" fill="{colour}">{fs}</text>')
    svg.append("</svg>")
    with open(out, "w") as f:
        f.write("\n".join(svg) + "\n")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
