"""The figures and the data they draw (no PNG encoding here: fast), plus number formatting."""

from __future__ import annotations

import math

import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from froc.report import plots
from froc.report.data import (
    Budget,
    ConfigRow,
    closest_configs,
    landscape_panels,
    load_summary,
    shift_series,
    swept_extras,
)
from froc.report.fmt import (
    fmt,
    fmt_hparams,
    fmt_many,
    fmt_params,
    fmt_seconds,
    num,
    pct,
)


def _gids(ax, gid):
    return [a for a in ax.get_children() if a.get_gid() == gid]


def _cells(ax, gid) -> set[tuple[int, int]]:
    """(lr index, steps index) of the rectangles with this gid."""
    out = set()
    for r in _gids(ax, gid):
        assert isinstance(r, Rectangle)
        x, y = r.get_xy()
        out.add((int(round(y + 0.5)), int(round(x + 0.5))))
    return out


def _expected(summary, method, key, extra=None):
    """{(lr index, steps index): config} from the raw summary."""
    lrs, steps = [1e-4, 3e-4, 1e-3], [10, 20, 40]
    return {(lrs.index(c["hparams"]["lr"]), steps.index(c["steps"])): c[key] for c in summary["configs"]
            if c["method"] == method and (extra is None or all(c["hparams"].get(k) == v for k, v in extra.items()))}


@pytest.mark.parametrize("method", ["gd", "simnpo", "rmu", "ga"])
def test_landscape_matrix_and_certified_cells(summary, method):
    d = load_summary(summary)
    (panel,) = landscape_panels(d.configs, method)
    assert panel.mode == "single" and panel.shape == (3, 3)
    assert panel.lrs == [1e-4, 3e-4, 1e-3] and panel.steps == [10, 20, 40]
    certified = {k for k, v in _expected(summary, method, "certified").items() if v}
    assert set(zip(*np.nonzero(panel.certified))) == certified
    status = _expected(summary, method, "status")
    for (i, j), cur in _expected(summary, method, "cur").items():
        if status[(i, j)] == "ok":
            assert panel.cur[i, j] == pytest.approx(cur)
        else:
            assert math.isnan(panel.cur[i, j]) and panel.status[i, j] == status[(i, j)]

    fig = plots.plot_landscape([panel], alpha_forget=0.2, title=method)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert _cells(ax, "certified-cell") == certified
    stars = _gids(ax, "certified-star")
    assert len(stars) == (1 if certified else 0)
    if certified:
        assert len(stars[0].get_offsets()) == len(certified)
    # the image shows exactly the CUR of the ok cells
    drawn = ax.images[0].get_array()
    ok = panel.status == "ok"
    np.testing.assert_allclose(np.ma.getdata(drawn)[ok], panel.cur[ok])
    assert np.ma.getmaskarray(drawn)[~ok].all()
    assert _cells(ax, "not-ok-cell") == {k for k, v in status.items() if v != "ok"}
    # annotated values, 3 significant digits
    texts = {t.get_text() for t in ax.texts}
    assert {fmt(v) for k, v in _expected(summary, method, "cur").items() if status[k] == "ok"} <= texts


def test_landscape_alpha_boundary_contour_on_complete_grid_outline_with_gaps(summary):
    d = load_summary(summary)
    gd = plots.plot_landscape(landscape_panels(d.configs, "gd"), 0.2).axes[0]  # complete 3x3, crosses 0.2
    assert _gids(gd, "alpha-contour") and not _gids(gd, "alpha-outline")
    ga = plots.plot_landscape(landscape_panels(d.configs, "ga"), 0.2).axes[0]  # two diverged cells
    assert _gids(ga, "alpha-outline") and not _gids(ga, "alpha-contour")
    assert "div." in {t.get_text() for t in ga.texts}


def _row(cid, lr, steps, cur, certified=False, status="ok", **hp):
    return ConfigRow(config_id=cid, method="m", hparams={"lr": lr, **hp}, steps=steps, status=status,
                     certified=certified, cur=cur, utility_ucb=0.05)


def test_landscape_single_cell_and_missing_cells():
    one = landscape_panels([_row("a", 1e-4, 5, 0.1, certified=True)], "m")
    fig = plots.plot_landscape(one, 0.2)
    ax = fig.axes[0]
    assert one[0].shape == (1, 1) and _cells(ax, "certified-cell") == {(0, 0)}
    assert _gids(ax, "alpha-outline")  # 1x1 grid: no contour possible, the cell is outlined
    above = plots.plot_landscape(landscape_panels([_row("a", 1e-4, 5, 0.5)], "m"), 0.2).axes[0]
    assert not _gids(above, "alpha-outline") and not _gids(above, "alpha-contour")
    # a grid with a hole: lr 1e-3 was only run for 10 steps
    rows = [_row("a", 1e-4, 10, 0.5), _row("b", 1e-4, 20, 0.3), _row("c", 1e-3, 10, 0.1)]
    (p,) = landscape_panels(rows, "m")
    assert p.status[1, 1] == "missing" and p.config_ids[1, 0] == "c"
    ax = plots.plot_landscape([p], 0.2).axes[0]
    assert _cells(ax, "missing-cell") == {(1, 1)}


