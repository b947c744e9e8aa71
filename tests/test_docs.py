"""The README is a front page, and every link between the docs pages lands on a file and heading."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.servers import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return {slug(m.group(1)) for m in re.finditer(r"^#{1,6} (.+)$", text, flags=re.M)}


def test_the_readme_is_a_front_page_that_starts_with_the_two_commands() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 250, len(lines)
    first_block = lines[lines.index("```bash") + 1 : lines.index("```bash") + 3]
    assert [line.split()[:2] for line in first_block] == [["make", "run"], ["make", "test"]]
    assert lines.index("```bash") < 10
    text = "\n".join(lines)
    assert "```mermaid" in text and "docs/dashboard.png" in text
    for page in ("architecture", "local-development", "configuration", "http-api", "deploying", "testing"):
        assert f"(docs/{page}.md)" in text, page
    assert "(docs/operations.md)" in text


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_lands_on_a_file_and_a_heading(page: Path) -> None:
    for target in LINK.findall(page.read_text()):
        if re.match(r"^[a-z]+:", target):
            continue  # https:, mailto:
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        assert linked.exists(), f"{page.name}: {target}"
        if anchor and linked.suffix == ".md":
            assert anchor in anchors(linked), f"{page.name}: {target} (no such heading)"


def measured_poll_bytes() -> tuple[str, str, str]:
    """The committed `make bench` run's first / idle / one-changed poll at 40,000 sensors."""
    row = re.search(
        r"one poll at 40,000 sensors, bytes on the wire: first \(gzip\) / idle \(304\) / one changed \| "
        r"([\d,]+) / ([\d,]+) / ([\d,]+) \|",
        (ROOT / "docs" / "benchmarks.md").read_text(),
    )
    assert row, "docs/benchmarks.md has no poll-size row"
    return row.group(1), row.group(2), row.group(3)


def test_the_poll_sizes_the_docs_quote_are_the_last_measured_ones() -> None:
    first, idle, changed = measured_poll_bytes()
    readme = (ROOT / "README.md").read_text()
    assert f"poll is a 304 of {idle} bytes at 40,000 sensors" in readme
    dashboard = (ROOT / "docs" / "dashboard.md").read_text()
    assert f"an idle poll is {idle} bytes on the wire and a one-sensor change {changed} " in dashboard
    assert f"that is {first} bytes\n  gzipped instead of {idle} " in dashboard
    lighthouse = (ROOT / "docs" / "lighthouse.md").read_text()
    assert f"| {first} | `full_poll_bytes_40k` |" in lighthouse
    assert f"| {idle} | `idle_poll_bytes_40k`" in lighthouse
    assert f"| {changed} | `delta_poll_bytes_40k` |" in lighthouse


def test_the_readme_says_how_many_workers_make_test_runs_on() -> None:
    makefile = (ROOT / "Makefile").read_text()
    workers = re.search(r"^PYTEST_ARGS \?= -n (\d+)", makefile, flags=re.M)
    assert workers, "Makefile: PYTEST_ARGS has no -n"
    spelled = {"2": "two", "3": "three", "4": "four"}[workers.group(1)]
    for page in ("README.md", "docs/testing.md"):
        text = (ROOT / page).read_text()
        assert f"on {spelled} workers" in text, page
        assert not re.search(rf"on (?!{spelled}\b)(two|three|four) workers", text), page


def test_the_idle_poll_size_the_docs_quote_is_what_the_app_sends_now() -> None:
    """An idle poll (a 304) has no body: its size is its headers', whatever the fleet. So a
    header added to the answer shows here, and the figure in the docs is re-measured."""
    from bench.read_side import poll_bytes

    _, idle, _ = measured_poll_bytes()
    assert poll_bytes(sensors=10)["idle"] == int(idle.replace(",", ""))
