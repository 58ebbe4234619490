"""Twitter/X: a user's tweets (`twitter:@handle`) or a recent search (`twitter:search:QUERY`).

Each tweet is a member (its text), followed by the members of the pages it links
(`UrlSource`: paste pages, raw files). Only tweets newer than the last run's newest are
asked for: the source reads `since_id` from its state and, once every page was read,
stores the newest id it saw (the pipeline saves state in the dump's transaction).

The bearer token stays inside tweepy's client: no message, repr or log names it. tweepy
logs each request's headers (the token) and each response's body at DEBUG, so this module
drops tweepy.client's DEBUG records.
"""

from __future__ import annotations

import html
import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, cast
from urllib.parse import urlsplit

import requests

from incident.errors import IncidentError, InputError, Place, ServiceError
from incident.ingest.interface import Member, Source, SourceOptions, SourceState
from incident.ingest.sources.web import UrlSource, new_session

TOKEN_VARIABLE = "INCIDENT_TWITTER_BEARER_TOKEN"
HANDLE = re.compile(r"[A-Za-z0-9_]{1,15}")
# note_tweet: the whole text of a tweet longer than 280 characters (`text` is cut short).
TWEET_FIELDS = ["created_at", "entities", "author_id", "note_tweet"]
PAGE_SIZE = 100
MAX_PAGES = 50
MAX_WAITS = 3  # rate-limit waits for one page, with --wait
UNKNOWN_RESET_WAIT = 60.0  # seconds, when a 429 does not say when the window resets
_TWITTER_HOSTS = {"twitter.com", "x.com"}


