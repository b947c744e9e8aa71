"""The change-feed trigger's tuning: what the Functions host sees, and the local host polling alike."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import pytest

from local_host.triggers import Counters, FeedTriggerRunner
from pipeline import names
from pipeline.settings import SettingsError, settings_from
from tests.checks import ListFeed
from tests.servers import ROOT, registered_functions

TUNING = (names.SUMMARISER_FEED_POLL_DELAY_MS, names.SUMMARISER_MAX_ITEMS_PER_INVOCATION)
PRINT_TRIGGER = (
    "import json, function_app\n"
    "for f in function_app.app.get_functions():\n"
    "    d = f.get_trigger().get_dict_repr()\n"
    "    if d['type'] == 'cosmosDBTrigger':\n"
    "        print(json.dumps({k: v for k, v in d.items() if k != 'direction'}))\n"
)


def function_json(**settings: str) -> dict:
    """The summariser's trigger binding as the worker indexes it, in a fresh interpreter."""
    env = {k: v for k, v in os.environ.items() if k not in TUNING} | settings
    out = subprocess.run(
        [sys.executable, "-c", PRINT_TRIGGER], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout
    return json.loads(out)


def test_the_host_sees_a_one_second_poll_and_a_bounded_batch_by_default() -> None:
    trigger = function_json()
    assert trigger["type"] == "cosmosDBTrigger"
    # Azure's default is 5,000 ms: set on purpose, as literals (the attribute resolves no %SETTING%).
    assert trigger["feedPollDelay"] == names.DEFAULT_FEED_POLL_DELAY_MS == 1000
    assert trigger["maxItemsPerInvocation"] == names.DEFAULT_MAX_ITEMS_PER_INVOCATION == 1000


def test_the_settings_change_the_binding_and_a_bad_value_never_breaks_the_import() -> None:
    tuned = function_json(SUMMARISER_FEED_POLL_DELAY_MS="400", SUMMARISER_MAX_ITEMS_PER_INVOCATION="250")
    assert (tuned["feedPollDelay"], tuned["maxItemsPerInvocation"]) == (400, 250)
    # An app that raises at import loads no function in Azure: the binding keeps the default ...
    bad = function_json(SUMMARISER_FEED_POLL_DELAY_MS="soon")
    assert bad["feedPollDelay"] == 1000
    # ... and the settings, read at start, name the setting.
    with pytest.raises(SettingsError, match=names.SUMMARISER_FEED_POLL_DELAY_MS):
        settings_from({names.SUMMARISER_FEED_POLL_DELAY_MS: "soon"})
    with pytest.raises(SettingsError, match=names.SUMMARISER_MAX_ITEMS_PER_INVOCATION):
        settings_from({names.SUMMARISER_MAX_ITEMS_PER_INVOCATION: "0"})
    defaults = settings_from({})
    assert (defaults.feed_poll_delay_ms, defaults.max_items_per_invocation) == (1000, 1000)


def test_the_local_host_polls_with_the_delay_and_bound_of_the_binding() -> None:
    function = registered_functions()["summarise_readings"]
    trigger = function.get_trigger().get_dict_repr()
    feed = ListFeed()
    reads: list[tuple[float, int]] = []
    original = feed.read_feed

    def counting_read(consumer: str, max_items: int):
        reads.append((time.monotonic(), max_items))
        return original(consumer, max_items)

    feed.read_feed = counting_read  # type: ignore[method-assign]
    runner = FeedTriggerRunner(function, settings_from({}), feed, Counters())
    assert runner.poll_delay == trigger["feedPollDelay"] / 1000
    assert runner.max_items == trigger["maxItemsPerInvocation"]

    stopping = threading.Event()
    thread = threading.Thread(target=runner.run, args=(stopping,), daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while len(reads) < 4 and time.monotonic() < deadline:
        time.sleep(0.02)
    stopping.set()
    thread.join(5)
    assert len(reads) >= 4, reads
    gaps = [later[0] - earlier[0] for earlier, later in zip(reads, reads[1:], strict=False)]
    # A drained feed is polled again after the binding's delay, not sooner.
    assert min(gaps) >= runner.poll_delay * 0.9, gaps
    assert {bound for _, bound in reads} == {trigger["maxItemsPerInvocation"]}
