"""Certify any per-sample table: ``froc.certify(table, ...)`` and the ``froc certify`` command.

The table holds one row per configuration x sample, so FROC's control can serve results
froc did not compute (another toolkit's per-sample scores, a non-LLM model's). Columns:

- ``config``: configuration name; ``sample``: sample id (unique within a side);
- ``side``: ``forget`` or ``utility``;
- ``loss`` in [0, 1], or ``knowledge`` plus a ``threshold`` argument: forget loss
  ``1[knowledge > threshold]`` (still known), utility loss ``1[knowledge <= threshold]``
  (no longer known); thresholded losses are binary by construction;
- optional ``split``: ``tune`` / ``cal`` / ``test`` (absent: every row is cal);
- optional cluster column named by ``unit`` (sampling unit, see :mod:`froc.risk.units`).

Every configuration must have the same samples on each side (same split, same cluster).
Bad tables raise :class:`froc.errors.DataError` naming the file, the row (CSV: line) and
the column of each problem.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Callable

import numpy as np

from froc.errors import DataError, Problem
from froc.risk.grid import SPLITS, GridCertificate, certify_grid

SIDES = ("forget", "utility")


@dataclass(frozen=True)
class Certificate(GridCertificate):
    """:class:`froc.risk.GridCertificate` of a table, plus where it came from.

    ``certified``, ``cur`` (pointwise), ``p_values``, ``best`` (index; ``best_name``) and the
    selection-valid ``best_bound`` / ``best_bound_utility`` are inherited; ``names`` holds
    the configuration names in the order of the arrays.
    """

    source: str = "<DataFrame>"

    @property
    def best_name(self) -> str | None:
        return None if self.best is None else self.names[self.best]


def _read(table):
    import pandas as pd

    if isinstance(table, pd.DataFrame):
        return table.reset_index(drop=True), "<DataFrame>", 1
    path = Path(table)
    if not path.is_file():
        raise DataError(Problem(str(path), None, None, "file not found"))
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(path), str(path), 1
        if path.suffix.lower() in (".csv", ".tsv"):
            return pd.read_csv(path, sep="\t" if path.suffix.lower() == ".tsv" else ","), str(path), 2
    except (ValueError, OSError) as e:
        raise DataError(Problem(str(path), None, None, f"cannot read the table: {e}")) from None
    raise DataError(Problem(str(path), None, None, "expected a .parquet or .csv file"))


def _validate(df, src: str, first: int, threshold, unit: str):
    """Return (losses array, problems). ``first`` is the line/row number of df row 0."""
    import pandas as pd

    probs: list[Problem] = []
    at = lambda i, col, msg: probs.append(Problem(src, int(i) + first, col, msg))  # noqa: E731
    need = ["config", "sample", "side"] + (["knowledge"] if threshold is not None else ["loss"])
    if unit != "probe":
        need.append(unit)
    missing = [c for c in need if c not in df.columns]
    if missing:
        hint = "" if threshold is not None or "knowledge" not in df.columns else " (knowledge scores need --threshold)"
        raise DataError(Problem(src, None, ", ".join(missing), f"missing column(s){hint}; columns: {list(df.columns)}"))
    for col in ("config", "sample", "side") + ((unit,) if unit != "probe" else ()):
        for i in np.flatnonzero(df[col].isna().to_numpy()):
            at(i, col, "empty value")
    side = df["side"].astype(str).str.strip().str.lower()
    for i in np.flatnonzero(~side.isin(SIDES).to_numpy() & df["side"].notna().to_numpy()):
        at(i, "side", f"unknown side {df['side'].iloc[i]!r}; valid: forget, utility")
    if "split" in df.columns:
        split = df["split"].astype(str).str.strip().str.lower()
        for i in np.flatnonzero(~split.isin(SPLITS).to_numpy()):
            at(i, "split", f"unknown split {df['split'].iloc[i]!r}; valid: {', '.join(SPLITS)}")
    else:
        split = pd.Series(["cal"] * len(df))
    col = "knowledge" if threshold is not None else "loss"
    vals = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
    for i in np.flatnonzero(np.isnan(vals)):
        at(i, col, f"not a number: {df[col].iloc[i]!r}")
    if threshold is None:
        for i in np.flatnonzero((vals < 0) | (vals > 1)):
            at(i, col, f"loss {vals[i]:g} outside [0, 1]")
        loss = vals
    else:
        loss = np.where(side.to_numpy() == "forget", vals > threshold, vals <= threshold).astype(float)
    key = pd.DataFrame({"config": df["config"].astype(str), "side": side, "sample": df["sample"].astype(str)})
    for i in np.flatnonzero(key.duplicated().to_numpy()):
        at(i, "sample", f"duplicate (config, side, sample) = ({key.config[i]}, {key.side[i]}, {key['sample'][i]})")
    return loss, side, split, key, probs


def load_table(table, *, threshold: float | None = None, unit: str = "probe"):
    """Read and validate a per-sample table; returns the matrices :func:`certify_grid` takes.

    Returns:
        (names, forget {split: (K, n)}, utility {split: (K, m)} or None, clusters or None, source).

    Raises:
        DataError: every problem found (file, row/line, column, message).
    """

    df, src, first = _read(table)
    loss, side, split, key, probs = _validate(df, src, first, threshold, unit)
    if probs:
        raise DataError(probs)
    t = key.assign(loss=loss, split=split.to_numpy(), row=np.arange(len(df)))
    if unit != "probe":
        t["cluster"] = df[unit].astype(str).to_numpy()
    names = list(dict.fromkeys(t["config"]))  # order of first appearance
    mats, clusters = {}, {}
    for s in SIDES:
        part = t[t["side"] == s]
        if part.empty:
            continue
        have = set(part["config"])
        for c in names:
            if c not in have:
                first_row = int(t.index[t["config"] == c][0])
                probs.append(Problem(src, first_row + first, "side", f"configuration {c!r} has no '{s}' rows"))
        attrs = ["split"] + (["cluster"] if unit != "probe" else [])
        per_sample = part.groupby("sample")[attrs].nunique()
        for smp in per_sample.index[(per_sample > 1).any(axis=1)]:
            row = int(part.index[part["sample"] == smp][0])
            probs.append(Problem(src, row + first, "split" if per_sample.loc[smp, "split"] > 1 else unit,
                                 f"sample {smp!r} ({s}) has different split/cluster values across configurations"))
        wide = part.pivot(index="config", columns="sample", values="loss").reindex(names)
        for c, smp in list(zip(*np.nonzero(wide.isna().to_numpy())))[:20]:
            if names[c] in have:
                probs.append(Problem(src, None, "sample", f"configuration {names[c]!r} lacks {s} sample {wide.columns[smp]!r}"))
        meta = part.drop_duplicates("sample").set_index("sample")
        mats[s], clusters[s] = {}, {}
        for sp in SPLITS:
            cols = [x for x in wide.columns if meta.loc[x, "split"] == sp]
            if cols:
                mats[s][sp] = wide[cols].to_numpy(dtype=float)
                if unit != "probe":
                    clusters[s][sp] = meta.loc[cols, "cluster"].to_numpy()
        if "cal" not in mats[s]:
            probs.append(Problem(src, None, "split", f"no '{s}' samples in the cal split"))
    if "forget" not in mats:
        probs.append(Problem(src, None, "side", "no 'forget' rows"))
    if probs:
        raise DataError(probs)
    return names, mats["forget"], mats.get("utility"), (clusters if unit != "probe" else None), src


def certify(
    table,
    alpha_forget: float,
    alpha_utility: float | None = None,
    delta: float = 0.1,
    pvalue: str | Callable = "hb",
    fwer: str | Callable = "holm",
    unit: str = "probe",
    *,
    threshold: float | None = None,
    binary_forget: bool | None = None,
    binary_utility: bool | None = None,
) -> Certificate:
    """Learn-then-Test certification of the configurations of any per-sample table.

    Args:
        table: pandas DataFrame, or path to a .parquet / .csv file (columns: module doc).
        alpha_forget, alpha_utility: risk targets (``alpha_utility=None``: forget only;
            utility rows, if any, then only pick ``best``).
        delta: FWER level. pvalue, fwer: as in :func:`froc.risk.certify_grid` (ordered
            procedures need ``split = tune`` rows; ``clt`` is refused).
        unit: ``probe`` (each row a sample) or the name of a cluster column (one loss per
            cluster: the mean of its samples' losses; n = number of clusters).
        threshold: with a ``knowledge`` column instead of ``loss``: the knowledge
            threshold (losses then binary by construction).
        binary_forget, binary_utility: explicit loss types for a ``loss`` column
            (default None: the general test, valid for any loss in [0, 1]).

    Returns:
        :class:`Certificate`.

    Raises:
        DataError: a bad table (file, row, column named). ConfigError: bad options.
    """
    names, F, U, clusters, src = load_table(table, threshold=threshold, unit=unit)
    if threshold is not None:
        binary_forget = True if binary_forget is None else binary_forget
        binary_utility = True if binary_utility is None else binary_utility
    g = certify_grid(F, U, alpha_forget, alpha_utility, delta, pvalue=pvalue, fwer=fwer, binary_forget=binary_forget,
                     binary_utility=binary_utility, names=names,
                     clusters=None if clusters is None else {"forget": clusters.get("forget"), "utility": clusters.get("utility")})
    return Certificate(**{f.name: getattr(g, f.name) for f in fields(GridCertificate)}, source=src)


def print_certificate(cert: Certificate, console=None, out: Path | None = None) -> None:
    """Print a compact table (readable at 80 columns; user strings never parsed as markup), optionally write JSON."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = console or Console()
    f = lambda x: "-" if x is None or not np.isfinite(x) else f"{x:.3f}"  # noqa: E731
    g = lambda x: f"{x:.2g}"  # noqa: E731  (p-values span many orders of magnitude)
    t = Table(title=Text(f"certificate of {cert.source}"), expand=False, pad_edge=False)
    for col, kw in (("config", {"overflow": "fold", "max_width": 22}), ("cert", {}), ("p", {}), ("CUR", {}),
                    ("util UCB", {}), ("risk f", {}), ("risk u", {})):
        t.add_column(col, **kw)
    ru = cert.risk_utility
    for i, name in enumerate(cert.names):
        t.add_row(Text(name), "yes" if cert.certified[i] else "", g(cert.p_values[i]), f(cert.cur[i]),
                  f(None if cert.utility_ucb is None else cert.utility_ucb[i]), f(cert.risk_forget["cal"][i]),
                  f(None if ru is None else ru["cal"][i]))
    console.print(t)
    lines = [f"certified {int(cert.certified.sum())}/{len(cert.names)} at alpha_forget={cert.alpha_forget:g}"
             + ("" if cert.alpha_utility is None else f", alpha_utility={cert.alpha_utility:g}")
             + f", delta={cert.delta:g} ({cert.pvalue}, {cert.fwer}; unit {cert.unit}, n_cal forget "
             + f"{cert.n['forget']['cal']})", "CUR and util UCB are pointwise (risks: cal means)."]
    if cert.best is not None:
        lines.append(f"best: {cert.best_name}, forget bound {cert.best_bound:.3f}"
                     + ("" if cert.best_bound_utility is None else f", utility bound {cert.best_bound_utility:.3f}")
                     + f" ({cert.covers['best_bound']})")
    for line in lines:
        console.print(Text(line))
    if out is not None:
        Path(out).write_text(json.dumps({"certificate": cert.to_dict(), "configs": cert.to_records()}, indent=2))
        console.print(Text(f"written: {out}"))