class _NoDebug(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.DEBUG


_NO_DEBUG = _NoDebug()
logging.getLogger("tweepy.client").addFilter(_NO_DEBUG)


class _TimeoutSession(requests.Session):
    """tweepy sets no timeout on its requests: this session gives each one ours."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout

    def request(self, method: str | bytes, url: str | bytes, *args: Any,
                **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", (self.timeout, self.timeout))
        return super().request(method, url, *args, **kwargs)


@dataclass(frozen=True)
class Tweet:
    id: int
    text: str = field(repr=False)
    urls: tuple[str, ...] = field(default=(), repr=False)

    @classmethod
    def of(cls, data: dict[str, Any]) -> Tweet:
        note = data.get("note_tweet") or {}
        text = note.get("text") or data.get("text") or ""
        entities = [data.get("entities") or {}, note.get("entities") or {}]
        urls = [u.get("expanded_url") for e in entities for u in e.get("urls") or []]
        # v2 escapes &, < and > in a tweet's text as HTML entities
        return cls(int(data["id"]), html.unescape(text),
                   tuple(dict.fromkeys(u for u in urls if isinstance(u, str) and _fetchable(u))))


def _fetchable(url: str) -> bool:
    """An http(s) link that is not a tweet (a quoted tweet, a photo of one)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    host = (parts.hostname or "").removeprefix("www.").removeprefix("mobile.")
    return parts.scheme in ("http", "https") and not (
        host in _TWITTER_HOSTS and "/status/" in parts.path)


class TwitterSource(Source):
    """`twitter:@handle` or `twitter:search:QUERY`: tweets, oldest first, and what they link."""

    kind = "twitter"

    def __init__(self, spec: str, options: SourceOptions, state: SourceState, *,
                 max_pages: int = MAX_PAGES, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(spec, options, state)
        self.max_pages = max_pages
        self.sleep = sleep
        self.clock = clock
        self.skipped: list[str] = []  # links that failed, pages left unread
        self.newest_id: int | None = None  # the newest tweet this run read
        self.place = "twitter"  # twitter:@handle or twitter:search, once members() began

    @classmethod
    def handles(cls, spec: str) -> bool:
        # Any twitter: spec, so that a malformed one gets this source's message.
        return spec.startswith("twitter:")

    def members(self) -> Iterator[Member]:
        handle, query = _target(self.spec)
        self.place = f"twitter:@{handle}" if handle else "twitter:search"
        token = self.options.twitter_token
        if not token:
            raise InputError(f"twitter: set {TOKEN_VARIABLE} to a Twitter API bearer token")
        import tweepy  # type: ignore[import-untyped]  # only when Twitter is read: 0.1 s
        client = tweepy.Client(bearer_token=token, return_type=dict, wait_on_rate_limit=False)
        client.session = api = _TimeoutSession(self.options.timeout)
        try:
            tweets = self._read(client, handle, query)
        finally:
            api.close()
            del client  # tweepy keeps its own copy of the token
        web = new_session()
        try:
            seen: set[str] = set()
            for tweet in sorted(tweets, key=lambda t: t.id):
                name = f"{self.place}/status/{tweet.id}"
                yield Member.of_bytes(name, tweet.text.encode("utf-8"), "text/plain")
                for url in tweet.urls:
                    if url not in seen:
                        seen.add(url)
                        yield from self._linked(url, web)
        finally:
            web.close()

    def _read(self, client: Any, handle: str | None, query: str | None) -> list[Tweet]:
        """Every page of new tweets, newest first as the API gives them; then remember the
        newest id."""
        params: dict[str, Any] = {"max_results": PAGE_SIZE, "tweet_fields": TWEET_FIELDS}
        since = self.state.get("since_id")
        if since and since.isdigit():
            params["since_id"] = since
        if handle:
            user = self._call(client.get_user, username=handle).get("data")
            if not isinstance(user, dict) or "id" not in user:
                raise InputError("no such user", Place(self.place))
            if not str(user["id"]).isdigit():
                raise _unexpected()
            pages: Callable[..., Any] = client.get_users_tweets
            first: tuple[str | None, ...] = (str(user["id"]),)
            cursor = "pagination_token"
        else:
            pages, first, cursor = client.search_recent_tweets, (query,), "next_token"
        tweets: list[Tweet] = []
        next_token: str | None = None
        for _ in range(self.max_pages):
            more = {cursor: next_token} if next_token else {}
            page = self._call(pages, *first, **params, **more)
            try:
                tweets.extend(Tweet.of(t) for t in page.get("data") or [])
                next_token = (page.get("meta") or {}).get("next_token")
            except (AttributeError, KeyError, TypeError, ValueError):
                raise _unexpected() from None
            if not next_token:
                break
        if next_token:
            self.skipped.append(f"{self.place}: stopped after {self.max_pages} pages; "
                                "older tweets were not read")
        if tweets:
            self.newest_id = max(t.id for t in tweets)
            self.state.set("since_id", str(self.newest_id))
        return tweets

    def _call(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
        """One API request, its errors as ours; on a rate limit with --wait, wait and retry.
        tweepy's exceptions hold the request (and its token): none is chained."""
        import tweepy  # type: ignore[import-untyped, unused-ignore]
        waits = 0
        while True:
            try:
                return cast(dict[str, Any], method(*args, **kwargs))
            except tweepy.TooManyRequests as e:
                reset = _reset_of(e)
                if not self.options.wait or waits == MAX_WAITS:
                    raise ServiceError(self._limited(reset, waits)) from None
                waits += 1
                self.sleep(UNKNOWN_RESET_WAIT if reset is None
                           else max(0.0, reset - self.clock()) + 1)
            except tweepy.Unauthorized:
                raise ServiceError("twitter: the bearer token was refused (HTTP 401)") from None
            except (tweepy.BadRequest, tweepy.NotFound) as e:  # the handle or the query
                raise InputError(f"the API refused the request (HTTP {_status(e)})",
                                 Place(self.place)) from None
            except tweepy.HTTPException as e:
                raise ServiceError(f"twitter: the API answered HTTP {_status(e)}") from None
            except tweepy.TweepyException as e:
                raise ServiceError(f"twitter: the request failed ({type(e).__name__})") from None
            except requests.Timeout:
                raise ServiceError(f"twitter: timed out after {self.options.timeout:g} s"
                                   ) from None
            except requests.JSONDecodeError:
                raise ServiceError("twitter: the API answered something not JSON") from None
            except requests.RequestException as e:
                raise ServiceError(f"twitter: could not connect ({type(e).__name__})") from None

    def _limited(self, reset: int | None, waits: int) -> str:
        if reset is None:
            when = "later"
        else:
            at = datetime.fromtimestamp(reset, timezone.utc).strftime("%H:%M:%S")
            when = f"after {at} UTC ({max(0, round(reset - self.clock()))} s)"
        if waits:
            return f"twitter: rate limit still reached after {waits} waits; retry {when}"
        return f"twitter: rate limit reached; retry {when}, or pass --wait"

    def _linked(self, url: str, session: requests.Session) -> Iterator[Member]:
        """The members of a linked page; one that fails is skipped and named."""
        source = UrlSource(url, self.options, SourceState(), session=session)
        try:
            yield from source.members()
        except IncidentError as e:  # InputError or ServiceError: place-only messages
            self.skipped.append(str(e))
        self.skipped.extend(source.skipped)


def _target(spec: str) -> tuple[str | None, str | None]:
    """(handle, None) or (None, query)."""
    rest = spec.removeprefix("twitter:")
    if rest.startswith("@"):
        if not HANDLE.fullmatch(rest[1:]):
            raise InputError("twitter: a handle is 1 to 15 letters, digits or underscores")
        return rest[1:], None
    if rest.startswith("search:") and rest[len("search:"):].strip():
        return None, rest[len("search:"):]
    raise InputError("twitter: expected twitter:@handle or twitter:search:QUERY")


def _unexpected() -> ServiceError:
    return ServiceError("twitter: the API answered in an unexpected shape")


def _status(e: Any) -> int | str:
    return getattr(getattr(e, "response", None), "status_code", "?")


def _reset_of(e: Any) -> int | None:
    headers = getattr(getattr(e, "response", None), "headers", None) or {}
    value = str(headers.get("x-rate-limit-reset", ""))
    return int(value) if value.isdigit() else None
