"""The persistent store of a sweep: one DuckDB file in the output folder, queryable with SQL.

Tables
------
``meta(key, value)``                      sweep config (resolved YAML), froc version, probe split
``configs(config_id, ...)``               one row per completed configuration: method, hparams (JSON),
                                          steps, status, diverged_at, seconds, metrics (JSON)
``scores(config_id, probe_id, ...)``      per-sample scores of every configuration; the original model
                                          and the oracle are stored as ``__original__`` / ``__oracle__``
``attack_scores(config_id, attack, ...)`` per-sample post-attack scores
``attacks(config_id, attack, ...)``       one row per completed attack (status, seconds, details JSON)

A configuration's rows (its scores and its ``configs`` row) are written in ONE transaction
when it completes, so a crash (Ctrl-C, kill -9) leaves either all of it or none of it; a
re-run skips every configuration whose ``configs`` row exists.

DuckDB lets one process write a file and nobody else open it meanwhile (not even read-only), so a
running sweep is followed through its console output, or through ``FROC_SWEEP_EVENTS=FILE``: the
runner appends one JSON line to FILE per configuration it commits.

Example (SQL)::

    duckdb DIR/froc.duckdb "select method, steps, json_extract(metrics, '$.forget_knowledge') from configs"
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pandas as pd

SCORE_COLUMNS = {
    "probe_id": "VARCHAR", "subject": "VARCHAR", "form": "VARCHAR", "grp": "VARCHAR", "fact_type": "VARCHAR",
    "template_split": "VARCHAR", "side": "VARCHAR", "split": "VARCHAR", "kind": "VARCHAR",
    "knowledge": "DOUBLE", "n_perturbed": "DOUBLE", "correct_choice": "BOOLEAN", "gold_logp_mean": "DOUBLE",
    "gold_logp_sum": "DOUBLE", "gold_len": "DOUBLE", "para_logp_mean": "DOUBLE", "perturbed_logp_mean": "DOUBLE[]",
    "mink": "DOUBLE", "minkpp": "DOUBLE", "perturbed_mink": "DOUBLE[]", "perturbed_minkpp": "DOUBLE[]",
    "gold_zlib_len": "DOUBLE", "perturbed_zlib_len": "DOUBLE[]", "extraction_strength": "DOUBLE",
    "exact_mem": "DOUBLE", "gen_correct": "BOOLEAN", "rouge_l_recall": "DOUBLE", "rouge_l_f1": "DOUBLE",
    "generation": "VARCHAR", "reference": "VARCHAR",
}

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR);
CREATE TABLE IF NOT EXISTS configs (
    config_id VARCHAR PRIMARY KEY, train_key VARCHAR, method VARCHAR, hparams VARCHAR, steps INTEGER,
    status VARCHAR, diverged_at INTEGER, train_seconds DOUBLE, score_seconds DOUBLE, metrics VARCHAR,
    completed_at TIMESTAMP DEFAULT current_timestamp);
CREATE TABLE IF NOT EXISTS scores (config_id VARCHAR, {", ".join(f"{k} {v}" for k, v in SCORE_COLUMNS.items())});
CREATE TABLE IF NOT EXISTS attack_scores (config_id VARCHAR, attack VARCHAR,
    {", ".join(f"{k} {v}" for k, v in SCORE_COLUMNS.items())});
CREATE TABLE IF NOT EXISTS attacks (config_id VARCHAR, attack VARCHAR, status VARCHAR, seconds DOUBLE,
    details VARCHAR, completed_at TIMESTAMP DEFAULT current_timestamp, PRIMARY KEY (config_id, attack));
"""


def _frame(df: pd.DataFrame, config_id: str, attack: str | None = None) -> pd.DataFrame:
    """Select and type the stored columns of a per-sample score table (missing columns -> NULL)."""
    src = df.rename(columns={"group": "grp"})
    out = pd.DataFrame({"config_id": [config_id] * len(src)})
    if attack is not None:
        out["attack"] = attack
    for col, typ in SCORE_COLUMNS.items():
        if col in src.columns:
            vals = src[col].to_numpy()
        else:
            vals = [None] * len(src)
        out[col] = vals
        if typ == "DOUBLE[]":
            out[col] = [None if v is None or (isinstance(v, float) and v != v) else [float(x) for x in v] for v in vals]
        elif typ == "DOUBLE":
            out[col] = pd.to_numeric(out[col], errors="coerce").astype("float64")
        elif typ == "BOOLEAN":
            out[col] = out[col].astype("boolean")
        else:
            out[col] = out[col].astype("string")
    return out


