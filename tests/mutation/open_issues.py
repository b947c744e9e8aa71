"""Mutations of the code issues 21 to 26 added: one broken promise each.

Caches and content negotiation (issue 21), hostile input (22), time windows (23), the fleet
overview and the page through an outage (24, and 21's page), the cost model (25), smoke,
trigger tuning and dead-letter access (26). Same form as the curated
catalogue (tests/mutation/catalogue.py); the runner takes all three.
"""

from __future__ import annotations

from tests.mutation.catalogue import Mutation, tests

FRESHNESS = tests("test_read_freshness")
NEGOTIATION = tests("test_read_negotiation") + tests("test_content_coding")
CODING = tests("test_content_coding")
HOSTILE = tests("test_hostile_clients")
HOSTILE_LOCAL = tests("test_hostile_local_host")
ROLLUPS = tests("test_rollups")
ROLLUPS_API = tests("test_rollups_api")
FEED_TUNING = tests("test_feed_tuning")
DEAD_LETTERS = tests("test_dead_letter_access")
SMOKE = tests("test_smoke")
COSTS = tests("test_cost_model")
# Tests written for what this catalogue found unguarded.
NEW = "test_promises_open_issues"
OPS = "test_promises_operations"

CACHES: tuple[Mutation, ...] = (
    Mutation(
        "read-max-age-default-5",
        "pipeline/names.py",
        "DEFAULT_READ_MAX_AGE_SECONDS = 2.0\n",
        "DEFAULT_READ_MAX_AGE_SECONDS = 5.0\n",
        FRESHNESS + tests("test_promises_defaults"),
        "no read route serves a copy older than READ_MAX_AGE_SECONDS, 2 s by default",
    ),
    Mutation(
        "read-refresh-after-max-age-accepted",
        "pipeline/settings.py",
        "    if refresh > max_age:\n        raise SettingsError(",
        "    if False:\n        raise SettingsError(",
        FRESHNESS,
        "READ_REFRESH_SECONDS above READ_MAX_AGE_SECONDS fails at start naming the setting",
    ),
    Mutation(
        "read-copy-aged-from-the-query-end",
        "visualiser/read_model.py",
        "        started = self._clock()  # the copy is as old as the query's start\n"
        "        pointers = self._store.latest_pointers()\n",
        "        pointers = self._store.latest_pointers()\n        started = self._clock()\n",
        FRESHNESS + tests(NEW, "test_a_copy_is_as_old_as_the_start_of_the_query_that_read_it"),
        "a copy's age counts from the start of the query that read it",
    ),
    Mutation(
        "store-fault-503-without-retry-after",
        "pipeline/web.py",
        'headers={"Retry-After": str(retry_after(error))},',
        "headers=None,",
        FRESHNESS,
        "a store fault on any read route is a 503 with Retry-After",
    ),
    Mutation(
        "cursor-of-another-instance-trusted",
        "visualiser/read_model.py",
        "if epoch == self._epoch and number.isdigit()",
        "if number.isdigit()",
        tests("test_dashboard_api", "test_idle_polls_are_304_and_deltas_carry_only_what_changed")
        + tests(NEW, "test_a_cursor_of_another_instance_gets_everything_whatever_its_number"),
        "a cursor from another instance or an earlier process gets everything, flagged full",
    ),
    Mutation(
        "q-zero-entry-ignored",
        "visualiser/content_coding.py",
        "        if weight is not None:\n            weights.setdefault(coding, weight)",
        "        if weight:\n            weights.setdefault(coding, weight)",
        NEGOTIATION,
        "gzip;q=0 refuses gzip, even beside a * that accepts everything",
    ),
    Mutation(
        "malformed-q-is-a-refusal",
        "visualiser/content_coding.py",
        "                weight = _qvalue(value)",
        "                weight = _qvalue(value) or 0.0",
        CODING,
        "an entry with a malformed q is ignored, never read as a refusal",
    ),
    Mutation(
        "identity-not-refused-by-star-q-zero",
        "visualiser/content_coding.py",
        'return 0.0 if weights.get("*") == 0 else 0.0005',
        "return 0.0005",
        CODING,
        "*;q=0 without an identity entry refuses identity too",
    ),
    Mutation(
        "star-stands-for-nothing",
        "visualiser/content_coding.py",
        '    return weights.get("*", 0.0)',
        "    return 0.0",
        NEGOTIATION,
        "Accept-Encoding: * accepts gzip",
    ),
    Mutation(
        "x-gzip-not-gzip",
        "visualiser/content_coding.py",
        'ALIASES = {"x-gzip": "gzip"}',
        "ALIASES: dict[str, str] = {}",
        CODING,
        "x-gzip is read as gzip",
    ),
    Mutation(
        "no-vary-on-304",
        "visualiser/compression.py",
        "    return Response(status_code=304, media_type=media_type, headers=dict(headers, **VARY))",
        "    return Response(status_code=304, media_type=media_type, headers=headers)",
        tests("test_read_negotiation"),
        "a 304 of a negotiated route says Vary: Accept-Encoding as its 200 does",
    ),
    Mutation(
        "if-none-match-star-ignored",
        "visualiser/compression.py",
        'if sent.strip() == "*":',
        'if False and sent.strip() == "*":',
        HOSTILE,
        "If-None-Match: * on an existing resource is a 304",
    ),
    Mutation(
        "if-none-match-strong-comparison",
        "visualiser/compression.py",
        'return etag.removeprefix("W/") in {',
        "return etag in {",
        tests("test_probe_findings", "test_rollups_if_none_match_compares_weakly"),
        'If-None-Match compares weakly: "x" matches W/"x" (RFC 9110 §13.1.2)',
    ),
)

