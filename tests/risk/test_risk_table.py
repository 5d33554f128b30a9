"""froc.certify on per-sample tables (DataFrame, CSV, Parquet), located errors, and `froc certify`."""

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from typer.testing import CliRunner

import froc
from froc.errors import DataError


def _table(rates_f=(0.0, 0.5), rates_u=(0.0, 0.0), n=200, split=False, cluster=False):
    """Configs 'good' / 'bad' with exact forget counts round(rate * n) (first samples lose)."""
    rows = []
    for name, rf, ru in zip(("good", "bad"), rates_f, rates_u):
        for side, r in (("forget", rf), ("utility", ru)):
            for j in range(n):
                row = {"config": name, "sample": f"{side[0]}{j}", "side": side, "loss": float(j < round(r * n))}
                if split:
                    row["split"] = "tune" if j % 4 == 0 else "cal"
                if cluster:
                    row["subject"] = f"s{j // 10}"
                rows.append(row)
    return pd.DataFrame(rows)


def test_certify_dataframe_known_answer():
    """'good' has 0/200 forget and utility losses; 'bad' 100/200 forget. HB (binary) p-value of
    'good' is min(Hoeffding (1 - 0.1)^200, exact binomial (1 - 0.1)^200) = 0.9^200 (by hand)."""
    cert = froc.certify(_table(), alpha_forget=0.1, alpha_utility=0.1, delta=0.1, binary_forget=True,
                        binary_utility=True)
    assert cert.names == ["good", "bad"] and cert.certified.tolist() == [True, False]
    assert cert.p_values[0] == pytest.approx(0.9**200, rel=1e-9)
    assert cert.best == 0 and cert.best_name == "good"
    # no test split: the selection-valid bound is the simultaneous one, (1 - a)^200 = 0.1 / 2
    assert cert.best_bound == pytest.approx(1 - 0.05 ** (1 / 200), rel=1e-9)
    assert cert.cur[0] == pytest.approx(1 - 0.1 ** (1 / 200), rel=1e-9)  # pointwise
    assert cert.n["forget"] == {"tune": 0, "cal": 200, "test": 0}


def test_certify_default_loss_type_is_general():
    """binary not given: the general test (HB continuous): min(Hoeffding 0.9^200, e * 0.9^200) = 0.9^200."""
    cert = froc.certify(_table(), alpha_forget=0.1, alpha_utility=0.1, delta=0.1)
    assert cert.p_values[0] == pytest.approx(0.9**200, rel=1e-9)


def test_certify_knowledge_threshold_cluster_and_files(tmp_path):
    """knowledge + threshold; a cluster column (20 subjects of 10 samples -> n = 20); CSV and Parquet."""
    t = _table(rates_f=(0.05, 0.5), cluster=True)
    t["knowledge"] = np.where(t["side"] == "forget", t["loss"] * 0.9 + 0.05, 0.9)  # > 0.5 iff loss 1 (forget)
    t = t.drop(columns="loss")
    csv = tmp_path / "s.csv"
    t.to_csv(csv, index=False)
    pq = tmp_path / "s.parquet"
    t.to_parquet(pq)
    for src in (csv, pq):
        c = froc.certify(src, alpha_forget=0.2, alpha_utility=0.1, delta=0.1, unit="subject", threshold=0.5)
        assert c.n["forget"]["cal"] == 20 and c.unit == "cluster" and c.source == str(src)
        np.testing.assert_allclose(c.risk_forget["cal"], [0.05, 0.5])
        np.testing.assert_allclose(c.risk_utility["cal"], [0.0, 0.0])  # knowledge 0.9 > 0.5: still known


def test_certify_ordered_procedure_uses_tune_rows():
    cert = froc.certify(_table(split=True), alpha_forget=0.1, alpha_utility=0.1, delta=0.1, fwer="pareto")
    assert cert.order is not None and cert.order[0] == 0 and cert.n["forget"]["tune"] == 50


def _err(df, **kw):
    with pytest.raises(DataError) as e:
        froc.certify(df, alpha_forget=0.1, alpha_utility=0.1, delta=0.1, **kw)
    return str(e.value)


def test_bad_tables_get_located_errors(tmp_path):
    """Deliberate bugs caught: silently clipping out-of-range losses, dropping NaN, ignoring a
    configuration without utility rows, an unknown side or a duplicate. Each error names the row
    (CSV: the file line, header = line 1) and the column."""
    t = _table(n=5)
    bad = t.copy()
    bad.loc[3, "loss"] = 1.5
    bad.loc[4, "loss"] = np.nan
    bad.loc[6, "side"] = "retain"
    path = tmp_path / "bad.csv"
    bad.to_csv(path, index=False)
    msg = _err(path)
    assert f"{path}:5 field 'loss': loss 1.5 outside [0, 1]" in msg  # df row 3 -> CSV line 5
    assert f"{path}:6 field 'loss': not a number" in msg
    assert f"{path}:8 field 'side': unknown side 'retain'" in msg
    no_util = t[~((t["config"] == "bad") & (t["side"] == "utility"))]
    assert "configuration 'bad' has no 'utility' rows" in _err(no_util)
    dup = pd.concat([t, t.iloc[[2]]], ignore_index=True)
    assert "<DataFrame>:21 field 'sample': duplicate (config, side, sample) = (good, forget, f2)" in _err(dup)
    assert "missing column(s)" in _err(t.drop(columns="loss"))
    assert "knowledge scores need --threshold" in _err(t.rename(columns={"loss": "knowledge"}))
    gap = t.drop(index=[12])  # 'bad' lacks forget sample f2
    assert "configuration 'bad' lacks forget sample 'f2'" in _err(gap)
    with pytest.raises(DataError, match="file not found"):
        froc.certify(tmp_path / "nope.csv", alpha_forget=0.1, delta=0.1)


def test_cli_certify(tmp_path):
    """`froc certify` prints a compact table (80 columns), writes JSON, and prints user strings
    literally (a config named '[red]x[/red]' must appear as is, not be parsed as rich markup)."""
    from froc.cli import app

    t = _table()
    t["config"] = t["config"].replace({"good": "[red]x[/red]"})
    path = tmp_path / "scores.csv"
    t.to_csv(path, index=False)
    out = tmp_path / "cert.json"
    r = CliRunner().invoke(app, ["certify", str(path), "--alpha-forget", "0.1", "--alpha-utility", "0.1",
                                 "--delta", "0.1", "--out", str(out)], env={"COLUMNS": "80"}, terminal_width=80)
    assert r.exit_code == 0, r.output
    assert "[red]x[/red]" in r.output and "certified 1/2" in r.output
    assert max(len(line) for line in r.output.splitlines()) <= 80
    data = json.loads(out.read_text())
    assert data["configs"][0]["name"] == "[red]x[/red]" and data["configs"][0]["certified"] is True
    assert math.isclose(data["configs"][0]["p_value"], stats.binom.pmf(0, 200, 0.1), rel_tol=1e-9)
    bad = CliRunner().invoke(app, ["certify", str(tmp_path / "none.csv"), "--alpha-forget", "0.1", "--delta", "0.1"])
    assert bad.exit_code == 2 and "file not found" in bad.output