class Store:
    """A sweep's DuckDB file. One writer (the driver process)."""

    def __init__(self, path: str | Path, *, read_only: bool = False):
        self.path = Path(path)
        if read_only and not self.path.is_file():
            raise FileNotFoundError(f"no sweep store at {self.path}")
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.con = duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.IOException as e:
            if "lock" not in str(e).lower():
                raise
            from froc.errors import ConfigError

            raise ConfigError(f"{self.path} is in use by another process (another `froc run` on this folder?); "
                              f"wait for it to finish or stop it first ({e})") from None
        if not read_only:
            self.con.execute(_SCHEMA)

    def close(self) -> None:
        self.con.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @contextmanager
    def transaction(self):
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield self.con
        except BaseException:
            try:
                self.con.execute("ROLLBACK")
            except Exception:  # noqa: BLE001 - already rolled back by DuckDB; keep the original error
                pass
            raise
        self.con.execute("COMMIT")

    # ---- meta ----
    def set_meta(self, key: str, value) -> None:
        v = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        self.con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [key, v])

    def get_meta(self, key: str, default=None):
        row = self.con.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        return default if row is None else row[0]

    # ---- configurations ----
    def done_configs(self) -> set[str]:
        """Completed configurations (``failed`` ones — an exception, not a divergence — are retried)."""
        return {r[0] for r in self.con.execute("SELECT config_id FROM configs WHERE status <> 'failed'").fetchall()}

    def write_config(self, *, config_id: str, train_key: str, method: str, hparams: dict, steps: int, status: str,
                     diverged_at: int | None, train_seconds: float, score_seconds: float, metrics: dict,
                     scores: pd.DataFrame | None) -> None:
        """Write one completed configuration (scores + summary row) in one transaction."""
        with self.transaction() as con:
            con.execute("DELETE FROM scores WHERE config_id = ?", [config_id])
            if scores is not None and len(scores):
                frame = _frame(scores, config_id)
                con.register("_froc_frame", frame)
                con.execute("INSERT INTO scores SELECT * FROM _froc_frame")
                con.unregister("_froc_frame")
            con.execute(
                "INSERT OR REPLACE INTO configs (config_id, train_key, method, hparams, steps, status, diverged_at,"
                " train_seconds, score_seconds, metrics) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [config_id, train_key, method, json.dumps(hparams, sort_keys=True), steps, status, diverged_at,
                 train_seconds, score_seconds, json.dumps(metrics, sort_keys=True, default=float)],
            )

    def configs(self) -> pd.DataFrame:
        df = self.con.execute("SELECT * FROM configs ORDER BY config_id").df()
        df["hparams"] = df["hparams"].map(json.loads)
        df["metrics"] = df["metrics"].map(json.loads)
        return df

    def scores(self, config_ids: list[str] | None = None, *, columns: list[str] | None = None) -> pd.DataFrame:
        """Stored per-sample scores (``group`` is stored as ``grp``), in the order they were scored."""
        cols = "*" if columns is None else ", ".join(["config_id", *columns])
        if config_ids is None:
            return self.con.execute(f"SELECT {cols} FROM scores ORDER BY config_id, rowid").df()
        return self.con.execute(
            f"SELECT {cols} FROM scores WHERE list_contains(?, config_id) ORDER BY config_id, rowid", [config_ids]
        ).df()

    def table(self, config_id: str) -> pd.DataFrame:
        """One configuration's per-sample table in the scorer's column names (for metrics)."""
        df = self.scores([config_id]).drop(columns=["config_id"]).rename(columns={"grp": "group"})
        for c in ("perturbed_logp_mean", "perturbed_mink", "perturbed_minkpp", "perturbed_zlib_len"):
            df[c] = [list(v) if isinstance(v, (list, tuple)) or hasattr(v, "__len__") and not isinstance(v, str) else [] for v in df[c]]
        return df.reset_index(drop=True)

    # ---- attacks ----
    def done_attacks(self) -> set[tuple[str, str]]:
        return {(r[0], r[1]) for r in self.con.execute("SELECT config_id, attack FROM attacks").fetchall()}

    def write_attack(self, *, config_id: str, attack: str, status: str, seconds: float, details: dict,
                     scores: pd.DataFrame | None) -> None:
        with self.transaction() as con:
            con.execute("DELETE FROM attack_scores WHERE config_id = ? AND attack = ?", [config_id, attack])
            if scores is not None and len(scores):
                frame = _frame(scores, config_id, attack)
                con.register("_froc_frame", frame)
                con.execute("INSERT INTO attack_scores SELECT * FROM _froc_frame")
                con.unregister("_froc_frame")
            con.execute("INSERT OR REPLACE INTO attacks (config_id, attack, status, seconds, details) VALUES (?, ?, ?, ?, ?)",
                        [config_id, attack, status, seconds, json.dumps(details, sort_keys=True, default=float)])

    def attack_scores(self) -> pd.DataFrame:
        return self.con.execute("SELECT * FROM attack_scores ORDER BY config_id, attack, probe_id").df()

    def attacks(self) -> pd.DataFrame:
        df = self.con.execute("SELECT * FROM attacks ORDER BY config_id, attack").df()
        df["details"] = df["details"].map(json.loads)
        return df
