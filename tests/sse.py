"""A small server-sent-events reader over httpx, for tests that listen like a browser does."""

import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx


@dataclass
class Event:
    event: str
    data: str
    id: str | None
    received: float  # time.time() when the blank line ending it arrived


def read_events(response: httpx.Response) -> Iterator[Event]:
    event, data, id_ = "message", [], None
    for line in response.iter_lines():
        if line == "":
            if data:
                yield Event(event, "\n".join(data), id_, time.time())
            event, data = "message", []
        elif line.startswith(":"):
            continue
        else:
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "event":
                event = value
            elif field == "data":
                data.append(value)
            elif field == "id":
                id_ = value
