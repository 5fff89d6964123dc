"""One run: config -> data -> model -> fit -> evaluate -> record.

The record is written whatever happens: `completed` with metrics, or `failed` with the error, so a
sweep can continue past a bad run and a report can say why a cell is empty. A run whose completed
record exists is skipped (unless `force=true`), which is what makes sweeps resumable.
"""
from __future__ import annotations

import logging
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

from omegaconf import DictConfig, OmegaConf, open_dict

from mixnam.devices import run_device
from mixnam.errors import Interrupted, MixnamError
from mixnam.interrupts import signals_held, signals_interrupt_the_run
from mixnam.models.budget import capped_settings
from mixnam.runs.lock import RunLock
from mixnam.runs.records import (
    environment,
    find_completed,
    is_completed,
    read_record,
    record_path,
    result_config,
    run_id,
)
from mixnam.runs.rescue import check_runs_dir, write_record_or_rescue
from mixnam.validation import validate

log = logging.getLogger(__name__)


def _base_record(cfg: DictConfig) -> dict:
    return {
        "model": cfg.model.name, "dataset": cfg.dataset.name, "split": int(cfg.split), "seed": int(cfg.seed),
        "experiment": cfg.experiment_name, "profile": cfg.profile, "run_id": run_id(cfg),
        "fidelity": OmegaConf.select(cfg, "fidelity.name") or "paper",  # its switches: config.fidelity
        "config": result_config(cfg), "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "env": environment(cfg.paths.root, str(OmegaConf.select(cfg, "trainer.accelerator", default="cpu"))),
        "max_epochs": OmegaConf.select(cfg, "trainer.max_epochs", default=None),
        "budget_capped": capped_settings(cfg),  # the model settings the profile's budget_caps lowered
    }


def data_and_estimator(cfg: DictConfig):
    # Data, torch, Lightning and the explainers load only here, once a run is known to need them: a bad
    # input, a finished run or a run in progress elsewhere is answered without their seconds of imports.
    from mixnam.data import load
    from mixnam.training import build_estimator

    data = load(cfg.dataset.name, split=cfg.split, seed=cfg.seed, data_dir=cfg.paths.data_dir,
                mirror=cfg.data.mirror, max_rows=cfg.data.max_rows, verify_rows=cfg.data.verify_rows,
                options=OmegaConf.to_container(cfg.dataset.options, resolve=True) if "options" in cfg.dataset else None,
                tail_validation=OmegaConf.select(cfg, "fidelity.year_validation") or "node_rows",
                cache_dir=cfg.paths.cache_dir)
    return data, build_estimator(cfg, data.problem)


def explain_finished(cfg: DictConfig, record: dict, path: Path) -> dict:
    """`explain=true` on a finished neural run: draw it from its best weights instead of retraining."""
    weights = Path(cfg.run_dir) / "best.pt"
    if not weights.is_file():  # library models keep no weights
        raise MixnamError(f"{path} is finished but kept no weights to explain ({weights} is absent). "
                          "Rerun it with explain=true force=true.")
    from mixnam.explain import explain_run

    data, estimator = data_and_estimator(cfg)
    estimator.load_weights(weights)
    record["explain"] = _kept_if_it_fails("explain", explain_run, estimator, data, cfg.run_dir)
    write_record_or_rescue(path, record)
    log.info("explained the finished run %s from %s", path, weights)
    return record


def _kept_if_it_fails(what: str, fn, *args, **kwargs) -> dict:
    """Metrics and plots of a finished fit: their bug is recorded, never loses the fit."""
    try:
        return fn(*args, **kwargs)
    except Exception as error:  # noqa: BLE001
        log.warning("%s failed: %s: %s", what, type(error).__name__, error)
        return {"error": f"{type(error).__name__}: {error}"}


def run(cfg: DictConfig) -> dict:
    """Run (or skip) one experiment and return its record.

    Before any work: every config value is checked, the runs directory proven usable, and the run
    locked against a second process on it (which then reports it as in progress elsewhere)."""
    validate(cfg)
    finished = None if cfg.force or cfg.explain else find_completed(cfg)
    if finished:  # a finished run needs no runs directory (kept records on a fresh clone) nor a lock
        log.info("skipping %s: a completed record exists (force=true reruns it)", finished)
        return read_record(finished)
    check_runs_dir(cfg.paths.runs_dir)
    with RunLock(record_path(cfg)):
        return _owned_run(cfg)


