"""Run a hypothesis suite on several checkpoints, one pytest session each, and print the claims x
checkpoints matrix as Markdown (docs/checkpoints.md was made with it).

    python scripts/checkpoint_matrix.py hypotheses/ smollm2-135m ~/.cache/neurontest/models/smollm2-135m-int8 \
        -- --neurontest-hypothesis-profile ci

Each session is exactly `pytest <suite> --neurontest-model <model> -p no:cacheprovider
--neurontest-report reports/checkpoint-<label>.html`, run in this process so the records
(outcome and headline metric of every claim) can be collected; wall times are printed too.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import pytest


class _Records:
    """A tiny pytest plugin that keeps the session's claim records after the run."""

    def __init__(self) -> None:
        self.records: list[Any] = []

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        from neurontest.plugin import session_key

        state = session.config.stash.get(session_key, None)
        self.records = list(state.records.values()) if state is not None else []


def main(argv: list[str] | None = None) -> int:
    from neurontest.report.matrix import claims_matrix, matrix_markdown
    from neurontest.plugin.multimodel import model_label

    argv = list(sys.argv[1:] if argv is None else argv)
    # Everything after `--` goes to every pytest session (argparse would read it as models).
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog="pytest arguments for every session go after `--`")
    parser.add_argument("suite")
    parser.add_argument("models", nargs="+")
    args = parser.parse_args(argv)
    records: list[Any] = []
    timings = []
    for model in args.models:
        label = model_label(model)
        grab = _Records()
        command = [args.suite, "--neurontest-model", model, "-p", "no:cacheprovider", "-q",
                   "--neurontest-report", f"reports/checkpoint-{label}.html", *extra]
        started = time.perf_counter()
        code = pytest.main(command, plugins=[grab])
        timings.append((label, int(code), time.perf_counter() - started))
        records += grab.records
    print("\n" + matrix_markdown(claims_matrix(records), strip_prefix=args.suite.rstrip("/") + "/"))
    print("\n| checkpoint | exit code | wall time |\n|---|---|---|")
    for label, code, seconds in timings:
        print(f"| {label} | {code} | {seconds:.0f} s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
