"""What coverage instrumentation costs one target: executions per CPU second of the same
inputs, uninstrumented, as the old runner instrumented (``atheris.instrument_imports()``
around every import, comparisons traced) and as ``run_atheris.py`` does (the target's
``SCOPE`` only, branch coverage). Each mode runs in its own process, one after another:

    python tests/fuzz/instrumentation_cost.py [TARGET] [CORPUS_DIR]
"""

from __future__ import annotations

import random
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def measure(mode: str, name: str, corpus: str) -> None:
    sys.path.insert(0, str(HERE))
    import atheris

    if mode == "old":
        with atheris.instrument_imports():
            import targets
    else:
        import targets

        if mode == "new":
            import run_atheris

            run_atheris.instrument(targets.SCOPE[name], targets.UNINSTRUMENTED)
    target = targets.TARGETS[name]
    rnd = random.Random(1)
    inputs = [bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, 300))) for _ in range(500)]
    inputs += [p.read_bytes() for p in sorted(Path(corpus).glob("*"))] if corpus else []
    inputs += targets.seed_inputs(name)
    target(b"")
    started = time.process_time()
    for data in inputs:
        try:
            target(data)
        except AssertionError:
            pass  # a finding is the fuzzer's business; here only the cost counts
    rate = len(inputs) / (time.process_time() - started)
    print(f"{name:18} {mode:4} {len(inputs):6,} inputs  {rate:8,.0f} executions per CPU second", flush=True)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--mode":
        measure(sys.argv[2], sys.argv[3], sys.argv[4])
        return
    name = sys.argv[1] if len(sys.argv) > 1 else "properties"
    corpus = sys.argv[2] if len(sys.argv) > 2 else ""
    for mode in ("none", "old", "new"):
        subprocess.run([sys.executable, __file__, "--mode", mode, name, corpus], stderr=subprocess.DEVNULL, check=True)


if __name__ == "__main__":
    main()