def test_extra_hyperparameter_small_multiples_or_best_over(summary):
    d = load_summary(summary)
    npo = [r for r in d.configs if r.method == "npo"]
    assert swept_extras(npo) == ["beta"]  # retain_weight is constant, not swept
    panels = landscape_panels(d.configs, "npo")
    assert [p.label for p in panels] == ["beta=0.05", "beta=0.1", "beta=0.5"]
    assert all(p.mode == "per-value" for p in panels)
    for p, beta in zip(panels, [0.05, 0.1, 0.5]):
        cert = {k for k, v in _expected(summary, "npo", "certified", {"beta": beta}).items() if v}
        assert set(zip(*np.nonzero(p.certified))) == cert
    fig = plots.plot_landscape(panels, 0.2, "npo")
    assert len([ax for ax in fig.axes if ax.images]) == 3

    (best,) = landscape_panels(d.configs, "npo", max_panels=2)
    assert best.mode == "best-over" and best.label == "lowest CUR over beta"
    stacked = np.stack([p.cur for p in panels])
    np.testing.assert_allclose(best.cur, stacked.min(axis=0))
    np.testing.assert_array_equal(best.certified, np.any([p.certified for p in panels], axis=0))


def test_tradeoff_marks_certified_and_references(summary):
    d = load_summary(summary)
    fig = plots.plot_tradeoff(d.configs, d.methods, 0.2, 0.15, d.reference, d.recommended_id)
    ax = fig.axes[0]
    pts = np.concatenate([c.get_offsets() for c in _gids(ax, "certified")])
    want = sorted((r.cur, r.utility_ucb) for r in d.certified)
    np.testing.assert_allclose(sorted(map(tuple, pts)), want)
    feas = _gids(ax, "feasible")[0]
    assert (feas.get_width(), feas.get_height()) == (0.2, 0.15)
    assert _gids(ax, "ref-original") and _gids(ax, "ref-oracle")
    assert any(t.get_text() == "recommended" for t in ax.texts)


def test_attack_bars_hatch_lost_certificates(summary):
    d = load_summary(summary)
    fig = plots.plot_attacks(d.certified, d.attack_names, 0.2)
    ax = fig.axes[0]
    hatched = sum(1 for p in ax.patches if p.get_hatch())
    lost = sum(1 for r in d.certified for a in d.attack_names if r.attacks[a].certified is False)
    assert hatched == lost > 0


def test_bar_figures_accept_missing_values(summary):
    d = load_summary(summary)
    series = shift_series(d)
    assert [s[0] for s in series][0] == "original model" and series[-1][0] == "retain oracle"
    assert series[1][0] == "recommended: " + d.labels[d.recommended_id]
    series[1][1].cur_by_form["qa"] = None
    for fig in (plots.plot_cur_by_form(series, ["qa", "cloze", "unknown_form"], None),
                plots.plot_risk_by_group(series, ["forget", "world"], 0.2, None),
                plots.plot_test_check(d.certified, None, 0.15)):
        assert isinstance(fig, Figure)


def test_closest_configs_by_criterion():
    rows = [ConfigRow("a", "m", {}, 1, "ok", cur=0.3, utility_ucb=0.05),
            ConfigRow("b", "m", {}, 1, "ok", cur=0.1, utility_ucb=0.4),
            ConfigRow("c", "m", {}, 1, "ok", cur=0.25, utility_ucb=0.2),
            ConfigRow("d", "m", {}, 1, "diverged", cur=0.0, utility_ucb=0.0)]
    got = {c.criterion.split(":")[0]: c.row.config_id for c in closest_configs(rows, Budget(0.2, 0.15, 0.1))}
    assert got == {"lowest CUR with utility bound ≤ α_u": "a", "lowest utility bound with CUR ≤ α_f": "b",
                   "closest overall": "c"}  # max(0.25/0.2, 0.2/0.15) = 1.33 < a's 1.5 < b's 2.67
    assert closest_configs([], Budget(0.2, 0.15, 0.1)) == []


def test_load_summary_is_defensive():
    d = load_summary({"configs": [{"config_id": "x", "status": "OK", "cur": "nan", "steps": 20.0,
                                   "certified": True, "attacks": {"relearn": {"cur": 0.5, "certified": "yes"}}},
                                  {"status": "diverged", "certified": True}],
                      "certified": ["x", None], "recommended": "missing-id"})
    a, b = d.configs
    assert a.ok and a.cur is None and a.steps == 20 and a.certified
    assert a.attacks["relearn"].cur == 0.5 and a.attacks["relearn"].certified is None
    assert b.config_id == "?" and not b.certified  # a diverged run is never shown as certified
    assert d.recommended is None and d.recommended_id == "missing-id"
    assert d.attack_names == ["relearn"]


def test_number_formatting():
    assert fmt(0.123456) == "0.123"
    assert fmt(0.1) == "0.1"
    assert fmt(3e-4) == "3e-4" and fmt(1.25e-5) == "1.25e-5"
    assert fmt(12345.6) == "12300" and fmt(300.2) == "300"
    assert fmt(None) == fmt(math.nan) == fmt(math.inf) == fmt("x") == fmt(True) == "—"
    assert fmt(0) == "0"
    assert fmt_many([1e-4, 3e-4, 1e-3]) == ["1e-4", "3e-4", "1e-3"]
    assert fmt_many([10, 20, 40]) == ["10", "20", "40"]
    assert pct(0.2) == "20%" and pct(0.125) == "12.5%" and pct(1 - 0.1) == "90%"
    assert fmt_seconds(2.04) == "2.04 s" and fmt_seconds(80.1) == "1 min 20 s" and fmt_seconds(4000) == "1 h 6 min"
    assert fmt_params(900000) == "900k" and fmt_params(1.24e9) == "1.24B"
    assert fmt_hparams({"lr": 3e-4, "beta": 0.1, "retain_weight": 1.0}) == "lr=3e-4, beta=0.1, retain_weight=1"
    assert num("0.5") == 0.5 and num(np.float32(0.25)) == 0.25 and num([1]) is None