def _owned_run(cfg: DictConfig) -> dict:
    finished = None if cfg.force else find_completed(cfg)
    path = finished or record_path(cfg)
    with open_dict(cfg):
        cfg.run_dir = str(path.with_suffix(""))
    if finished:
        log.info("skipping %s: a completed record exists (force=true reruns it)", path)
        record = read_record(path)
        return explain_finished(cfg, record, path) if cfg.explain and "explain" not in record else record
    record = _base_record(cfg)
    try:
        with signals_interrupt_the_run():
            _fit_and_evaluate(cfg, record)
        record["status"] = "completed"
    except Interrupted as interruption:
        record.update(status="interrupted", error=str(interruption), signal=interruption.signal_name,
                      epoch=interruption.epoch, checkpoint=interruption.checkpoint)
        raise
    except BaseException as error:
        record.update(status="failed", error=f"{type(error).__name__}: {error}", traceback=traceback.format_exc())
        raise
    finally:
        record["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with signals_held():
            _keep_record(path, record)
    return record


def _fit_and_evaluate(cfg: DictConfig, record: dict) -> None:
    from mixnam.explain import explain_run
    from mixnam.training.progress import duration, run_label
    from mixnam.training.resources import native_threads

    run_device(str(OmegaConf.select(cfg, "trainer.accelerator", default="cpu")))  # a GPU run without one: the fix
    label = run_label(cfg, cfg.run_dir)
    with native_threads(cfg.trainer.get("num_threads")) as threads:  # every model's BLAS/OpenMP pools, not only torch
        log.info("%s: %d thread%s: %s", label, threads.threads, "" if threads.threads == 1 else "s", threads.reason)
        record.update(num_threads=threads.threads, num_threads_reason=threads.reason)
        data, estimator = data_and_estimator(cfg)
        record.update(data=data.metadata, task=data.problem.task, metric=data.problem.metric)
        log.info("%s: fitting on %d rows (%d validation, %d test), %d features", label, len(data.train.y),
                 len(data.val.y), len(data.test.y), data.train.X.shape[1])
        started = time.perf_counter()
        summary = estimator.fit(data.train, data.val)
        seconds = time.perf_counter() - started
        # a resumed fit costs what every process spent on it; unknown when its checkpoint did not keep that
        record["fit_seconds"] = None if summary.earlier_seconds is None else round(summary.earlier_seconds + seconds, 3)
        record["metrics"] = {name: data.problem.score(part.y, estimator.predict(part.X))
                             for name, part in (("val", data.val), ("test", data.test))}
        spent = "an unknown time" if record["fit_seconds"] is None else duration(record["fit_seconds"])
        resumed = f" ({duration(seconds)} in this process)" if summary.earlier_seconds != 0 else ""
        log.info("%s: fitted in %s%s; validation %s %.4f, test %.4f", label, spent, resumed,
                 data.problem.metric, record["metrics"]["val"][data.problem.metric],
                 record["metrics"]["test"][data.problem.metric])
        record.update(best_epoch=summary.best_epoch, epochs_run=summary.epochs_run, n_params=int(estimator.n_params),
                      **summary.extra)
        # additivity, tightness, size over NAM (Tables 3, 9) and, with explain=true, shape data and plots
        record["interpretability"] = _kept_if_it_fails("interpretability metrics", interpretability_of, cfg,
                                                       estimator, data)
        if cfg.explain:
            record["explain"] = _kept_if_it_fails("explain", explain_run, estimator, data, cfg.run_dir)


def interpretability_of(cfg: DictConfig, estimator, data) -> dict:
    """The record's `interpretability` block (Tables 3, 9): after a fit, or recomputed from kept weights."""
    from mixnam.explain import interpretability

    rows = cfg.interpretability.max_rows  # null: the metrics' own default
    return interpretability(estimator, data, **({"max_rows": int(rows)} if rows else {}))


def _keep_record(path: Path, record: dict) -> None:
    """A run that did not complete never replaces a completed record (force=true that failed): its
    record goes beside it as `<name>.<status>.json`, which no skip or table takes for finished."""
    if record["status"] != "completed" and is_completed(path):
        path = path.with_name(f"{path.stem}.{record['status']}.json")
        log.warning("this attempt %s; the completed record is kept, this one is %s", record["status"], path)
    write_record_or_rescue(path, record)
    log.info("%s record: %s", record["status"], path)
