"""Run the mutation catalogue: each mutation applied to a copy of the tree, its tests run.

    python -m tests.mutation.run              # every mutation (what `make mutate` runs)
    python -m tests.mutation.run --list       # the catalogue, nothing run
    python -m tests.mutation.run --check      # only: is every snippet still in its file?
    python -m tests.mutation.run -k cache     # only mutations whose name contains "cache"

The working tree is never written: the tracked (and new, unignored) files are copied to a
temporary directory once, and each mutation is written there, tested and undone. A mutation
is killed when its tests fail (or time out), survives when they pass. The run fails when
any mutation survives, when a mutation's snippet is no longer in its file (the code moved
on: update the catalogue), or when the tests fail on the unmutated copy.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tests.mutation.catalogue import MUTATIONS as CURATED
from tests.mutation.catalogue import Mutation
from tests.mutation.open_issues import OPEN_ISSUES
from tests.mutation.promises import PROMISES

MUTATIONS = CURATED + PROMISES + OPEN_ISSUES

ROOT = Path(__file__).resolve().parents[2]
PYTEST_OPTIONS = ("-x", "-q", "-rfE", "-p", "no:cacheprovider", "-p", "no:randomly", "--timeout", "120")
# A mutation can turn a loop endless in a way pytest-timeout cannot interrupt.
RUN_TIMEOUT_SECONDS = 300


@dataclass(frozen=True)
class Outcome:
    mutation: Mutation
    status: str  # killed, timeout, survived, stale, invalid
    seconds: float = 0.0
    detail: str = ""

    @property
    def killed(self) -> bool:
        return self.status in ("killed", "timeout")


def tree_files(root: Path) -> list[str]:
    """What `git` would commit: tracked and new files that are not ignored."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return sorted({name for name in listed.split("\0") if name and (root / name).is_file()})


def copy_tree(root: Path, destination: Path) -> Path:
    for name in tree_files(root):
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / name, target)
    # The tests start the Node servers from node_modules; share the installed one.
    if (root / "node_modules").exists():
        (destination / "node_modules").symlink_to((root / "node_modules").resolve())
    return destination


def problem_with(mutation: Mutation, root: Path) -> Outcome | None:
    """Stale (snippet not found exactly once) or invalid (the mutant does not compile)."""
    path = root / mutation.path
    if not path.is_file():
        return Outcome(mutation, "stale", detail=f"{mutation.path} does not exist")
    source = path.read_text(encoding="utf-8")
    found = source.count(mutation.original)
    if found != 1:
        return Outcome(mutation, "stale", detail=f"snippet found {found} times in {mutation.path}")
    if mutation.path.endswith(".py"):
        try:
            compile(mutation.apply(source), mutation.path, "exec")
        except SyntaxError as error:
            return Outcome(mutation, "invalid", detail=f"the mutant does not compile: {error}")
    return None


def run_pytest(tree: Path, selection: Sequence[str], options: Sequence[str]) -> tuple[int, str, float]:
    env = dict(
        os.environ,
        PYTHONDONTWRITEBYTECODE="1",
        HYPOTHESIS_PROFILE="mutate",
        TEST_ARTIFACTS=str(tree / "test-artifacts"),
    )
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", *options, *selection],
        cwd=tree,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # so a timeout stops the servers the tests started too
    )
    try:
        output, _ = process.communicate(timeout=RUN_TIMEOUT_SECONDS)
        status = process.returncode
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        status = -1
    return status, output, time.monotonic() - started


def first_failure(output: str) -> str:
    for line in output.splitlines():
        if line.startswith(("FAILED ", "ERROR ")):
            return line.split(" ", 1)[1][:160]
    return output.strip().splitlines()[-1][:160] if output.strip() else ""


def mutate_and_test(mutation: Mutation, tree: Path) -> Outcome:
    path = tree / mutation.path
    original = path.read_text(encoding="utf-8")
    path.write_text(mutation.apply(original), encoding="utf-8")
    try:
        status, output, seconds = run_pytest(tree, mutation.tests, PYTEST_OPTIONS)
    finally:
        path.write_text(original, encoding="utf-8")
    if status == 0:
        return Outcome(mutation, "survived", seconds, "every selected test passed")
    if status == -1:
        return Outcome(mutation, "timeout", seconds, f"no result after {RUN_TIMEOUT_SECONDS} s")
    if status == 5:
        return Outcome(mutation, "invalid", seconds, "the selection collected no tests")
    return Outcome(mutation, "killed", seconds, first_failure(output))


