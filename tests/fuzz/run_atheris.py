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
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
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


def instrument(modules: tuple[str, ...], skip: set[str] | frozenset[str] = frozenset()) -> int:
    """Add atheris' coverage instrumentation to the functions and methods defined in
    ``modules`` only (branch coverage; comparisons come from the target's dictionary),
    except those named in ``skip`` (``module.function``). Returns how many were instrumented."""
    import importlib
    import inspect
    import types

    from atheris.instrument_bytecode import patch_code

    done = 0

    def patch(obj: object) -> None:
        nonlocal done
        if isinstance(obj, staticmethod | classmethod):
            obj = obj.__func__
        if isinstance(obj, property):
            for f in (obj.fget, obj.fset):
                patch(f)
        elif isinstance(obj, types.FunctionType):
            obj.__code__ = patch_code(obj.__code__, False, True)
            done += 1

    for name in modules:
        module = importlib.import_module(name)
        for attr, value in list(vars(module).items()):
            if getattr(value, "__module__", None) != name or f"{name}.{attr}" in skip:
                continue
            if inspect.isclass(value):
                for member in list(vars(value).values()):
                    patch(member)
            else:
                patch(value)
    return done


def fuzz_one(name: str, runs: int, timeout: int, seconds: int, corpus: Path) -> None:
    """In this process: hand the target to atheris (never returns)."""
    import atheris

    targets = load_targets()
    count = instrument(targets.SCOPE[name], targets.UNINSTRUMENTED)
    print(f"INFO: instrumented {count} functions of {', '.join(targets.SCOPE[name])}", file=sys.stderr, flush=True)
    target = targets.TARGETS[name]
    target(b"")  # one-time imports (the plugins: seconds on a loaded machine) before the hang timer runs
    corpus.mkdir(parents=True, exist_ok=True)
    for i, seed in enumerate(targets.seed_inputs(name)):
        (corpus / f"seed-{i}").write_bytes(seed)
    tokens = corpus.parent / f"{name}.dict"
    tokens.write_text("".join('"' + "".join(f"\\x{b:02x}" for b in t) + '"\n' for t in targets.TOKENS.get(name, [])))
    args = [sys.argv[0], f"-runs={runs}", f"-timeout={timeout}", "-rss_limit_mb=2048", f"-max_len={targets.MAX_LEN.get(name, 1024)}",
            "-print_final_stats=1", f"-artifact_prefix={corpus.parent}/{name}-", str(corpus)]  # fmt: skip
    if targets.TOKENS.get(name):
        args.insert(1, f"-dict={tokens}")
    if seconds:
        args.insert(1, f"-max_total_time={seconds}")
    atheris.Setup(args, target)
    atheris.Fuzz()


def run_child(name: str, runs: int, timeout: int, seconds: int, workdir: Path, workers: int = 1) -> tuple[int, float, float, str, str]:
    """Fuzz ``name`` in ``workers`` child processes sharing one corpus (libFuzzer reloads
    what the others found), ``runs / workers`` executions each; (executions, seconds, CPU
    seconds, verdict, slowest input) over all of them."""
    started = time.monotonic()
    each = -(-runs // workers)
    procs: dict[int, tuple[subprocess.Popen[bytes], Path]] = {}
    for i in range(workers):
        log_path = workdir / (f"{name}.log" if workers == 1 else f"{name}.{i}.log")
        cmd = [sys.executable, __file__, name, "--child", "--runs", str(each), "--timeout", str(timeout),
               "--seconds", str(seconds), "--workdir", str(workdir)]  # fmt: skip
        with open(log_path, "w") as log_file:
            proc = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT)
        procs[proc.pid] = (proc, log_path)
    cpu = 0.0
    for pid, (proc, _log_path) in procs.items():
        _pid, status, usage = os.wait4(pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        cpu += usage.ru_utime + usage.ru_stime
    took = time.monotonic() - started
    execs, slowest_s, verdict = 0, 0, "ok"
    for proc, log_path in procs.values():
        log = log_path.read_text(errors="replace")
        execs += max((int(m) for m in re.findall(r"stat::number_of_executed_units:\s*(\d+)", log)), default=0)
        slowest_s = max([slowest_s, *(int(m) for m in re.findall(r"stat::slowest_unit_time_sec:\s*(\d+)", log))])
        if "ERROR: libFuzzer: timeout" in log:
            verdict = "HANG"
        elif "out-of-memory" in log:
            verdict = "OOM"
        elif "libFuzzer: run interrupted" in log and verdict == "ok":
            verdict = "stopped"  # SIGINT (Ctrl-C): the executions so far count, nothing was found
        elif proc.returncode != 0 and verdict == "ok":
            verdict = "CRASH"
    slowest = f"slowest input {slowest_s} s" if slowest_s else "no input took 1 s or more"
    return execs, took, cpu, verdict, slowest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target", help="a name from targets.TARGETS, or 'all'")
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--timeout", type=int, default=10, help="seconds one input may take before it counts as a hang")
    parser.add_argument("--seconds", type=int, default=0, help="stop a target after this long (0: no limit)")
    parser.add_argument("--jobs", type=int, default=1, help="targets fuzzed at the same time (one process each)")
    parser.add_argument("--workers", default="", help="processes per target, e.g. config=6,properties=2 (default 1)")
    parser.add_argument("--workdir", type=Path, default=Path(".fuzz"))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    opts = parser.parse_args()
    workdir: Path = opts.workdir.resolve()
    if opts.child:
        fuzz_one(opts.target, opts.runs, opts.timeout, opts.seconds, workdir / f"corpus-{opts.target}")
        return 0
    names = sorted(load_targets().TARGETS) if opts.target == "all" else opts.target.split(",")
    workdir.mkdir(parents=True, exist_ok=True)
    failed = 0

    workers = {k: int(v) for k, _, v in (w.partition("=") for w in opts.workers.split(",") if w)}

    def one(name: str) -> tuple[str, tuple[int, float, float, str, str]]:
        return name, run_child(name, opts.runs, opts.timeout, opts.seconds, workdir, workers.get(name, 1))

    with ThreadPoolExecutor(max(1, opts.jobs)) as pool:
        for name, (execs, seconds, cpu, verdict, slowest) in pool.map(one, names):
            rate = execs / seconds if seconds else 0.0
            per_cpu = execs / cpu if cpu else 0.0
            print(f"{name:18} {execs:>10,} executions  {rate:>7,.0f}/s  {seconds:7.1f} s  {cpu:7.1f} CPU s ({per_cpu:,.0f}/CPU s)  "
                  f"{verdict:5}  {slowest}", flush=True)  # fmt: skip
            if verdict != "ok":
                failed += 1
                print(f"  see {workdir / (name + '.log')} and {workdir}/{name}-* for the input", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
