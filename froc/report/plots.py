"""The report's figures: one pure function per figure, each returning a matplotlib Figure.

No pyplot: figures are `matplotlib.figure.Figure` objects on an Agg canvas, so no
global state is touched and rendering works headless. Inputs are the normalised
rows of `froc.report.data`. Artists that tests look for carry a `gid`:
"certified-cell" (thick border of a certified heatmap cell), "certified-star",
"not-ok-cell" (diverged/failed), "alpha-contour" / "alpha-outline", "feasible",
"certified" (scatter points).
"""

from __future__ import annotations

import math
import textwrap
from typing import Mapping, Sequence

import numpy as np
from matplotlib import colormaps, patheffects
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.collections import LineCollection
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle

from froc.records import ConfigRecord as ConfigRow
from froc.report.data import OK, Landscape
from froc.report.fmt import fmt, fmt_many

CUR_CMAP = "YlOrRd"  # light = low risk, dark red = high risk
CONTOUR_COLOUR = "#1f5fbf"
STAR_COLOUR = "#1f5fbf"
NOT_OK_FACE = "#d4d4d4"
SERIES_COLOURS = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c")
REFERENCE_COLOURS = {"original model": "#333333", "retain oracle": "#b0b0b0"}
MAX_BAR_GROUPS = 20
_STATUS_SHORT = {"diverged": "div.", "failed": "fail", "n/a": "n/a", "missing": ""}


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(min(width, 16.0), min(height, 14.0)), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def mpl_text(s: object, limit: int = 40) -> str:
    """Data text made safe for matplotlib (no mathtext from '$') and short enough for a label."""
    s = str(s)
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    return s.replace("$", r"\$")


def mpl_wrap(s: object, width: int = 18, max_lines: int = 3) -> str:
    """A label wrapped at spaces onto at most `max_lines` lines (words are never cut; an overlong last line is)."""
    lines = textwrap.wrap(str(s), width, break_long_words=False, break_on_hyphens=False) or [""]
    if len(lines) > max_lines:
        lines = lines[: max_lines - 1] + [" ".join(lines[max_lines - 1:])]
    return "\n".join(mpl_text(x, 60) for x in lines)


def method_colours(methods: Sequence[str]) -> dict[str, tuple]:
    """A fixed colour per method (tab10, then tab20 for long lists), the same in every figure."""
    cmap = colormaps["tab10" if len(methods) <= 10 else "tab20"]
    return {m: cmap(i % cmap.N) for i, m in enumerate(methods)}


# ---- 4. risk landscapes ----


def _text_colour(rgba) -> str:
    r, g, b = rgba[:3]
    return "white" if 0.299 * r + 0.587 * g + 0.114 * b < 0.5 else "black"


def _outline(ax, inside: np.ndarray, **kw) -> LineCollection | None:
    """Draw the boundary of the cells where `inside` is True (edges between inside and outside cells)."""
    segs = []
    n_r, n_c = inside.shape
    for i in range(n_r):
        for j in range(n_c):
            if not inside[i, j]:
                continue
            x0, x1, y0, y1 = j - 0.5, j + 0.5, i - 0.5, i + 0.5
            if i == 0 or not inside[i - 1, j]:
                segs.append([(x0, y0), (x1, y0)])
            if i == n_r - 1 or not inside[i + 1, j]:
                segs.append([(x0, y1), (x1, y1)])
            if j == 0 or not inside[i, j - 1]:
                segs.append([(x0, y0), (x0, y1)])
            if j == n_c - 1 or not inside[i, j + 1]:
                segs.append([(x1, y0), (x1, y1)])
    if not segs:
        return None
    lc = LineCollection(segs, **kw)
    ax.add_collection(lc)
    return lc


