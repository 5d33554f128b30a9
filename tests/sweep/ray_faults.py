"""Ray training tasks for tests/sweep/test_ray_executor.py, shipped to Ray workers by value: one that loses its worker
once, one that records the resources Ray assigned it (``recording_group``).

``dying_group`` wraps ``froc.sweep.training._ray_group``. It appends each attempt (train key, pending steps) to
``$FROC_TEST_FAULTS/attempts.jsonl``. The first attempt to create ``$FROC_TEST_FAULTS/died`` streams its first
record, waits until the driver has committed it (its line in ``$FROC_SWEEP_EVENTS``), and then kills its own
worker process (``os._exit``), as a segfault or a lost node would.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

FAULTS_ENV = "FROC_TEST_FAULTS"


def dying_group(group, pending, prep, cfg_dict):
    from froc.sweep.training import _ray_group

    d = Path(os.environ[FAULTS_ENV])
    with open(d / "attempts.jsonl", "a") as f:
        f.write(json.dumps({"key": group[0]["train_key"], "pending": list(pending)}) + "\n")
    try:
        os.close(os.open(d / "died", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        die = True
    except FileExistsError:
        die = False
    for rec in _ray_group(group, pending, prep, cfg_dict):
        yield rec
        if die:
            (d / "died").write_text(json.dumps({"key": group[0]["train_key"], "config_id": rec["config_id"]}))
            events = Path(os.environ["FROC_SWEEP_EVENTS"])
            for _ in range(600):
                if events.is_file() and rec["config_id"] in events.read_text():
                    break
                time.sleep(0.1)
            os._exit(1)


def recording_group(group, pending, prep, cfg_dict):
    """``_ray_group`` that first appends the task's assigned Ray resources to ``$FROC_TEST_FAULTS/resources.jsonl``."""
    import ray

    from froc.sweep.training import _ray_group

    with open(Path(os.environ[FAULTS_ENV]) / "resources.jsonl", "a") as f:
        f.write(json.dumps(ray.get_runtime_context().get_assigned_resources()) + "\n")
    yield from _ray_group(group, pending, prep, cfg_dict)
