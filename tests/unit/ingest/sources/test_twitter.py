"""TwitterSource against recorded Twitter API v2 responses (tweepy's requests go through
its requests Session, which `responses` replays; nothing reaches the network)."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from incident.errors import IncidentError, InputError, ServiceError
from incident.ingest.interface import Member, SourceOptions, SourceState
from incident.ingest.sources.twitter import TwitterSource

DATA = Path(__file__).resolve().parents[3] / "data" / "ingest" / "http"
API = "https://api.twitter.com/2"
USER = f"{API}/users/by/username/leakwatch"
TWEETS = f"{API}/users/1579000000000000001/tweets"
SEARCH = f"{API}/tweets/search/recent"
KEYS = "https://files.example/dump/keys.json"
GONE = "https://files.example/gone.txt"
TOKEN = "FAKEbearerAAAAAAAAAAAAAAAAAAAAAMLheAAAAAAA0%2BuSeid%2BULvsea4JtiGRiSDSJSI"
NOW = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC; twitter_429.json resets 125 s later


def body(name: str) -> bytes:
    return (DATA / name).read_bytes()


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def recorded(mock: responses.RequestsMock, url: str, name: str) -> None:
    """Register a recorded response file: {"status", "headers", "body"}."""
    saved = json.loads(body(name))
    mock.get(url, status=saved["status"], headers=saved["headers"],
             body=json.dumps(saved["body"]))


class Clock:
    def __init__(self) -> None:
        self.now = NOW
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def source(spec: str = "twitter:@leakwatch", state: SourceState | None = None,
           clock: Clock | None = None, token: str | None = TOKEN, **options: Any
           ) -> TwitterSource:
    clock = clock or Clock()
    return TwitterSource(spec, SourceOptions(twitter_token=token, **options),
                         state or SourceState(), sleep=clock.sleep, clock=clock)


def names(members: list[Member]) -> list[str]:
    return [m.name for m in members]


def params(call: Any) -> dict[str, list[str]]:
    return parse_qs(urlsplit(call.request.url).query)


def failure(src: TwitterSource) -> IncidentError:
    with pytest.raises(IncidentError) as caught:
        list(src.members())
    error = caught.value
    text = f"{error}\n{error!r}\n{error.__cause__!r}\n{src!r}\n{src.options!r}"
    leaked = TOKEN[:12] in text or TOKEN[-12:] in text
    assert not leaked, "the token shows in the error, its cause or a repr"
    assert error.__cause__ is None
    return error


@pytest.fixture
def api() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def add_timeline(mock: responses.RequestsMock) -> None:
    """The user, two pages of tweets, and what they link (one link is gone)."""
    mock.get(USER, body=body("twitter_user.json"), content_type="application/json")
    # Responses registered for one URL answer in order; each call's parameters are checked.
    mock.get(TWEETS, body=body("twitter_tweets_page1.json"), content_type="application/json")
    mock.get(TWEETS, body=body("twitter_tweets_page2.json"), content_type="application/json")
    mock.get(KEYS, body=body("keys.json"), content_type="application/json")
    mock.get(GONE, status=404)


@pytest.fixture
def timeline(api: responses.RequestsMock) -> responses.RequestsMock:
    add_timeline(api)
    return api


def test_handles_twitter_specs() -> None:
    assert TwitterSource.handles("twitter:@leakwatch")
    assert TwitterSource.handles("twitter:search:binance api key")
    assert not TwitterSource.handles("https://twitter.com/leakwatch")
    assert not TwitterSource.handles("dump.csv")


def test_a_timeline_gives_tweets_oldest_first_each_with_what_it_links(
        timeline: responses.RequestsMock) -> None:
    state = SourceState()
    src = source(state=state)
    members = list(src.members())

    assert [(m.name, m.media_type) for m in members] == [
        ("twitter:@leakwatch/status/1590000000000000002", "text/plain"),
        ("twitter:@leakwatch/status/1590000000000000004", "text/plain"),
        (KEYS, "application/json"),  # the link to a tweet (status/...2) is not fetched
        ("twitter:@leakwatch/status/1590000000000000005", "text/plain"),
    ]
    text = json.loads(body("twitter_tweets_page2.json"))["data"][0]["text"]
    assert digest(members[0].open().read()) == digest(text.replace("&amp;", "&").encode())
    assert digest(members[2].read_all()) == digest(body("keys.json"))
    assert src.skipped == [f"{GONE}: HTTP 404"]
    assert src.newest_id == 1590000000000000005
    assert state.values == {"since_id": "1590000000000000005"}

    urls = [str(c.request.url).split("?")[0] for c in timeline.calls]
    assert urls == [USER, TWEETS, TWEETS, KEYS, GONE]
    first, second = params(timeline.calls[1]), params(timeline.calls[2])
    assert "since_id" not in first and "pagination_token" not in first
    assert second["pagination_token"] == ["7140dibdnow9c7btw3w29grvxfcgvpb9n9coehpk7xz5i"]
    assert first["max_results"] == ["100"]
    assert first["tweet.fields"] == ["created_at,entities,author_id,note_tweet"]
    sent = timeline.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert sent, "the bearer token was not sent"
    for call in timeline.calls[:3]:
        assert call.request.req_kwargs["timeout"] == (30.0, 30.0)  # type: ignore[attr-defined]


def test_a_rerun_asks_only_for_tweets_after_the_newest_seen(api: responses.RequestsMock) -> None:
    api.get(USER, body=body("twitter_user.json"), content_type="application/json")
    api.get(TWEETS, body=body("twitter_tweets_new.json"), content_type="application/json")
    state = SourceState({"since_id": "1590000000000000005"})
    members = list(source(state=state).members())

    assert names(members) == ["twitter:@leakwatch/status/1590000000000000007"]
    assert params(api.calls[1])["since_id"] == ["1590000000000000005"]
    assert state.get("since_id") == "1590000000000000007"


def test_no_new_tweet_keeps_the_state(api: responses.RequestsMock) -> None:
    api.get(USER, body=body("twitter_user.json"), content_type="application/json")
    api.get(TWEETS, body=body("twitter_tweets_empty.json"), content_type="application/json")
    state = SourceState({"since_id": "1590000000000000007"})
    src = source(state=state)
    assert list(src.members()) == []
    assert (src.newest_id, state.values) == (None, {"since_id": "1590000000000000007"})


def test_pages_stop_at_max_pages_and_say_so(timeline: responses.RequestsMock) -> None:
    clock = Clock()
    src = TwitterSource("twitter:@leakwatch", SourceOptions(twitter_token=TOKEN),
                        SourceState(), max_pages=1, sleep=clock.sleep, clock=clock)
    members = list(src.members())
    assert names(members)[0] == "twitter:@leakwatch/status/1590000000000000004"
    assert src.skipped[0] == ("twitter:@leakwatch: stopped after 1 pages; older tweets "
                              "were not read")


def test_a_search_reads_its_pages(api: responses.RequestsMock) -> None:
    api.get(SEARCH, body=body("twitter_search_page1.json"), content_type="application/json")
    api.get(SEARCH, body=body("twitter_search_page2.json"), content_type="application/json")
    state = SourceState()
    members = list(source('twitter:search:"api key" binance -is:retweet', state).members())

    assert names(members) == ["twitter:search/status/1591000000000000011",
                              "twitter:search/status/1591000000000000020"]
    assert params(api.calls[0])["query"] == ['"api key" binance -is:retweet']
    assert "next_token" not in params(api.calls[0])
    assert params(api.calls[1])["next_token"] == ["b26v89c19zqg8o3fr5ix0i7ps4bl2ze5sjwcl34s7cw5p"]
    assert state.get("since_id") == "1591000000000000020"


def test_an_unknown_user_is_bad_input(api: responses.RequestsMock) -> None:
    api.get(f"{API}/users/by/username/nosuchuser_x", body=body("twitter_user_unknown.json"),
            content_type="application/json")
    error = failure(source("twitter:@nosuchuser_x"))
    assert isinstance(error, InputError)
    assert str(error) == "twitter:@nosuchuser_x: no such user"


@pytest.mark.parametrize(("spec", "message"), [
    ("twitter:leakwatch", "twitter: expected twitter:@handle or twitter:search:QUERY"),
    ("twitter:search:  ", "twitter: expected twitter:@handle or twitter:search:QUERY"),
    ("twitter:@../../2/tweets", "twitter: a handle is 1 to 15 letters, digits or underscores"),
])
def test_a_malformed_spec_is_bad_input(api: responses.RequestsMock, spec: str,
                                       message: str) -> None:
    error = failure(source(spec))
    assert (type(error), str(error)) == (InputError, message)
    assert not api.calls


def test_no_token_is_bad_input(api: responses.RequestsMock) -> None:
    error = failure(source(token=None))
    assert (type(error), str(error)) == (
        InputError, "twitter: set INCIDENT_TWITTER_BEARER_TOKEN to a Twitter API bearer token")
    assert not api.calls


def test_a_rate_limit_stops_with_when_to_retry(api: responses.RequestsMock) -> None:
    recorded(api, USER, "twitter_429.json")
    error = failure(source())
    assert (type(error), str(error)) == (
        ServiceError, "twitter: rate limit reached; retry after 22:15:25 UTC (125 s), "
                      "or pass --wait")


def test_with_wait_a_rate_limit_is_waited_out(api: responses.RequestsMock) -> None:
    recorded(api, USER, "twitter_429.json")  # answered first, then the 200 (in order)
    add_timeline(api)
    clock = Clock()
    members = list(source(clock=clock, wait=True).members())
    assert len(members) == 4
    assert clock.slept == [126.0]
    assert [c.response.status_code for c in api.calls[:2]] == [429, 200]  # type: ignore[union-attr]


def test_with_wait_a_lasting_rate_limit_stops_after_three_waits(
        api: responses.RequestsMock) -> None:
    recorded(api, USER, "twitter_429.json")
    clock = Clock()
    error = failure(source(clock=clock, wait=True))
    assert isinstance(error, ServiceError)
    assert str(error).startswith("twitter: rate limit still reached after 3 waits; retry ")
    assert clock.slept == [126.0, 1.0, 1.0]  # the window's reset had passed: one second
    assert len(api.calls) == 4


@pytest.mark.parametrize(("answer", "kind", "message"), [
    ({"status": 401, "body": body("twitter_401.json")}, ServiceError,
     "twitter: the bearer token was refused (HTTP 401)"),
    ({"status": 403, "body": b'{"title": "Forbidden"}'}, ServiceError,
     "twitter: the API answered HTTP 403"),
    ({"status": 503, "body": b"FAKE upstream page"}, ServiceError,
     "twitter: the API answered HTTP 503"),
    ({"status": 400, "body": b'{"errors": [{"message": "FAKE"}]}'}, InputError,
     "twitter:@leakwatch: the API refused the request (HTTP 400)"),
    ({"status": 200, "body": b"<html>FAKE"}, ServiceError,
     "twitter: the API answered something not JSON"),
    ({"body": requests.exceptions.ConnectTimeout()}, ServiceError,
     "twitter: timed out after 30 s"),
    ({"body": requests.exceptions.ConnectionError()}, ServiceError,
     "twitter: could not connect (ConnectionError)"),
])
def test_api_failures_name_the_status_only(api: responses.RequestsMock, answer: dict[str, Any],
                                           kind: type[IncidentError], message: str) -> None:
    api.get(USER, **answer)
    error = failure(source())
    assert (type(error), str(error)) == (kind, message)


def test_a_failure_on_a_later_page_is_raised_too(api: responses.RequestsMock) -> None:
    api.get(USER, body=body("twitter_user.json"), content_type="application/json")
    api.get(TWEETS, status=401, body=body("twitter_401.json"))
    error = failure(source())
    assert str(error) == "twitter: the bearer token was refused (HTTP 401)"


def test_the_token_is_in_no_repr() -> None:
    src = source()
    leaked = TOKEN in f"{src!r} {src.options!r} {vars(src)!r}"
    assert not leaked, "the token shows in a repr"


def test_tweepy_debug_logs_never_carry_the_token(timeline: responses.RequestsMock,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        list(source().members())
    debug = sum(r.name == "tweepy.client" and r.levelno <= logging.DEBUG
                for r in caplog.records)
    assert debug == 0
    leaked = TOKEN[:12] in caplog.text or "FAKEZmDc5hrH" in caplog.text
    assert not leaked, "the token or a tweet's text shows in the log"


def test_an_unexpected_answer_is_a_service_error(api: responses.RequestsMock) -> None:
    api.get(USER, body=body("twitter_user.json"), content_type="application/json")
    api.get(TWEETS, body=b'{"data": [{"text": "no id"}]}', content_type="application/json")
    error = failure(source())
    assert (type(error), str(error)) == (
        ServiceError, "twitter: the API answered in an unexpected shape")