def _draw_alpha_boundary(ax, cur: np.ndarray, ok: np.ndarray, alpha: float) -> str | None:
    """The CUR = alpha contour where the grid allows, else the outline of the cells with CUR <= alpha.

    The grid allows a contour when every cell has a CUR (no diverged/failed/missing gaps, which
    would cut the line into misleading pieces) and CUR crosses alpha. The contour is interpolated
    between cell centres on the grid padded by one ring of edge values, so it runs to the panel's
    border instead of stopping at the outer centres. Otherwise (gaps, a 1x1 grid, every cell on one
    side of alpha) the cells with CUR <= alpha are outlined. Returns "contour", "outline" or None.
    """
    vals = cur[ok]
    n_r, n_c = cur.shape
    if ok.all() and vals.size >= 2 and vals.min() < alpha < vals.max():
        padded = np.pad(np.where(ok, cur, np.nan), 1, mode="edge")
        xs = np.r_[-0.5, np.arange(n_c), n_c - 0.5]
        ys = np.r_[-0.5, np.arange(n_r), n_r - 0.5]
        cs = ax.contour(xs, ys, np.ma.masked_invalid(padded), levels=[alpha], colors=CONTOUR_COLOUR,
                        linewidths=2.0, linestyles="--", zorder=3)
        if any(len(seg) for seg in cs.allsegs[0]):
            cs.set_gid("alpha-contour")
            return "contour"
        cs.remove()
    lc = _outline(ax, ok & (np.nan_to_num(cur, nan=np.inf) <= alpha), colors=CONTOUR_COLOUR, linewidths=2.0,
                  linestyles="--", gid="alpha-outline", zorder=3)
    return "outline" if lc is not None else None


def _draw_landscape_panel(ax, p: Landscape, alpha: float | None, cmap, norm) -> str | None:
    n_r, n_c = p.shape
    ok = (p.status == OK) & np.isfinite(p.cur)
    ax.imshow(np.ma.masked_array(p.cur, mask=~ok), cmap=cmap, norm=norm, origin="lower", aspect="auto",
              extent=(-0.5, n_c - 0.5, -0.5, n_r - 0.5), interpolation="nearest")
    small = n_r * n_c > 60
    for i in range(n_r):
        for j in range(n_c):
            st = p.status[i, j]
            if ok[i, j]:
                v = p.cur[i, j]
                face = cmap(norm(v))
                ax.text(j, i, fmt(v), ha="center", va="center", fontsize=6.5 if small else 8,
                        color=_text_colour(face), zorder=6,
                        path_effects=[patheffects.withStroke(linewidth=2.5, foreground=face)])
            elif st == "missing":
                ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, facecolor="white", edgecolor="#e0e0e0",
                                       lw=0.5, gid="missing-cell"))
            else:
                ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, facecolor=NOT_OK_FACE, edgecolor="#8a8a8a",
                                       hatch="///", lw=0.0, gid="not-ok-cell"))
                ax.text(j, i, mpl_text(_STATUS_SHORT.get(st, st), 6), ha="center", va="center", fontsize=7,
                        color="#333333", bbox=dict(boxstyle="round,pad=0.15", fc=NOT_OK_FACE, ec="none"))
    boundary = _draw_alpha_boundary(ax, p.cur, ok, alpha) if alpha is not None else None
    ci, cj = np.nonzero(p.certified)
    for i, j in zip(ci, cj):
        ax.add_patch(Rectangle((j - 0.5 + 0.04, i - 0.5 + 0.04), 0.92, 0.92, fill=False, edgecolor="black",
                               lw=2.4, gid="certified-cell", zorder=4))
    if len(ci):
        ax.scatter(cj + 0.33, ci + 0.27, marker="*", s=70, color=STAR_COLOUR, edgecolors="white", linewidths=0.6,
                   zorder=5, gid="certified-star")
    ax.set_xticks(range(n_c), [mpl_text(s, 8) for s in fmt_many(p.steps)])
    ax.set_yticks(range(n_r), [mpl_text(s, 10) for s in fmt_many(p.lrs)])
    ax.set_xlim(-0.5, n_c - 0.5)
    ax.set_ylim(-0.5, n_r - 0.5)
    ax.set_xlabel("steps")
    ax.set_ylabel("lr")
    ax.tick_params(length=0, labelsize=8)
    for s in ax.spines.values():
        s.set_visible(False)
    if p.label:
        ax.set_title(mpl_text(p.label, 50), fontsize=9)
    return boundary