def baseline(tree: Path, mutations: Sequence[Mutation]) -> bool:
    """The selected tests must pass unmutated, or every mutation would look killed."""
    selection = sorted({test for mutation in mutations for test in mutation.tests})
    status, output, seconds = run_pytest(tree, selection, PYTEST_OPTIONS[1:])  # not -x: list all
    print(f"baseline: {len(selection)} selections, {seconds:.1f} s, {'passed' if status == 0 else 'FAILED'}")
    if status != 0:
        print(output[-4000:])
    return status == 0


def report(outcome: Outcome) -> None:
    mark = {"killed": "killed", "timeout": "killed*", "survived": "SURVIVED"}.get(
        outcome.status, outcome.status.upper()
    )
    print(f"{mark:<9} {outcome.seconds:6.1f} s  {outcome.mutation.name:<38} {outcome.mutation.path}")
    print(f"{'':<20}{outcome.mutation.promise}")
    if outcome.detail:
        print(f"{'':<20}-> {outcome.detail}")
    sys.stdout.flush()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.mutation.run", description=__doc__.split("\n")[0])
    parser.add_argument("-k", dest="only", action="append", default=[], help="name contains (repeatable)")
    parser.add_argument("--list", action="store_true", help="print the catalogue and exit")
    parser.add_argument("--check", action="store_true", help="only check that every snippet is found")
    parser.add_argument("-j", "--jobs", type=int, default=1, help="mutations tested side by side")
    parser.add_argument("--no-baseline", action="store_true", help="skip the run on the unmutated copy")
    args = parser.parse_args(argv)

    names = [mutation.name for mutation in MUTATIONS]
    duplicates = {name for name in names if names.count(name) > 1}
    if duplicates:
        print(f"duplicate mutation names: {sorted(duplicates)}")
        return 2
    chosen = [m for m in MUTATIONS if not args.only or any(part in m.name for part in args.only)]
    if args.list:
        for mutation in chosen:
            print(f"{mutation.name:<38} {mutation.path:<34} {' '.join(mutation.tests)}")
            print(f"{'':<38} {mutation.promise}")
        return 0

    started = time.monotonic()
    problems = [p for p in (problem_with(m, ROOT) for m in chosen) if p is not None]
    for problem in problems:
        report(problem)
    runnable = [m for m in chosen if m not in {p.mutation for p in problems}]
    if args.check:
        print(f"mutate: {len(chosen)} mutations, {len(problems)} stale or invalid")
        return 1 if problems else 0
    outcomes: list[Outcome] = list(problems)
    with tempfile.TemporaryDirectory(prefix="mutate-") as scratch:
        jobs = max(1, min(args.jobs, len(runnable)))
        trees = [copy_tree(ROOT, Path(scratch) / f"tree-{n}") for n in range(jobs)]
        if runnable and not args.no_baseline and not baseline(trees[0], runnable):
            print("the selected tests fail without any mutation: fix them first")
            return 2
        free = list(trees)

        def run(mutation: Mutation) -> Outcome:
            tree = free.pop()
            try:
                outcome = mutate_and_test(mutation, tree)
            finally:
                free.append(tree)
            report(outcome)
            return outcome

        with ThreadPoolExecutor(jobs) as pool:
            outcomes += list(pool.map(run, runnable))

    killed = sum(outcome.killed for outcome in outcomes)
    survived = [o.mutation.name for o in outcomes if o.status == "survived"]
    broken = [o.mutation.name for o in outcomes if o.status in ("stale", "invalid")]
    print(
        f"mutate: {len(outcomes)} mutations, {killed} killed, {len(survived)} survived, "
        f"{len(broken)} stale or invalid, {time.monotonic() - started:.0f} s"
    )
    if survived:
        print(f"survivors (a promise no test guards): {', '.join(survived)}")
    if broken:
        print(f"update the catalogue (tests/mutation/catalogue.py): {', '.join(broken)}")
    return 0 if killed == len(outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
