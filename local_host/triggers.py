"""Drive the functions registered in `function_app.py` the way the Functions host does.

Timers fire on their NCRONTAB schedule; Cosmos DB triggers are fed batches from the
store's change feed with the trigger's semantics (at least once, in order per sensor,
checkpoint after success, the function's retry policy honoured, and, as in Azure, the
batch skipped once retries are exhausted); output bindings are written to the store.

Trigger data goes to the functions as the worker hands it over: JSON text decoded by
the `azure.functions` library's own converters (change-feed documents first through
the model of the extension's Json.NET date re-serialisation), and output bindings are
encoded by them before they are written.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import os
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import azure.functions as func
from azure.functions.meta import Datum
from croniter import croniter

from local_host.jsonnet_dates import reserialise_dates
from pipeline import names
from pipeline.invocations import INVOCATIONS
from pipeline.settings import Settings
from pipeline.storage import ChangeFeed, Store, StoreError

log = logging.getLogger("local_host")
ROOT = Path(__file__).resolve().parent.parent
FEED_RETRY_MAX_SECONDS = 5.0  # a broken store is polled at most this often
AZURE_FEED_POLL_DELAY_MS = 5000  # the Cosmos DB extension's default feedPollDelay
FALLBACK_MAX_ITEMS_PER_INVOCATION = 1000  # our binding always sets it; a bound if one does not
# Test hook (never set by `make run`): a file path. The change-feed trigger writes it
# when a batch is handed to the function, then parks inside the invocation until the
# process is killed, so a test can kill the host while a batch is certainly in flight.
PARK_FEED_HOOK = "LOCAL_HOST_PARK_FEED"


def decode_trigger(binding: str, datum: Datum) -> Any:
    """What the worker passes for a trigger: the library's converter applied to the host's data."""
    return func.get_binding_registry().get(binding).decode(datum, trigger_metadata={})


def encode_output(binding: str, value: Any) -> Datum:
    """What the worker sends the host for an output binding, by the library's converter."""
    return func.get_binding_registry().get(binding).encode(value, expected_type=None)


class UnsupportedBinding(RuntimeError):
    """The function uses a binding the local host cannot provide."""


@dataclass
class Counters:
    """What the local host has done, for its progress line."""

    readings_written: int = 0
    readings_summarised: int = 0
    batches: int = 0
    batches_skipped: int = 0
    failed_attempts: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **amounts: int) -> None:
        with self.lock:
            for name, amount in amounts.items():
                setattr(self, name, getattr(self, name) + amount)


@dataclass(frozen=True)
class LocalRetryContext:
    """What the host passes as `context.retry_context`: the attempt (from 0) and the policy's maximum."""

    retry_count: int
    max_retry_count: int
    exception: None = None


class LocalContext(func.Context):
    """The invocation context the Functions host passes, for one local invocation."""

    def __init__(self, function_name: str, retry: LocalRetryContext | None = None) -> None:
        self._function_name = function_name
        self._invocation_id = str(uuid.uuid4())
        self._retry = retry

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return str(ROOT)

    @property
    def trace_context(self) -> Any:
        return None

    @property
    def retry_context(self) -> Any:
        return self._retry

    @property
    def thread_local_storage(self) -> Any:
        return threading.local()


def context_arguments(
    name: str, function: Callable[..., Any], retry: LocalRetryContext | None = None
) -> dict[str, Any]:
    """`context=` for functions that declare it, as the host does (with the retry's attempt)."""
    if "context" in inspect.signature(function).parameters:
        return {"context": LocalContext(name, retry)}
    return {}


class CollectingOut(func.Out):
    """An output binding value that the host writes after the function returns."""

    def __init__(self) -> None:
        self._value: Any = None

    def set(self, val: Any) -> None:
        self._value = val

    def get(self) -> Any:
        return self._value


def resolve(expression: str, settings: Settings) -> str:
    """Resolve a `%SETTING%` binding expression from our settings (with their defaults)."""
    if not (expression.startswith("%") and expression.endswith("%")):
        return expression
    setting = expression.strip("%")
    values = {
        names.COSMOS_DATABASE: settings.database,
        names.READINGS_CONTAINER: settings.readings_container,
        names.SUMMARIES_CONTAINER: settings.summaries_container,
        names.LEASES_CONTAINER: settings.leases_container,
        names.DEADLETTER_CONTAINER: settings.deadletter_container,
        names.GENERATOR_SCHEDULE: settings.generator_schedule,
    }
    if setting not in values:
        raise UnsupportedBinding(f"binding expression {expression} is not a known setting")
    return values[setting]