def plot_landscape(panels: Sequence[Landscape], alpha_forget: float | None = None, title: str = "") -> Figure:
    """CUR heatmaps of one method over lr x steps (one panel per value of any further swept hyperparameter).

    Colour scale fixed to [0, 1] so methods compare; each cell annotated; the CUR = alpha_f contour
    (or, when the grid is too small to interpolate, the outline of the cells with CUR <= alpha_f)
    dashed blue; certified cells with a thick black border and a blue star; diverged/failed cells
    grey and hatched; cells without a configuration white.
    """
    n = max(len(panels), 1)
    ncols = min(n, 3)
    nrows = math.ceil(n / ncols)
    n_r = max((p.shape[0] for p in panels), default=1)
    n_c = max((p.shape[1] for p in panels), default=1)
    pw, ph = 0.62 * n_c + 1.3, 0.42 * n_r + 1.25
    fig = _figure(ncols * pw + 1.1, nrows * ph + (0.45 if title else 0.1))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    cmap, norm = colormaps[CUR_CMAP], Normalize(0.0, 1.0)
    for ax, p in zip(axes.flat, panels):
        _draw_landscape_panel(ax, p, alpha_forget, cmap, norm)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=axes, label="CUR", shrink=0.9, fraction=0.06, pad=0.02)
    if title:
        fig.suptitle(mpl_text(title, 80), fontsize=10)
    return fig


# ---- 5. forgetting vs utility ----


def _ref_xy(r: ConfigRow) -> tuple[float | None, float | None]:
    x = r.cur if r.cur is not None else r.risk_forget_cal
    y = r.utility_ucb if r.utility_ucb is not None else r.risk_utility_cal
    return x, y


def plot_tradeoff(rows: Sequence[ConfigRow], methods: Sequence[str], alpha_forget: float | None,
                  alpha_utility: float | None, references: Mapping[str, ConfigRow] | None = None,
                  recommended_id: str | None = None) -> Figure:
    """Every configuration as a point (x = CUR, y = utility-risk bound), coloured by method.

    The feasible region (x <= alpha_f, y <= alpha_u) is shaded; certified points are stars with a
    black edge, diverged/failed points crosses; the original model and retain oracle (when given)
    are black/grey markers (a vertical line where only their forget risk is known).
    """
    fig = _figure(7.6, 4.6)
    ax = fig.subplots()
    colours = method_colours(list(methods))
    pts = [r for r in rows if r.cur is not None and r.utility_ucb is not None]
    ys = [r.utility_ucb for r in pts]
    handles = []
    if alpha_forget is not None and alpha_utility is not None:
        ax.add_patch(Rectangle((0, 0), alpha_forget, alpha_utility, facecolor="#2e7d32", alpha=0.13, lw=0,
                               gid="feasible", zorder=0))
        handles.append(Patch(facecolor="#2e7d32", alpha=0.25, label="feasible (CUR ≤ α_f, bound ≤ α_u)"))
    if alpha_forget is not None:
        ax.axvline(alpha_forget, color="#2e7d32", lw=0.8, ls=":", zorder=1)
    if alpha_utility is not None:
        ax.axhline(alpha_utility, color="#2e7d32", lw=0.8, ls=":", zorder=1)
    for m in methods:
        mine = [r for r in pts if r.method == m]
        c = colours.get(m, "#777777")
        plain = [r for r in mine if r.ok and not r.certified]
        cert = [r for r in mine if r.certified]
        bad = [r for r in mine if not r.ok]
        if plain:
            ax.scatter([r.cur for r in plain], [r.utility_ucb for r in plain], s=26, color=c, alpha=0.8, lw=0, zorder=2)
        if cert:
            ax.scatter([r.cur for r in cert], [r.utility_ucb for r in cert], s=130, marker="*", color=c,
                       edgecolors="black", linewidths=0.8, zorder=4, gid="certified")
        if bad:
            ax.scatter([r.cur for r in bad], [r.utility_ucb for r in bad], s=30, marker="x", color=c, lw=1.2,
                       zorder=2, gid="not-ok")
        if mine:
            handles.append(Line2D([], [], marker="o", ls="", color=c, label=mpl_wrap(m, 24, 2)))
    if any(r.certified for r in pts):
        handles.append(Line2D([], [], marker="*", ls="", ms=11, color="white", markeredgecolor="black",
                              label="certified"))
    if any(not r.ok for r in pts):
        handles.append(Line2D([], [], marker="x", ls="", color="#555555", label="diverged / failed"))
    for name, r in (references or {}).items():
        label = {"original": "original model", "oracle": "retain oracle"}.get(name, name)
        x, y = _ref_xy(r)
        colour = REFERENCE_COLOURS.get(label, "#666666")
        if x is None:
            continue
        if y is None:
            ax.axvline(x, color=colour, lw=1.2, ls="-.", zorder=1)
            handles.append(Line2D([], [], color=colour, ls="-.", label=mpl_wrap(f"{label} (forget risk)", 30, 2)))
        else:
            marker = "s" if name == "original" else "D"
            ax.scatter([x], [y], marker=marker, s=60, color=colour, edgecolors="black", zorder=5, gid=f"ref-{name}")
            ys.append(y)
            handles.append(Line2D([], [], marker=marker, ls="", color=colour, markeredgecolor="black",
                                  label=mpl_text(label, 30)))
    rec = next((r for r in pts if r.config_id == recommended_id), None)
    if rec is not None:
        ax.annotate("recommended", (rec.cur, rec.utility_ucb), xytext=(18, 18), textcoords="offset points",
                    fontsize=8, arrowprops=dict(arrowstyle="->", color="black", lw=0.8))
    top = max(ys + [alpha_utility * 1.4 if alpha_utility else 0.0, 0.05])
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, min(1.02, top * 1.1))
    ax.set_xlabel("CUR (upper bound on forget risk)")
    ax.set_ylabel("utility-risk upper bound")
    ax.grid(alpha=0.25, lw=0.5)
    if handles:
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    return fig


