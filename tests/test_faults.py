"""A hostile user's damage, done for real: bad values, unusable or full disks, two owners of one run,
signals to a training process, reports on a clean checkout, wrong files where data should be, Slurm
where there is none. Each fault ends in one paragraph naming the problem and the fix, a non-zero
exit, and no finished result lost or overwritten.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from mixnam.data import load
from mixnam.errors import ConfigError, DataError
from mixnam.launchers import check_launcher
from mixnam.runs.lock import RunLock
from mixnam.validation import validate
from tests.conftest import ROOT
from tests.test_reliability import run_py_command

QUICK_LINEAR = ("model=linear", "dataset=housing", "data.max_rows=1000")
# a neural run long enough to be hit by a signal mid-training, short enough for CI (about 0.1 s an epoch)
TRAINING = ("model=mixnam", "dataset=housing", "data.max_rows=2000", "model.n_layers=1", "model.hidden_dim=8",
            "trainer.max_epochs=40", "trainer.patience_fraction=1", "trainer.enable_progress_bar=false",
            "trainer.num_threads=1")


def run_py(tmp_path, *overrides, mirror=None, env=None, runs_dir=None):
    command = run_py_command(tmp_path, *overrides, mirror=mirror)
    if runs_dir is not None:
        command = [c for c in command if not c.startswith("paths.runs_dir=")] + [f"paths.runs_dir={runs_dir}"]
    return subprocess.run(command, check=False, cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, **(env or {})})


def start_run_py(tmp_path, *overrides, mirror=None, env=None) -> subprocess.Popen:
    return subprocess.Popen(run_py_command(tmp_path, *overrides, mirror=mirror), cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})})


def one_paragraph(result, *fragments) -> None:
    assert result.returncode != 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr[-3000:]


def wait_for(predicate, process: subprocess.Popen | None = None, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the process ended first ({process.returncode}): {process.stderr.read()[-3000:]}")
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def the_record(runs: Path) -> tuple[Path, dict]:
    [path] = [p for p in runs.rglob("*.json") if p.name.count(".") == 1]
    return path, json.loads(path.read_text())


@contextmanager
def mounted(target: Path, *options: str):
    """A real mount (root in CI), always unmounted."""
    target.mkdir(parents=True, exist_ok=True)
    if options[0] == "tmpfs":
        subprocess.run(["mount", "-t", "tmpfs", "-o", options[1], "tmpfs", str(target)], check=True)
    else:  # a read-only bind mount: root writes through chmod, not through a read-only mount
        subprocess.run(["mount", "--bind", str(target), str(target)], check=True)
        subprocess.run(["mount", "-o", "remount,ro,bind", str(target)], check=True)
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], check=True)


# ------------------------------------------------------------------- 1. values checked before any work
def compose_config(*overrides: str):
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        return compose("config", overrides=[f"paths.root={ROOT}", *overrides])


def test_bad_values_are_all_named_in_one_message_before_any_data_is_loaded(tmp_path):
    data_dir = tmp_path / "data"
    result = run_py(tmp_path, "model=mixnam", "model.hidden_dim=-5", "model.dropout=1.5", "model.batch_size=0",
                    "trainer.max_epochs=0", f"paths.data_dir={data_dir}", "data.mirror=null")
    one_paragraph(result, "model.hidden_dim=-5 is not allowed", "an integer >= 1", "model.dropout=1.5 is not allowed",
                  "a number in [0, 1)", "model.batch_size=0", "trainer.max_epochs=0", "Fix: pass model.dropout=")
    assert result.stderr.count("is not allowed") == 4, "one paragraph per problem, all at once"
    assert not data_dir.exists() and not (tmp_path / "runs").exists(), "nothing was loaded, trained or recorded"


@pytest.mark.parametrize("overrides,fragment", [
    (("model=nam", "model.hidden_dims=[8,0]"), "model.hidden_dims=[8, 0] is not allowed"),
    (("model=mixnam", "model.top_k=5"), "model.top_k=5 must lie in 1..model.n_experts=4"),
    (("model=mixnam", "trainer.max_epochs=null", "model.max_epochs=null"), "trainer.max_epochs is null"),
    (("model=xgboost", "model.subsample=0"), "a number in (0, 1]"),
    (("model=linear", "dataset=income", "split=7"), "split=7 is not a fold"),
    (("model=linear", "trainer.precision=bf17"), "trainer.precision='bf17' is not allowed"),
    (("model=mixnam", "seed=-1"), "seed=-1 is not allowed"),
    (("model=linear", "data.mirror=/no/such/mirror"), "data.mirror='/no/such/mirror' is not allowed"),
])
def test_each_kind_of_bad_value_and_relation_is_caught(overrides, fragment):
    with pytest.raises(ConfigError, match=None) as caught:
        validate(compose_config(*overrides))
    assert fragment in str(caught.value)


@pytest.mark.parametrize("model", sorted(p.stem for p in (ROOT / "conf" / "model").glob("*.yaml")))
def test_every_shipped_model_config_passes_validation(model):
    datasets = sorted(p.stem for p in (ROOT / "conf" / "tuned" / model).glob("*.yaml")) or ["housing"]
    for dataset in datasets:
        validate(compose_config(f"model={model}", f"dataset={dataset}"))


# ------------------------------------------------------------------------ 2. the output location
def test_a_read_only_runs_dir_is_refused_before_the_fit(tmp_path, mirror):
    with mounted(tmp_path / "readonly", "bind") as readonly:
        result = run_py(tmp_path, *QUICK_LINEAR, mirror=mirror, runs_dir=readonly / "runs")
    one_paragraph(result, f"paths.runs_dir={readonly / 'runs'} is not writable", "Read-only file system",
                  "paths.runs_dir=/some/writable/dir")
    assert "cal_housing" not in result.stderr, "refused before the data were read"


def test_a_runs_dir_under_a_file_is_refused(tmp_path, mirror):
    (tmp_path / "afile").write_text("not a directory")
    result = run_py(tmp_path, *QUICK_LINEAR, mirror=mirror, runs_dir=tmp_path / "afile" / "runs")
    one_paragraph(result, f"{tmp_path / 'afile'} is a file, not a directory")


def test_a_full_disk_is_refused_before_the_fit(tmp_path, mirror):
    with mounted(tmp_path / "tiny", "tmpfs", "size=4m") as tiny:
        result = run_py(tmp_path, *QUICK_LINEAR, mirror=mirror, runs_dir=tiny / "runs")
    one_paragraph(result, "MiB free", "Free some space")


def test_a_disk_that_fills_during_the_run_keeps_the_result_elsewhere_and_fails_loudly(tmp_path, mirror):
    rescue = tmp_path / "rescued"
    with mounted(tmp_path / "small", "tmpfs", "size=20m") as small:
        runs = small / "runs"
        command = [c for c in run_py_command(tmp_path, *QUICK_LINEAR, mirror=mirror) if "runs_dir" not in c]
        process = subprocess.Popen([*command, f"paths.runs_dir={runs}"], cwd=ROOT, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True,
                                   env={**os.environ, "MIXNAM_RESCUE_DIR": str(rescue)})
        wait_for(lambda: any(runs.rglob("*.lock")), process)  # the checks passed; the work has started
        filler = os.open(small / "filler", os.O_WRONLY | os.O_CREAT)  # another job fills the disk meanwhile
        try:
            while True:
                os.write(filler, b"\0" * (1 << 20))
        except OSError:
            pass
        finally:
            os.close(filler)
        _, stderr = process.communicate(timeout=600)
        left = sorted(p.name for p in runs.rglob("*") if p.is_file())
    assert process.returncode != 0 and "Traceback" not in stderr, stderr[-3000:]
    [rescued] = list(rescue.rglob("*.json"))
    assert f"written to {rescued} instead" in stderr and "No space left" in stderr
    assert json.loads(rescued.read_text())["status"] == "completed", "the finished result is kept"
    assert left == [], f"nothing a rerun could take as finished is left in the runs dir: {left}"


# ------------------------------------------------------------------------------ 3. one owner per run
def test_a_second_process_on_the_same_run_is_told_it_is_in_progress_and_does_not_start(tmp_path, mirror):
    first = start_run_py(tmp_path, *TRAINING, mirror=mirror)
    runs = tmp_path / "runs"
    wait_for(lambda: any(runs.rglob("*.lock")), first)
    first.send_signal(signal.SIGSTOP)  # the owner holds its lock, alive, however slow the second is to start
    try:
        second = run_py(tmp_path, *TRAINING, mirror=mirror)
    finally:
        first.send_signal(signal.SIGCONT)
    _, first_stderr = first.communicate(timeout=600)
    one_paragraph(second, "in progress elsewhere", f"host {socket.gethostname()} pid {first.pid}")
    assert first.returncode == 0, first_stderr[-3000:]
    path, record = the_record(runs)
    assert record["status"] == "completed" and record["epochs_run"] == 40
    metrics = (path.with_suffix("") / "metrics.csv").read_text().splitlines()
    assert len(metrics) == len(set(metrics)), "one writer of the metrics log"
    assert not list(runs.rglob("*.lock")), "the owner released its lock"


def test_a_lock_left_by_a_dead_process_is_taken_over(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    record = tmp_path / "split0-seed0-abc.json"
    record.with_suffix(".lock").write_text(json.dumps({"host": socket.gethostname(), "pid": dead.pid}))
    with RunLock(record) as lock:
        assert json.loads(lock.path.read_text())["pid"] == os.getpid()
    assert not lock.path.exists()


def test_a_live_owner_on_another_host_keeps_its_lock_until_its_heartbeat_stops(tmp_path):
    record = tmp_path / "split0-seed0-abc.json"
    lock = record.with_suffix(".lock")
    lock.write_text(json.dumps({"host": "node-7", "pid": 1234}))
    with pytest.raises(Exception, match="in progress elsewhere: .* host node-7 pid 1234"):
        RunLock(record).acquire()
    old = time.time() - 3600
    os.utime(lock, (old, old))
    with RunLock(record):
        pass


# ----------------------------------------------------------------------- 4. signals, seen and survived
@pytest.mark.parametrize("signum,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_mid_training_records_interrupted_writes_last_ckpt_and_exits_128_plus_n(tmp_path, mirror, signum,
                                                                                        code):
    runs = tmp_path / "runs"
    process = start_run_py(tmp_path, *TRAINING, mirror=mirror)
    wait_for(lambda: any(runs.rglob("best.pt")), process)  # an epoch has finished
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == code, stderr[-3000:]
    path, record = the_record(runs)
    name = signal.Signals(signum).name
    assert record["status"] == "interrupted" and record["signal"] == name and record["epoch"] >= 1
    assert f"interrupted by {name} during epoch {record['epoch']} of 40" in record["error"]
    assert "resume=true" in record["error"] and "resume=true" in stderr and "Traceback" not in stderr
    assert (path.with_suffix("") / "last.ckpt").is_file() and record["checkpoint"].endswith("last.ckpt")
    if signum == signal.SIGTERM:
        resumed = run_py(tmp_path, *TRAINING, "resume=true", mirror=mirror)
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        _, record = the_record(runs)
        assert record["status"] == "completed" and record["resumed"] and record["epochs_run"] == 40
        assert "in this process)" in resumed.stdout + resumed.stderr and record["fit_seconds"] > 0  # the cost of both processes


def test_a_failed_rerun_never_replaces_a_completed_record(tmp_path, mirror):
    runs = tmp_path / "runs"
    assert run_py(tmp_path, *TRAINING, mirror=mirror).returncode == 0
    path, _ = the_record(runs)
    completed = path.read_bytes()
    best = path.with_suffix("") / "best.pt"
    first_best = best.stat().st_mtime_ns
    rerun = start_run_py(tmp_path, *TRAINING, "force=true", mirror=mirror)
    wait_for(lambda: best.stat().st_mtime_ns != first_best, rerun)  # the rerun is training
    rerun.send_signal(signal.SIGTERM)
    rerun.communicate(timeout=300)
    assert rerun.returncode == 143
    assert path.read_bytes() == completed, "the completed record is untouched"
    attempt = json.loads(path.with_name(f"{path.stem}.interrupted.json").read_text())
    assert attempt["status"] == "interrupted"


# ------------------------------------------------------------------------ 5. reports keep the evidence
def test_a_report_on_a_clean_checkout_never_blanks_the_committed_tables(tmp_path):
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    tables = clone / "results" / "tables"  # the paper-budget Table 1, made from the records kept beside it
    before = {p.name: p.read_bytes() for p in tables.iterdir() if p.is_file()}
    assert "table1.csv" in before

    def report(*args):
        return subprocess.run([sys.executable, "-m", "mixnam.report", *args], check=False, cwd=clone,
                              capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(clone / "src")})

    one_paragraph(report("table1", "dataset=housing", "--runs", str(tmp_path / "missing")), "does not exist", "--runs")
    (tmp_path / "empty").mkdir()
    # options after the overrides, as docs/reproducing.md writes them: accepted; no records at all: refused, even with
    # --force, for the tables and the scorecard alike (issue 22)
    one_paragraph(report("table1", "dataset=housing", "--runs", str(tmp_path / "empty"), "--records", "none"),
                  "no records for `table1`", "Nothing was written")
    for name in ("table1", "scorecard"):
        one_paragraph(report(name, "--force", "--runs", str(tmp_path / "empty")), f"no records for `{name}`",
                      "Nothing was written")
    assert {p.name: p.read_bytes() for p in tables.iterdir() if p.is_file()} == before
    # fewer filled cells (Housing only, of the committed Housing and Income): refused, and replaced with --force
    kept = ["--runs", str(tmp_path / "empty"), "--records", str(clone / "results" / "records"), "dataset=housing"]
    one_paragraph(report("table1", *kept), "filled cells", "--force", "Nothing was written")
    assert {p.name: p.read_bytes() for p in tables.iterdir() if p.is_file()} == before
    forced = report("table1", "--force", *kept)
    assert forced.returncode == 0, forced.stderr[-3000:]
    assert (tables / "table1.csv").read_bytes() != before["table1.csv"]


# ------------------------------------------------------------------ 6. files supplied by the user
def _load_with(tmp_path, dataset: str, name: str, content: bytes):
    (tmp_path / dataset).mkdir(parents=True, exist_ok=True)
    (tmp_path / dataset / name).write_bytes(content)
    with pytest.raises(DataError) as caught:
        load(dataset, data_dir=tmp_path, mirror=None, verify_rows=False)
    message = str(caught.value)
    assert str(tmp_path / dataset / name) in message
    return message


MIMIC2_ROW = b" ".join([b"1"] * 18) + b"\n"


@pytest.mark.parametrize("dataset,name,content,fragment", [
    ("mimic2", "mimic2.data", b"<!DOCTYPE html>\n<html><body>Sign in to PhysioNet</body></html>\n", "an HTML page"),
    ("mimic3", "adult_icu.gz", bytes(range(256)) * 40, "binary bytes"),
    ("mimic2", "mimic2.data", MIMIC2_ROW.replace(b" ", b";") * 50, "1 column(s), expected 18 separated by whitespace"),
    ("mimic3", "adult_icu.gz", __import__("gzip").compress(b"age,mort_icu\n60,0\n"), "lacks the columns"),
    ("mimic2", "mimic2.data", b"Age GCS\n" + MIMIC2_ROW * 50, "could not be read as the mimic2 data table"),
])
def test_a_wrong_credentialed_file_names_its_path_what_was_expected_and_how_to_get_it(tmp_path, dataset, name,
                                                                                      content, fragment):
    message = _load_with(tmp_path, dataset, name, content)
    assert fragment in message and "physionet.org" in message


def test_a_wrong_public_file_in_the_cache_says_how_it_is_fetched_again(tmp_path):
    message = _load_with(tmp_path, "year", "YearPredictionMSD.txt", b"<html><head></head>login</html>")
    assert "an HTML page" in message and "fetched again" in message


def test_a_fold_file_that_is_a_web_page_is_named_with_the_fix(tmp_path, mirror):
    (tmp_path / "income").mkdir()
    for name in ("train0.txt", "test0.txt"):
        (tmp_path / "income" / name).write_text("<!doctype html><html>Google Drive: sign in</html>")
    with pytest.raises(DataError, match=r"train0.txt is an HTML page.*NODE-GAM"):
        load("income", data_dir=tmp_path, mirror=mirror)


def test_a_bad_user_file_through_run_py_is_one_paragraph(tmp_path):
    (tmp_path / "data" / "mimic2").mkdir(parents=True)
    (tmp_path / "data" / "mimic2" / "mimic2.data").write_bytes(os.urandom(4096))
    result = run_py(tmp_path, "model=linear", "dataset=mimic2", f"paths.data_dir={tmp_path / 'data'}",
                    "data.mirror=null")
    one_paragraph(result, "mimic2.data holds binary bytes", "physionet.org")


# ---------------------------------------------------------------------------------- 7. launchers
def test_slurm_where_there_is_none_says_how_to_run_locally(tmp_path):
    empty_path = tmp_path / "bin"
    empty_path.mkdir()
    result = run_py(tmp_path, "-m", *QUICK_LINEAR, "hydra/launcher=slurm", env={"PATH": str(empty_path)})
    one_paragraph(result, "sbatch and sinfo is not on PATH", "hydra/launcher=local")
    assert not (tmp_path / "multirun").exists(), "nothing was submitted"


def _fake_slurm(tmp_path, monkeypatch, sinfo_lines: str) -> None:
    """`sinfo` as a Slurm controller with one small CPU partition prints it (the test has no cluster)."""
    bin_dir = tmp_path / "slurm-bin"
    bin_dir.mkdir()
    for tool, body in (("sinfo", f"printf '{sinfo_lines}'"), ("sbatch", "exit 1")):
        (bin_dir / tool).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")


@pytest.mark.parametrize("overrides,fragments", [
    ((), ["gpus_per_node=1 but partition cpu offers at most 0 GPUs",
          "cpus_per_task=8 but partition cpu offers at most 4", "timeout_min=240 but partition cpu offers at most 120 minutes", "hydra/launcher=local"]),
    (("hydra.launcher.partition=gpu",), ["hydra.launcher.partition=gpu is not a partition", "(sinfo lists: cpu)"]),
    (("hydra.launcher.timeout_min=0",), ["hydra.launcher.timeout_min=0 must be an integer >= 1"]),
])
def test_slurm_resources_a_partition_cannot_give_are_one_message(tmp_path, monkeypatch, capsys, overrides, fragments):
    _fake_slurm(tmp_path, monkeypatch, "cpu*|4|16000|(null)|2:00:00\\n")
    with pytest.raises(SystemExit) as stopped:
        check_launcher(["-m", "hydra/launcher=slurm", *overrides])
    assert stopped.value.code == 2
    message = capsys.readouterr().err
    for fragment in fragments:
        assert fragment in message, message


def test_slurm_resources_that_fit_pass(tmp_path, monkeypatch):
    _fake_slurm(tmp_path, monkeypatch, "gpu|32|256000|gpu:a100:4(S:0-1)|1-00:00:00\\ncpu*|4|16000|(null)|2:00:00\\n")
    check_launcher(["-m", "hydra/launcher=slurm", "hydra.launcher.partition=gpu"])


def test_a_gpu_profile_sweep_of_cpu_only_models_is_checked_against_the_cpu_jobs_resources(tmp_path, monkeypatch):
    _fake_slurm(tmp_path, monkeypatch, "cpu*|4|16000|(null)|1-00:00:00\\n")
    check_launcher(["-m", "hydra/launcher=slurm", "model=linear,ebm", "hydra.launcher.cpu_jobs.mem_gb=2"])
    with pytest.raises(SystemExit):  # NAM trains on the GPU the profile asks for, which this cluster lacks
        check_launcher(["-m", "hydra/launcher=slurm", "model=linear,nam"])


def test_a_gpu_sweep_places_cpu_only_models_on_cpu_resources_and_packs_the_rest():
    from hydra_plugins.mixnam_launcher import CheckedSlurmLauncher

    launcher = CheckedSlurmLauncher(runs_per_job=4, cpu_jobs={"gpus_per_node": None, "cpus_per_task": 2},
                                    gpus_per_node=1, cpus_per_task=8)
    jobs = list(enumerate([["model=linear"], ["model=nam"], [], ["model=ebm", "seed=1"]]))
    (cpu, one, on_cpu), (gpu, four, on_gpu) = launcher.placements(jobs)
    assert (cpu["gpus_per_node"], cpu["cpus_per_task"], one, [i for i, _ in on_cpu]) == (None, 2, 1, [0, 3])
    assert (gpu["gpus_per_node"], gpu["cpus_per_task"], four, [i for i, _ in on_gpu]) == (1, 8, 4, [1, 2])
    with pytest.raises(ConfigError, match="runs_per_job=0"):
        CheckedSlurmLauncher(runs_per_job=0)


# ------------------------------------------------------------------------------------ 8. bare run.py
def test_a_bare_run_py_is_the_main_job_mixnam_on_housing_with_the_papers_settings():
    shown = subprocess.run([sys.executable, str(ROOT / "run.py"), "--cfg", "job", "--resolve"], check=False, cwd=ROOT,
                           capture_output=True, text=True, timeout=300)
    assert shown.returncode == 0, shown.stderr[-2000:]
    import yaml

    cfg = yaml.safe_load(shown.stdout)
    assert cfg["model"]["name"] == "mixnam" and cfg["dataset"]["name"] == "housing"
    assert cfg["trainer"]["max_epochs"] == 1000 and cfg["profile"] == "paper", "Table 5's Housing budget"
    readme = (ROOT / "README.md").read_text()
    assert "A bare `python run.py` is the main job" in readme