HOSTILE_INPUT: tuple[Mutation, ...] = (
    Mutation(
        "local-retry-context-missing",
        "local_host/triggers.py",
        "        return self._retry\n",
        "        return None\n",
        tests("test_checkpoint"),
        "the local host names a batch it is about to skip, as the host's retry_context lets Azure",
    ),
    Mutation(
        "query-parameter-twice-last-wins",
        "pipeline/web.py",
        "        if name in seen:\n            return name[:64]\n",
        "        if False:\n            return name[:64]\n",
        HOSTILE,
        "a query parameter given twice on an API or chart route is a 400 naming it",
    ),
    Mutation(
        "date-like-id-with-a-lenient-zone-accepted",
        "pipeline/readings.py",
        'r"([Zz]|([+-][0-9]{2})?(:([0-9]{2})?|[0-9]{2})?)$"',
        'r"([Zz]|[+-][0-9]{2}(:?[0-9]{2})?)?$"',
        HOSTILE + tests("test_jsonnet_dates"),
        "every id Json.NET reads as a date (its lenient zones too) is a 422: it would be counted twice",
    ),
    Mutation(
        "date-like-id-accepted",
        "pipeline/readings.py",
        "    elif isinstance(reading_id, str) and DATE_TIME_ID.fullmatch(reading_id):",
        "    elif False:",
        HOSTILE,
        "an id of the form of a date-time is a 422 naming id",
    ),
    Mutation(
        "summaries-pruned-by-their-own-time",
        "pipeline/storage/sqlite_retention.py",
        "COALESCE(written_at, julianday(timestamp))",
        "julianday(timestamp)",
        ROLLUPS_API,
        "SQLite keeps a summary from its write, as a Cosmos DB TTL counts (a late upload keeps them)",
    ),
    Mutation(
        "bad-setting-skips-a-batch-silently",
        "summariser/bindings.py",
        "        except Exception:\n            _log_if_last_attempt(context, len(documents))\n",
        "        except RuntimeError:\n            _log_if_last_attempt(context, len(documents))\n",
        tests("test_alerts"),
        "a summariser batch failing on a bad setting is named as given up on its last retry",
    ),
    Mutation(
        "duplicate-json-key-last-wins",
        "generator/http_api.py",
        "            raise DuplicateKey(key)",
        "            pass",
        HOSTILE,
        "a body naming a JSON key twice is a 400 naming the key",
    ),
    Mutation(
        "ingest-chunked-with-length-accepted",
        "generator/http_api.py",
        'if "transfer-encoding" in request.headers and "content-length" in request.headers:',
        "if False:",
        HOSTILE,
        "Transfer-Encoding with Content-Length is a 400 and the connection is closed",
    ),
    Mutation(
        "gzip-content-encoding-read-as-json",
        "generator/http_api.py",
        'if encoding not in ("", "identity"):',
        'if encoding not in ("", "identity", "gzip"):',
        HOSTILE,
        "a Content-Encoding other than identity is a 415 naming it",
    ),
    Mutation(
        "huge-integer-is-not-json",
        "generator/http_api.py",
        'if len(text.lstrip("-")) > _MAX_INTEGER_DIGITS:',
        "if False:",
        HOSTILE,
        "a temperature of thousands of digits is a 422 naming the field",
    ),
    Mutation(
        "body-limit-999999",
        "generator/http_api.py",
        "        if size > limit:\n            return None",
        "        if size >= limit:\n            return None",
        HOSTILE,
        "a body of exactly 1,000,000 bytes is read; one byte more is a 413",
    ),
    Mutation(
        "negative-zero-kept",
        "pipeline/readings.py",
        "    return number + 0.0  # -0.0 is stored and shown as 0.0",
        "    return number",
        HOSTILE,
        "-0.0 is stored and shown as 0.0",
    ),
    Mutation(
        "head-missing-from-allow",
        "pipeline/web.py",
        'if "GET" in allowed and "HEAD" not in allowed:',
        "if False:",
        HOSTILE,
        "a 405 on a GET route lists HEAD in Allow",
    ),
    Mutation(
        "local-host-chunked-with-length-accepted",
        "local_host/http_gateway.py",
        'if "transfer-encoding" in headers and "content-length" in headers:',
        "if False:",
        HOSTILE_LOCAL + tests(OPS, "test_the_gateway_refuses_chunked_with_a_length_on_any_route_and_closes"),
        "the local host refuses Transfer-Encoding with Content-Length (400) and closes",
    ),
    Mutation(
        "local-host-405-without-allow",
        "local_host/http_gateway.py",
        '{method[:20]} is not allowed here", {"Allow": allow})',
        '{method[:20]} is not allowed here")',
        HOSTILE_LOCAL,
        "the local host's 405 names the allowed methods in Allow",
    ),
    Mutation(
        "local-host-body-never-times-out",
        "local_host/http_gateway.py",
        "async with asyncio.timeout(self._body_timeout):",
        "async with asyncio.timeout(None):",
        HOSTILE_LOCAL,
        "a body not received within the body timeout is a 408 and nothing is written",
    ),
    Mutation(
        "local-host-header-timeout-fixed",
        "local_host/server.py",
        "config.keep_alive_timeout = timeouts.headers",
        "config.keep_alive_timeout = 30.0",
        HOSTILE_LOCAL,
        "headers not complete within the header timeout close the connection",
    ),
    Mutation(
        "stale-counted-from-the-device-stamp",
        "visualiser/alerts.py",
        "age = (now - parse_timestamp(summary.heard)).total_seconds()",
        "age = (now - parse_timestamp(summary.timestamp)).total_seconds()",
        tests("test_stale_by_arrival"),
        "staleness counts from last_heard, not from a device stamp that may run fast",
    ),
)