# ---- grouped bars (6, 7, 8) ----


def _grouped_bars(ax, groups: Sequence[str], series: Sequence[tuple[str, Sequence[float | None]]],
                  colours: Sequence, hatches: Sequence[Sequence[bool]] | None = None) -> None:
    """Bars for `series` (label, one value per group) side by side per group; None values are left out."""
    n_s = max(len(series), 1)
    width = 0.8 / n_s
    x = np.arange(len(groups))
    for k, (label, vals) in enumerate(series):
        xs = [x[g] - 0.4 + width * (k + 0.5) for g, v in enumerate(vals) if v is not None]
        hs = [v for v in vals if v is not None]
        bars = ax.bar(xs, hs, width=width * 0.92, color=colours[k % len(colours)], label=mpl_wrap(label, 34, 2))
        if hatches is not None:
            flags = [h for h, v in zip(hatches[k], vals) if v is not None]
            for bar, flag in zip(bars, flags):
                if flag:
                    bar.set_hatch("///")
                    bar.set_edgecolor("black")
                    bar.set_linewidth(0.6)
    ax.set_xticks(x, [mpl_wrap(g, 18) for g in groups])
    ax.set_xlim(-0.6, len(groups) - 0.4)
    ax.grid(axis="y", alpha=0.25, lw=0.5)


def _series_colours(labels: Sequence[str]) -> list:
    out, k = [], 0
    for lab in labels:
        if lab in REFERENCE_COLOURS:
            out.append(REFERENCE_COLOURS[lab])
        else:
            out.append(SERIES_COLOURS[k % len(SERIES_COLOURS)])
            k += 1
    return out


def _ylim_top(series, *lines) -> float:
    vals = [v for _, vs in series for v in vs if v is not None] + [v for v in lines if v is not None]
    return min(1.05, max(vals + [0.05]) * 1.12)