def _interval_seconds(text: str | None, default: float) -> float:
    if not text:
        return default
    hours, minutes, seconds = (float(part) for part in text.split(":"))
    return hours * 3600 + minutes * 60 + seconds


@dataclass(frozen=True)
class RetryPolicy:
    max_retry_count: int = 0
    minimum_interval: float = 1.0
    maximum_interval: float = 60.0
    fixed: bool = False

    @classmethod
    def of(cls, function: func.decorators.function_app.Function) -> RetryPolicy:
        setting = function.get_settings_dict("retry_policy")
        if not setting:
            return cls()
        fixed = setting.get("strategy") == "fixed_delay"
        delay = _interval_seconds(setting.get("delay_interval"), 1.0)
        return cls(
            max_retry_count=int(setting["max_retry_count"]),
            minimum_interval=delay if fixed else _interval_seconds(setting.get("minimum_interval"), 1.0),
            maximum_interval=delay if fixed else _interval_seconds(setting.get("maximum_interval"), 60.0),
            fixed=fixed,
        )

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number `attempt` (1-based)."""
        if self.fixed:
            return self.minimum_interval
        return min(self.maximum_interval, self.minimum_interval * 2 ** (attempt - 1))


def _call_with_retries(
    name: str,
    call: Callable[[LocalRetryContext], None],
    policy: RetryPolicy,
    stopping: threading.Event,
    counters: Counters,
) -> bool:
    """Run `call`, retrying per policy; False when retries are exhausted or we are stopping.

    Each call is told its attempt, as the host's `retry_context` tells the function, so a
    function can name the batch it is about to lose on its last attempt.
    """
    attempt = 0
    while True:
        try:
            call(LocalRetryContext(attempt, policy.max_retry_count))
            return True
        except Exception:
            attempt += 1
            counters.add(failed_attempts=1)
            if attempt > policy.max_retry_count:
                log.exception("%s failed; retries exhausted", name)
                return False
            wait = policy.delay(attempt)
            log.warning("%s failed (attempt %d), retrying in %.1f s", name, attempt, wait, exc_info=True)
            if stopping.wait(wait):
                return False


class TimerRunner:
    """Fires one timer-triggered function on its schedule and writes its output bindings."""

    def __init__(
        self,
        function: Any,
        settings: Settings,
        store: Store,
        counters: Counters,
    ) -> None:
        self.name = function.get_function_name()
        trigger = function.get_trigger().get_dict_repr()
        self._schedule = resolve(trigger["schedule"], settings)
        self._function = function.get_user_function()
        self._policy = RetryPolicy.of(function)
        self._store = store
        self._counters = counters
        self._outputs = []
        for binding in function.get_bindings():
            spec = binding.get_dict_repr()
            if spec["direction"] != func.decorators.core.BindingDirection.OUT:
                continue
            container = resolve(spec.get("containerName", ""), settings)
            if spec["type"] != "cosmosDB" or container != settings.readings_container:
                raise UnsupportedBinding(f"{self.name}: output binding {spec} is not supported locally")
            self._outputs.append(spec["name"])

    def _invoke(self, past_due: bool, retry: LocalRetryContext) -> None:
        now = datetime.now(UTC)
        # The host's timer payload (TimerInfo), as JSON text.
        payload = {
            "Schedule": {"AdjustForDST": True},
            "ScheduleStatus": {
                "Last": now.isoformat(),
                "Next": now.isoformat(),
                "LastUpdated": now.isoformat(),
            },
            "IsPastDue": past_due,
        }
        timer = decode_trigger("timerTrigger", Datum(json.dumps(payload), "json"))
        outputs = {name: CollectingOut() for name in self._outputs}
        self._function(timer, **outputs, **context_arguments(self.name, self._function, retry))
        for out in outputs.values():
            if out.get() is None:
                continue
            datum = encode_output("cosmosDB", out.get())
            documents = json.loads(datum.value)
            written = self._store.put_readings(documents)
            self._counters.add(readings_written=written)

    def run(self, stopping: threading.Event, fire_at_start: bool = False) -> None:
        """Fire on the schedule until `stopping`; with `fire_at_start`, once right away too.

        The local host fires the generator at start-up so that the first chart appears
        within seconds, not at the first tick; Azure's binding keeps `run_on_startup`
        off (on a consumption plan it would fire at every scale-out).
        """
        if fire_at_start:
            _call_with_retries(
                self.name, functools.partial(self._invoke, False), self._policy, stopping, self._counters
            )
        schedule = croniter(self._schedule, datetime.now(UTC), second_at_beginning=True)
        while not stopping.is_set():
            due: datetime = schedule.get_next(datetime)
            wait = (due - datetime.now(UTC)).total_seconds()
            if wait > 0 and stopping.wait(wait):
                return
            past_due = datetime.now(UTC) - due > timedelta(seconds=1)
            _call_with_retries(
                self.name,
                functools.partial(self._invoke, past_due),
                self._policy,
                stopping,
                self._counters,
            )


class FeedTriggerRunner:
    """Feeds one Cosmos DB-triggered function from the store's change feed."""

    def __init__(
        self,
        function: Any,
        settings: Settings,
        feed: ChangeFeed,
        counters: Counters,
        max_items: int | None = None,
        poll_delay: float | None = None,
        jsonnet_dates: bool = True,
    ) -> None:
        self.name = function.get_function_name()
        trigger = function.get_trigger().get_dict_repr()
        # What the Functions host reads from the same binding: the pause after a drained feed
        # (feedPollDelay, ms; the extension's default when the binding leaves it out) and the
        # batch bound (maxItemsPerInvocation). An explicit argument overrides (tests, --feed-poll).
        if poll_delay is None:
            poll_delay = int(trigger.get("feedPollDelay") or AZURE_FEED_POLL_DELAY_MS) / 1000
        if max_items is None:
            max_items = int(trigger.get("maxItemsPerInvocation") or FALLBACK_MAX_ITEMS_PER_INVOCATION)
        container = resolve(trigger["containerName"], settings)
        if container != settings.readings_container:
            raise UnsupportedBinding(f"{self.name}: the local feed serves only {settings.readings_container}")
        self._function = function.get_user_function()
        self._policy = RetryPolicy.of(function)
        self._feed = feed
        self._counters = counters
        self._max_items = max_items
        self._poll_delay = poll_delay
        self.poll_delay = poll_delay
        self.max_items = max_items
        self._jsonnet_dates = jsonnet_dates
        self._park_path = os.environ.get(PARK_FEED_HOOK) or None
        # The lease name, as the Functions host keys leases by function.
        self.consumer = f"{self.name}:{container}"

    def run_once(self, stopping: threading.Event) -> int:
        """Deliver one batch; return how many documents it held (0 when the feed is drained)."""
        batch = self._feed.read_feed(self.consumer, self._max_items)
        if not batch.documents:
            return 0
        delivered = reserialise_dates(batch.documents) if self._jsonnet_dates else batch.documents
        text = json.dumps(delivered)
        succeeded = _call_with_retries(
            self.name,
            lambda retry: self._invoke(text, len(batch.documents), stopping, retry),
            self._policy,
            stopping,
            self._counters,
        )
        if not succeeded and stopping.is_set():
            return 0  # not checkpointed: redelivered after the restart
        if succeeded:
            self._counters.add(batches=1, readings_summarised=len(batch.documents))
        else:
            # What the Functions host does too: the lease moves on. Writes are idempotent,
            # so a manual replay (reset the checkpoint) repairs what was skipped.
            self._counters.add(batches_skipped=1)
        self._feed.commit_feed(self.consumer, batch.position)
        return len(batch.documents)

    def _invoke(self, text: str, size: int, stopping: threading.Event, retry: LocalRetryContext) -> None:
        # Decoded afresh for every attempt, as the host sends the batch again on a retry.
        documents = decode_trigger("cosmosDBTrigger", Datum(text, "json"))
        if self._park_path:
            self._park(size, stopping)
        self._function(documents, **context_arguments(self.name, self._function, retry))

    def _park(self, size: int, stopping: threading.Event) -> None:
        Path(self._park_path).write_text(f"{size}\n")  # type: ignore[arg-type]
        log.warning("%s: parked with a batch of %d documents in flight (%s)", self.name, size, PARK_FEED_HOOK)
        stopping.wait()
        raise RuntimeError("stopped while parked")

    def run(self, stopping: threading.Event) -> None:
        failures = 0
        while not stopping.is_set():
            try:
                delivered = self.run_once(stopping)
            except StoreError as error:  # the feed itself could not be read or checkpointed
                failures += 1
                INVOCATIONS.failed(self.consumer, error)  # /api/health names the feed
                log.warning("%s: change feed unavailable (%s), retrying", self.name, error)
                if stopping.wait(min(FEED_RETRY_MAX_SECONDS, self._poll_delay * 2**failures)):
                    return
                continue
            if failures:
                failures = 0
                INVOCATIONS.succeeded(self.consumer)
                log.info("%s: change feed readable again", self.name)
            if delivered == 0 and stopping.wait(self._poll_delay):
                return