ROLLUP_MUTATIONS: tuple[Mutation, ...] = (
    Mutation(
        "bucket-not-aligned",
        "pipeline/rollups.py",
        "return _EPOCH + timedelta(seconds=seconds - seconds % size)",
        "return _EPOCH + timedelta(seconds=seconds)",
        ROLLUPS,
        "buckets are UTC-aligned minutes and hours",
    ),
    Mutation(
        "bucket-end-inclusive",
        "pipeline/rollups.py",
        "start <= r.timestamp < end}",
        "start <= r.timestamp <= end}",
        ROLLUPS,
        "a reading on a boundary belongs to the bucket it opens, [start, start + size)",
    ),
    Mutation(
        "bucket-count-skips-an-aligned-start",
        "pipeline/rollups.py",
        "    if first < start:\n",
        "    if first <= start:\n",
        ROLLUPS + ROLLUPS_API,
        "bucket_count counts every start in [from, to), an aligned from included",
    ),
    Mutation(
        "open-bucket-written",
        "summariser/rollups.py",
        "if start < still_open]",
        "if start <= still_open]",
        ROLLUPS,
        "a window is written when it closes, not while it is open",
    ),
    Mutation(
        "sqlite-window-replaced-by-a-smaller-one",
        "pipeline/storage/sqlite_rollups.py",
        '"WHERE excluded.count > rollups.count"',
        '"WHERE excluded.count >= 0"',
        tests(NEW, "test_a_stored_window_is_never_replaced_by_one_of_fewer_readings") + ROLLUPS,
        "a stored window is only replaced by one of more readings",
    ),
    Mutation(
        "sqlite-windows-to-inclusive",
        "pipeline/storage/sqlite_rollups.py",
        '"AND start >= ? AND start < ? ORDER BY start"',
        '"AND start >= ? AND start <= ? ORDER BY start"',
        ROLLUPS_API,
        "only windows whose start is in [from, to) are answered",
    ),
    Mutation(
        "open-window-answered-at-to",
        "pipeline/storage/base.py",
        "if start <= still_open < end:",
        "if start <= still_open <= end:",
        ROLLUPS_API + tests(NEW, "test_the_open_window_is_answered_only_when_its_start_is_before_to"),
        "the open window is answered only when its start is in [from, to)",
    ),
    Mutation(
        "1441-buckets-allowed",
        "visualiser/rollups_api.py",
        "MAX_BUCKETS = 1440",
        "MAX_BUCKETS = 1441",
        ROLLUPS_API,
        "at most 1,440 buckets per query; 1,441 is a 400 saying so",
    ),
    Mutation(
        "minute-span-default-3-hours",
        "visualiser/rollups_api.py",
        'DEFAULT_SPAN = {"1m": timedelta(hours=2), "1h": timedelta(days=7)}',
        'DEFAULT_SPAN = {"1m": timedelta(hours=3), "1h": timedelta(days=7)}',
        ROLLUPS_API,
        "without from, minutes cover the 2 hours before to",
    ),
    Mutation(
        "hour-span-default-6-days",
        "visualiser/rollups_api.py",
        'DEFAULT_SPAN = {"1m": timedelta(hours=2), "1h": timedelta(days=7)}',
        'DEFAULT_SPAN = {"1m": timedelta(hours=2), "1h": timedelta(days=6)}',
        ROLLUPS_API,
        "without from, hours cover the 7 days before to",
    ),
    Mutation(
        "windows-may-expire-before-readings",
        "pipeline/settings.py",
        "if rollups != FOREVER and (readings == FOREVER or rollups < readings):",
        "if rollups != FOREVER and readings == FOREVER:",
        ROLLUPS_API + tests(NEW, "test_windows_may_not_expire_before_the_readings_they_are_computed_from"),
        "ROLLUPS_TTL_SECONDS below READINGS_TTL_SECONDS fails at start: windows outlive readings",
    ),
    Mutation(
        "sqlite-windows-never-pruned",
        "pipeline/storage/sqlite_retention.py",
        '"DELETE FROM rollups WHERE written_at < ?"',
        '"DELETE FROM rollups WHERE written_at < ? AND 0"',
        ROLLUPS_API,
        "the embedded store prunes windows older than their retention",
    ),
)