def _bar_width(n_groups: int, n_series: int) -> float:
    """Figure width for grouped bars: about 0.2 inch per bar plus room for the legend, within 6.5..11."""
    return max(6.5, min(11.0, 0.2 * n_groups * max(n_series, 1) + 3.0))


def plot_cur_by_form(series: Sequence[tuple[str, ConfigRow]], forms: Sequence[str],
                     alpha_forget: float | None = None) -> Figure:
    """CUR per probe form (qa ... reverse: growing distance from the forget request), one bar per model."""
    vals = [(label, [r.cur_by_form.get(f) for f in forms]) for label, r in series]
    fig = _figure(_bar_width(len(forms), len(series)), 3.6)
    ax = fig.subplots()
    _grouped_bars(ax, forms, vals, _series_colours([s for s, _ in vals]))
    if alpha_forget is not None:
        ax.axhline(alpha_forget, color=CONTOUR_COLOUR, ls="--", lw=1.2, label="α_f")
    ax.set_ylim(0, _ylim_top(vals, alpha_forget))
    ax.set_xlabel("probe form")
    ax.set_ylabel("CUR")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    return fig


def plot_risk_by_group(series: Sequence[tuple[str, ConfigRow]], groups: Sequence[str],
                       alpha_forget: float | None = None, alpha_utility: float | None = None) -> Figure:
    """Empirical loss rate per probe group: forget (forget loss) vs neighbour / retain / world (utility loss)."""
    vals = [(label, [r.risk_by_group.get(g) for g in groups]) for label, r in series]
    fig = _figure(_bar_width(len(groups), len(series)), 3.6)
    ax = fig.subplots()
    _grouped_bars(ax, groups, vals, _series_colours([s for s, _ in vals]))
    for g, name in enumerate(groups):
        level = alpha_forget if name == "forget" else alpha_utility
        if level is not None:
            ax.hlines(level, g - 0.45, g + 0.45, color=CONTOUR_COLOUR, ls="--", lw=1.2)
    if (alpha_forget, alpha_utility) != (None, None):
        ax.plot([], [], color=CONTOUR_COLOUR, ls="--", lw=1.2, label="budget (α_f / α_u)")
    ax.set_ylim(0, _ylim_top(vals, alpha_forget, alpha_utility))
    ax.set_xlabel("probe group")
    ax.set_ylabel("loss rate")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    return fig


def plot_test_check(rows: Sequence[ConfigRow], alpha_forget: float | None = None,
                    alpha_utility: float | None = None, labels: Sequence[str] | None = None) -> Figure:
    """Per configuration (ticks: `labels`, default the config ids): calibration risk vs held-out test risk vs
    the upper bound, forget (top) and utility (bottom)."""
    rows = list(rows)[:MAX_BAR_GROUPS]
    ids = list(labels)[: len(rows)] if labels is not None else [r.config_id for r in rows]
    fig = _figure(_bar_width(len(rows), 3), 5.4)
    ax_f, ax_u = fig.subplots(2, 1, sharex=True)
    colours = ("#9ecae1", "#4292c6", "#08306b")
    forget = [("calibration risk", [r.risk_forget_cal for r in rows]),
              ("test risk", [r.risk_forget_test for r in rows]),
              ("CUR (bound)", [r.cur for r in rows])]
    util = [("calibration risk", [r.risk_utility_cal for r in rows]),
            ("test risk", [r.risk_utility_test for r in rows]),
            ("utility bound", [r.utility_ucb for r in rows])]
    for ax, series, level, name in ((ax_f, forget, alpha_forget, "forget"), (ax_u, util, alpha_utility, "utility")):
        _grouped_bars(ax, ids, series, colours)
        if level is not None:
            ax.axhline(level, color="#c62828", ls="--", lw=1.2, label=f"α ({name})")
        ax.set_ylim(0, _ylim_top(series, level))
        ax.set_ylabel(f"{name} risk")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    ax_u.tick_params(axis="x", labelrotation=35, labelsize=8)
    for lab in ax_u.get_xticklabels():
        lab.set_horizontalalignment("right")
    return fig


