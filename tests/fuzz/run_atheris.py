"""Long fuzzing runs with atheris (coverage-guided): ``python3 -m nox -s fuzz``.

    python tests/fuzz/run_atheris.py TARGET [--runs N] [--timeout S] [--workdir DIR]

Runs one target of ``targets.py`` for ``N`` executions (default 1,000,000) in a child
process (libFuzzer stops at the first crash, so each target gets its own), with a per-input
hang limit of ``S`` seconds, the target's known-bad inputs as seed corpus, and prints one
line: target, executions, executions/s, crashes, hangs. ``all`` runs every target in turn
and exits non-zero when any found a crash or a hang (its input is left in ``DIR``).
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent


def load_targets() -> ModuleType:
    spec = importlib.util.spec_from_file_location("flafka_fuzz_targets", HERE / "targets.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def fuzz_one(name: str, runs: int, timeout: int, corpus: Path) -> None:
    """In this process: hand the target to atheris (never returns)."""
    import atheris

    with atheris.instrument_imports():
        targets = load_targets()
        import flafka.config.loader
        import flafka.sources.deserializers  # noqa: F401
    target = targets.TARGETS[name]
    corpus.mkdir(parents=True, exist_ok=True)
    for i, seed in enumerate(targets.SEEDS.get(name, [])):
        (corpus / f"seed-{i}").write_bytes(seed)
    args = [sys.argv[0], f"-runs={runs}", f"-timeout={timeout}", "-rss_limit_mb=4096", "-print_final_stats=1",
            f"-artifact_prefix={corpus.parent}/{name}-", str(corpus)]  # fmt: skip
    atheris.Setup(args, target)
    atheris.Fuzz()


def run_child(name: str, runs: int, timeout: int, workdir: Path) -> tuple[int, float, str]:
    """Fuzz ``name`` in a child process; (executions, seconds, verdict)."""
    started = time.monotonic()
    cmd = [sys.executable, __file__, name, "--child", "--runs", str(runs), "--timeout", str(timeout), "--workdir", str(workdir)]
    proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace")
    seconds = time.monotonic() - started
    log = proc.stdout + proc.stderr
    (workdir / f"{name}.log").write_text(log)
    execs = max((int(m) for m in re.findall(r"stat::number_of_executed_units:\s*(\d+)", log)), default=0)
    if "ERROR: libFuzzer: timeout" in log:
        verdict = "HANG"
    elif proc.returncode != 0:
        verdict = "CRASH"
    else:
        verdict = "ok"
    return execs, seconds, verdict


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target", help="a name from targets.TARGETS, or 'all'")
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--timeout", type=int, default=10, help="seconds one input may take before it counts as a hang")
    parser.add_argument("--workdir", type=Path, default=Path(".fuzz"))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    opts = parser.parse_args()
    workdir: Path = opts.workdir.resolve()
    if opts.child:
        fuzz_one(opts.target, opts.runs, opts.timeout, workdir / f"corpus-{opts.target}")
        return 0
    names = sorted(load_targets().TARGETS) if opts.target == "all" else [opts.target]
    workdir.mkdir(parents=True, exist_ok=True)
    failed = 0
    for name in names:
        execs, seconds, verdict = run_child(name, opts.runs, opts.timeout, workdir)
        rate = execs / seconds if seconds else 0.0
        print(f"{name:18} {execs:>10,} executions  {rate:>9,.0f}/s  {seconds:7.1f} s  {verdict}", flush=True)
        if verdict != "ok":
            failed += 1
            print(f"  see {workdir / (name + '.log')} and {workdir}/{name}-* for the input", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