OPERATIONS: tuple[Mutation, ...] = (
    Mutation(
        "feed-poll-delay-default-5-seconds",
        "pipeline/names.py",
        "DEFAULT_FEED_POLL_DELAY_MS = 1000",
        "DEFAULT_FEED_POLL_DELAY_MS = 5000",
        FEED_TUNING,
        "the summariser's binding polls the change feed every second by default",
    ),
    Mutation(
        "local-host-ignores-the-binding-delay",
        "local_host/triggers.py",
        'poll_delay = int(trigger.get("feedPollDelay") or AZURE_FEED_POLL_DELAY_MS) / 1000',
        "poll_delay = AZURE_FEED_POLL_DELAY_MS / 1000",
        FEED_TUNING,
        "the local host polls with the binding's feed_poll_delay",
    ),
    Mutation(
        "local-host-ignores-the-binding-batch-bound",
        "local_host/triggers.py",
        'max_items = int(trigger.get("maxItemsPerInvocation") or FALLBACK_MAX_ITEMS_PER_INVOCATION)',
        "max_items = FALLBACK_MAX_ITEMS_PER_INVOCATION",
        FEED_TUNING
        + tests(OPS, "test_the_local_host_takes_delay_and_batch_bound_from_whatever_the_binding_says"),
        "the local host hands at most the binding's max_items_per_invocation to one call",
    ),
    Mutation(
        "dead-letters-anonymous",
        "visualiser/bindings.py",
        "    auth_level=func.AuthLevel.FUNCTION,\n)\nasync def read_dead_letters",
        "    auth_level=func.AuthLevel.ANONYMOUS,\n)\nasync def read_dead_letters",
        DEAD_LETTERS,
        "dead letters need the function key in Azure",
    ),
    Mutation(
        "catch-all-serves-dead-letters-in-capitals",
        "visualiser/bindings.py",
        "if part).lower() == DEAD_LETTER_ROUTE",
        "if part) == DEAD_LETTER_ROUTE",
        DEAD_LETTERS + tests(OPS, "test_the_catch_all_knows_the_dead_letter_route_in_any_spelling"),
        "the anonymous catch-all refuses the dead-letter route in any case",
    ),
    Mutation(
        "catch-all-serves-percent-encoded-dead-letters",
        "visualiser/bindings.py",
        "    path = unquote(urlsplit(url).path)",
        "    path = urlsplit(url).path",
        DEAD_LETTERS,
        "the anonymous catch-all refuses the dead-letter route percent-encoded",
    ),
    Mutation(
        "smoke-follows-sign-in-redirects",
        "infra/smoke.py",
        "if answer.status in (301, 302, 303, 307, 308) and status != answer.status:",
        "if False:",
        tests("test_smoke", "test_smoke_reports_a_sign_in_redirect_instead_of_following_it"),
        "smoke names a sign-in redirect instead of following it",
    ),
    Mutation(
        "smoke-accepts-a-stale-summary-timestamp",
        "infra/smoke.py",
        "if isinstance(version, str) and version.startswith(self.timestamp[:19]):",
        "if isinstance(version, str):",
        tests(OPS, "test_smoke_waits_for_the_reading_it_posted_not_any_version"),
        "smoke waits for the reading it posted in /api/summary-timestamps, not any version",
    ),
    Mutation(
        "serverless-30-cents",
        "bench/cost_model.py",
        "SERVERLESS_USD_PER_MILLION_RU = 0.25",
        "SERVERLESS_USD_PER_MILLION_RU = 0.30",
        COSTS,
        "serverless Cosmos DB costs $0.25 per million RU",
    ),
    Mutation(
        "autoscale-without-its-floor",
        "bench/cost_model.py",
        "AUTOSCALE_MIN_FRACTION = 0.1",
        "AUTOSCALE_MIN_FRACTION = 0.0",
        COSTS,
        "autoscale bills at least 10% of its maximum",
    ),
    Mutation(
        "flex-bills-under-a-second",
        "bench/cost_model.py",
        "    if active_seconds <= FLEX_MIN_BILLED_SECONDS:\n        return FLEX_MIN_BILLED_SECONDS\n",
        "",
        COSTS,
        "Flex Consumption bills at least 1 s per busy period",
    ),
)