def plot_attacks(rows: Sequence[ConfigRow], attack_names: Sequence[str], alpha_forget: float | None = None,
                 labels: Sequence[str] | None = None) -> Figure:
    """CUR before and after each attack per configuration (ticks: `labels`, default the config ids); hatched
    bars lost their certificate."""
    rows = list(rows)[:MAX_BAR_GROUPS]
    ids = list(labels)[: len(rows)] if labels is not None else [r.config_id for r in rows]
    series = [("before", [r.cur for r in rows])]
    hatches = [[False] * len(rows)]
    for a in attack_names:
        res = [r.attacks.get(a) for r in rows]
        series.append((f"after {a}", [x.cur if x else None for x in res]))
        hatches.append([bool(x and x.certified is False) for x in res])
    fig = _figure(_bar_width(len(rows), len(series)), 3.8)
    ax = fig.subplots()
    colours = ["#333333"] + [SERIES_COLOURS[k % len(SERIES_COLOURS)] for k in range(len(attack_names))]
    _grouped_bars(ax, ids, series, colours, hatches)
    if alpha_forget is not None:
        ax.axhline(alpha_forget, color=CONTOUR_COLOUR, ls="--", lw=1.2)
    handles = [Patch(facecolor=colours[k], label=mpl_text(label, 34)) for k, (label, _) in enumerate(series)]
    if alpha_forget is not None:
        handles.insert(0, Line2D([], [], color=CONTOUR_COLOUR, ls="--", lw=1.2, label="α_f"))
    if any(any(h) for h in hatches):
        handles.append(Patch(facecolor="white", edgecolor="black", hatch="///", label="no longer certified"))
    ax.set_ylim(0, _ylim_top(series, alpha_forget))
    ax.set_ylabel("CUR")
    ax.tick_params(axis="x", labelrotation=35, labelsize=8)
    for lab in ax.get_xticklabels():
        lab.set_horizontalalignment("right")
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    return fig


def plot_calibration_size(sizes: Sequence[float], cur: Sequence[float | None], n_certified: Sequence[float | None],
                          alpha_forget: float | None = None, who: str = "",
                          sd: Sequence[float | None] | None = None) -> Figure:
    """CUR of one configuration (left axis, ± `sd` shaded) and the certified-set size (right axis) against n_cal."""
    fig = _figure(7.6, 3.6)
    ax = fig.subplots()
    pts = [(s, c) for s, c in zip(sizes, cur) if c is not None]
    band = [(s, c, e) for s, c, e in zip(sizes, cur, sd or []) if c is not None and e is not None]
    if band:
        xs, cs, es = (np.array(v, dtype=float) for v in zip(*band))
        ax.fill_between(xs, np.clip(cs - es, 0, 1), np.clip(cs + es, 0, 1), color=SERIES_COLOURS[0], alpha=0.18, lw=0)
    if pts:
        ax.plot(*zip(*pts), marker="o", color=SERIES_COLOURS[0], label=mpl_wrap(f"CUR of {who}", 40, 2), gid="ncal-cur")
    if alpha_forget is not None:
        ax.axhline(alpha_forget, color=CONTOUR_COLOUR, ls="--", lw=1.2, label="α_f")
    ax.set(xlabel="calibration size n_cal", ylabel="CUR", ylim=(0, 1.02))
    ax.grid(alpha=0.25, lw=0.5)
    ax2 = ax.twinx()
    cnt = [(s, k) for s, k in zip(sizes, n_certified) if k is not None]
    if cnt:
        ax2.plot(*zip(*cnt), marker="s", color=SERIES_COLOURS[1], label="certified configurations", gid="ncal-count")
        ax2.set_ylim(0, max(1.0, max(k for _, k in cnt)) * 1.15)
    ax2.set_ylabel("certified configurations")
    (h1, l1), (h2, l2) = ax.get_legend_handles_labels(), ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, loc="upper left", bbox_to_anchor=(1.12, 1.0), fontsize=8, frameon=False)
    return fig
