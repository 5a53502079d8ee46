"""``lossgrad run -n N script.py [args]``: start N ranks of a script through ``mpiexec``.

``mpiexec`` is looked up where the mpich wheel puts it (the ``bin`` directory of the Python
environment that runs lossgrad, so it matches the MPI library mpi4py loads; else the wheel's
own file list), then on ``PATH``; the environment variable ``MPIEXEC`` overrides them. The
ranks run the same Python interpreter.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

_RANK_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK")
_INSTALL_HINT = "install the optional extra: pip install 'lossgrad[distributed]' (mpi4py, mpich)"


def find_mpiexec() -> str | None:
    """The ``mpiexec`` to start ranks with, or None when there is none."""
    override = os.environ.get("MPIEXEC")
    if override:
        return override
    names = ("mpiexec", "mpiexec.exe", "mpirun")
    folders = [sysconfig.get_path("scripts"), str(Path(sys.executable).parent)]
    for folder in folders:
        for name in names:
            candidate = Path(folder) / name
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate)
    wheel = _from_mpich_wheel()
    if wheel is not None:
        return wheel
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


def _from_mpich_wheel() -> str | None:
    """The ``mpiexec`` listed among the installed files of the mpich wheel (``pip install
    --user`` puts it outside the interpreter's own ``bin``)."""
    from importlib import metadata

    try:
        files = metadata.distribution("mpich").files or []
    except metadata.PackageNotFoundError:
        return None
    for file in files:
        if file.name == "mpiexec":
            path = Path(str(file.locate())).resolve()
            if path.is_file():
                return str(path)
    return None


def _has_mpi4py() -> bool:
    import importlib.util

    return importlib.util.find_spec("mpi4py") is not None


def command(nproc: int, script: str, script_args: list[str], mpiexec: str) -> list[str]:
    """The command line that starts ``nproc`` ranks of ``script``, each through mpi4py's runner
    (``python -m mpi4py``): a rank that exits with a non-zero status (``sys.exit(1)``) or an
    uncaught exception aborts the others instead of leaving them in a collective."""
    return [mpiexec, "-n", str(nproc), sys.executable, "-m", "mpi4py", script, *script_args]


def main(argv: list[str]) -> int:
    """Parse ``-n N script.py [args]``, start the ranks, return mpiexec's exit status."""
    parser = argparse.ArgumentParser(
        prog="lossgrad run",
        description="Start N ranks of a Python script through mpiexec (MPI).",
    )
    parser.add_argument("-n", "--nproc", type=int, default=1, metavar="N", help="number of ranks")
    parser.add_argument("script", help="the Python script each rank runs")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="the script's own arguments")
    options = parser.parse_args(argv)
    if options.nproc < 1:
        parser.error(f"-n must be at least 1, got {options.nproc}")
    mpiexec = find_mpiexec()
    if not _has_mpi4py() or mpiexec is None:
        missing = "mpi4py" if mpiexec else "mpiexec"
        print(f"lossgrad run: {missing} not found: {_INSTALL_HINT}", file=sys.stderr)
        return 1
    if not Path(options.script).is_file():
        parser.error(f"no such script: {options.script}")
    # MPI gives each rank its RANK and WORLD_SIZE: drop any inherited from this process
    env = {k: v for k, v in os.environ.items() if k not in _RANK_VARIABLES}
    return subprocess.call(command(options.nproc, options.script, options.args, mpiexec), env=env)