FLEET_PAGE = tests("test_dashboard_fleet_browser", "test_counts_sorting_and_search_in_the_url")
OUTAGE_PAGE = tests(
    "test_dashboard_outage_browser",
    "test_cards_turn_stale_and_ages_count_during_an_outage_then_live_within_10_s",
)
DASHBOARD: tuple[Mutation, ...] = (
    Mutation(
        "counts-stale-alerting-twice",
        "visualiser/static/dashboard.js",
        "    else if (id in fleet.alerts) alerting += 1;",
        "    if (id in fleet.alerts) alerting += 1;",
        FLEET_PAGE,
        "a stale sensor is counted once, as stale, even if its last average was alerting",
    ),
    Mutation(
        "search-not-in-the-url",
        "visualiser/static/page-state.js",
        'for (const key of ["q", "sort", "range", "sensor"])',
        'for (const key of ["sort", "range", "sensor"])',
        FLEET_PAGE,
        "typing in search puts q= in the URL, and a reload keeps it",
    ),
    Mutation(
        "sort-direction-ignored",
        "visualiser/static/fleet.js",
        'const sign = direction === "desc" ? -1 : 1;',
        "const sign = 1;",
        FLEET_PAGE,
        "sorting by latest average descending puts the hottest sensor first",
    ),
    Mutation(
        "aria-sort-missing",
        "visualiser/static/fleet.js",
        'th.setAttribute("aria-sort", direction === "desc" ? "descending" : "ascending");',
        'th.removeAttribute("aria-sort");',
        FLEET_PAGE,
        "the sorted column says so with aria-sort",
    ),
    Mutation(
        "backoff-uncapped",
        "visualiser/static/dashboard.js",
        "const ceiling = Math.min(BACKOFF_CAP_MS, POLL_MS * 2 ** Math.min(failures - 1, 10));",
        "const ceiling = POLL_MS * 2 ** Math.min(failures - 1, 10);",
        OUTAGE_PAGE,
        "the page's backoff is capped at 8 s, so it is live again within 10 s of the server's return",
    ),
    Mutation(
        "stale-only-with-an-answer",
        "visualiser/static/dashboard.js",
        "fleet.now() - heardAt(id) > STALE_MS,",
        "fleet.connected !== false && fleet.now() - heardAt(id) > STALE_MS,",
        OUTAGE_PAGE,
        "a card turns stale when its data passes the stale limit, whether or not the server answers",
    ),
)

OPEN_ISSUES: tuple[Mutation, ...] = CACHES + HOSTILE_INPUT + ROLLUP_MUTATIONS + DASHBOARD + OPERATIONS
