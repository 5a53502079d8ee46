"""lossgrad.distributed on several processes: the scripts of tests/mpi_scripts, each run under
``mpiexec -n N`` in a subprocess with a timeout (so a hang fails the test instead of CI).

Each script checks its own results on every rank (against NumPy, or against torch training
on the full batch, saved here first) and exits non-zero on the first mismatch.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lossgrad.distributed import launch

HERE = Path(__file__).resolve().parent
SCRIPTS = HERE / "mpi_scripts"
SRC = HERE.parent / "src"
sys.path.insert(0, str(SCRIPTS))


def mpirun(
    ranks: int, script: str | Path, *args: str, timeout: float = 90
) -> subprocess.CompletedProcess:
    """``mpiexec -n ranks python script args``: a script of tests/mpi_scripts, or a Path."""
    mpiexec = launch.find_mpiexec()
    assert mpiexec is not None, "mpiexec not found: install the test extra (mpich)"
    return subprocess.run(
        launch.command(ranks, str(SCRIPTS / script), list(args), mpiexec),  # absolute: kept
        env=_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _env() -> dict[str, str]:
    """This environment with lossgrad's source first and no rank variables of this process."""
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    return env


def _ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


@pytest.mark.parametrize("ranks", [2, 4])
def test_collectives_against_numpy(ranks):
    assert f"collectives ok on {ranks} ranks" in _ok(mpirun(ranks, "collectives.py"))


@pytest.fixture(scope="module")
def torch_trajectory(tmp_path_factory):
    import ddp_training

    path = tmp_path_factory.mktemp("ddp") / "reference.npz"
    ddp_training.torch_reference(str(path))
    return path


@pytest.mark.parametrize("ranks", [1, 2, 4])
def test_ddp_training_equals_torch_full_batch(ranks, torch_trajectory):
    out = _ok(mpirun(ranks, "ddp_training.py", str(torch_trajectory)))
    assert f"ddp training ok on {ranks} ranks" in out


def test_mismatched_models_are_detected_at_construction():
    assert "mismatch ok" in _ok(mpirun(2, "faults.py", "mismatch"))


@pytest.mark.parametrize("ranks", [2, 4])
def test_a_failing_rank_ends_every_rank(ranks):
    start = time.monotonic()
    result = mpirun(ranks, "faults.py", "raise", timeout=60)
    assert time.monotonic() - start < 60
    assert result.returncode != 0
    assert "unreachable" not in result.stdout
    assert f"rank {ranks - 1} of {ranks} failed with ValueError" in result.stderr
    assert f"rank {ranks - 1} cannot read its data" in result.stderr


def test_example_trains_the_same_on_any_number_of_ranks_and_micro_batches():
    example = HERE.parent / "examples" / "ddp_train.py"
    sums = []
    for ranks, accumulation in ((1, 1), (2, 3)):
        options = ["--epochs", "1", "--accumulation", str(accumulation)]
        out = _ok(mpirun(ranks, example, *options))
        sums.append(float(out.split("parameter sum")[-1]))
    assert sums[0] == pytest.approx(sums[1], rel=1e-5)


def test_a_rank_that_exits_non_zero_ends_every_rank():
    start = time.monotonic()
    result = mpirun(2, "faults.py", "exit", timeout=60)
    assert time.monotonic() - start < 60
    assert result.returncode == 3
    assert "unreachable" not in result.stdout


def test_benchmark_runs_on_two_ranks():
    """A smoke run of benchmarks/bench_distributed.py on tiny sizes (no timing is asserted)."""
    bench = HERE.parent / "benchmarks" / "bench_distributed.py"
    out = subprocess.run(
        [sys.executable, str(bench), "--sizes", "10000", "--repeat", "1", "--batch", "64"],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "10,000" in out.stdout and "speed-up" in out.stdout
