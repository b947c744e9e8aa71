"""A port of Json.NET's ISO-8601 reader: which strings the Functions host takes for a date-time.

The Cosmos DB extension reads change-feed documents with `DateParseHandling.DateTime`, so a
string that this reader accepts reaches Python re-serialised. It is the oracle against which
`pipeline.readings.DATE_TIME_ID` (the ids a device may not choose) is checked: the pattern
must name every string accepted here.

`reads_as_date` follows Json.NET 13 (`DateTimeUtils.TryParseDateTime`, then
`DateTimeParser.Parse`) step by step: 19 to 40 characters, a digit first and an upper-case
`T` at index 10; a real date `yyyy-MM-dd`; `HH:mm:ss`; an optional fraction of which the
first 7 digits are read; then a lenient zone: `Z`/`z`, or a sign and two digits, then an
optional `:` and two digits, all of which must end the string. Where Json.NET's versions
differ (an hour of 24) it takes the wider.
"""

from __future__ import annotations

import calendar

_FRACTION_DIGITS_READ = 7


def _number(text: str, start: int, width: int) -> int | None:
    """The ASCII digits at text[start:start+width] as a number, None if any is missing or not a digit."""
    part = text[start : start + width]
    if len(part) != width or not all("0" <= char <= "9" for char in part):
        return None
    return int(part)


def _date_and_time(text: str) -> int | None:
    """Where the zone would start after `yyyy-MM-ddTHH:mm:ss[.fff…]`, None if that is not there."""
    year, month, day = _number(text, 0, 4), _number(text, 5, 2), _number(text, 8, 2)
    if year is None or month is None or day is None or text[4] != "-" or text[7] != "-":
        return None
    if not (1 <= year and 1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1]):
        return None
    hour, minute, second = _number(text, 11, 2), _number(text, 14, 2), _number(text, 17, 2)
    if hour is None or minute is None or second is None or text[13] != ":" or text[16] != ":":
        return None
    if hour > 24 or minute > 59 or second > 59:
        return None
    position = 19
    if position < len(text) and text[position] == ".":
        digits = 0
        position += 1
        while position < len(text) and digits < _FRACTION_DIGITS_READ and "0" <= text[position] <= "9":
            digits += 1
            position += 1
        if digits == 0:
            return None
    return position


def _zone_ends_it(text: str, position: int) -> bool:
    """Json.NET's lenient zone: what follows the time must be consumed to the very end."""
    end = len(text)
    if position < end:
        sign = text[position]
        if sign in "Zz":
            position += 1
        else:
            if position + 2 < end and _number(text, position + 1, 2) is not None and sign in "+-":
                position += 3
            if position < end:
                if text[position] == ":":
                    position += 1
                    if position + 1 < end and _number(text, position, 2) is not None:
                        position += 2
                elif position + 1 < end and _number(text, position, 2) is not None:
                    position += 2
    return position == end


def reads_as_date(text: str) -> bool:
    """Whether the Functions host's Json.NET would take this string for a date-time."""
    if not 19 <= len(text) <= 40 or not text[0].isdigit() or text[10] != "T":
        return False
    position = _date_and_time(text)
    return position is not None and _zone_ends_it(text, position)
