"""incident.report.charts: SVG that is the same bytes for the same data, in any process,
valid to inline in HTML, with one marker per unauthorized fill."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from typing import Any

import numpy as np
import pytest

from incident.report import charts
from incident.report.charts import portfolio_chart, price_chart
from tests.conftest import ROOT

SVG = "{http://www.w3.org/2000/svg}"
T0 = 1_714_560_000_000  # 2024-05-01 10:40 UTC
MINUTE = 60_000


def market(n_candles: int = 180, n_fills: int = 40, seed: int = 1) -> dict[str, Any]:
    """A pair pumped in the window [60, 90) minutes, with fills inside it."""
    rng = np.random.default_rng(seed)
    times = T0 + np.arange(n_candles) * MINUTE
    close = 0.012 * np.exp(np.cumsum(rng.normal(0, 0.004, n_candles)))
    start, end = n_candles // 3, n_candles // 3 + max(n_candles // 6, 1)
    close[start:end] *= 4
    window = (int(times[start]), int(times[end]))
    fill_t = np.sort(rng.integers(window[0], window[1], n_fills))
    fill_p = np.interp(fill_t, times, close) * rng.uniform(0.98, 1.02, n_fills)
    sides = ["buy" if x < 0.7 else "sell" for x in rng.random(n_fills)]
    return {"symbol": "XYZ/USDT", "candle_times_ms": times.tolist(),
            "candle_close": close.tolist(), "fill_times_ms": fill_t.tolist(),
            "fill_prices": fill_p.tolist(), "fill_sides": sides, "reference": 0.012,
            "window": window, "quote": "USDT", "high": (close * 1.01).tolist(),
            "low": (close * 0.99).tolist()}


def parse(svg: str) -> ET.Element:
    assert svg.startswith("<svg ") and svg.endswith("</svg>"), svg[:80]
    assert "<?xml" not in svg and "<!DOCTYPE" not in svg
    return ET.fromstring(svg)


def markers(root: ET.Element, side: str) -> int:
    """The fill markers drawn for one side: each is a <use> of the marker (or, when
    matplotlib draws them inline, a <path> outside <defs>)."""
    groups = [g for g in root.iter(f"{SVG}g") if g.get("id", "").endswith(f"-{side}")]
    if not groups:
        return 0
    (group,) = groups
    defined = {id(e) for d in group.iter(f"{SVG}defs") for e in d.iter()}
    return sum(1 for e in group.iter() if e.tag in (f"{SVG}use", f"{SVG}path")
               and id(e) not in defined)


def ids(svg: str) -> list[str]:
    return re.findall(r' id="([^"]*)"', svg)


def test_same_data_same_bytes() -> None:
    data = market()
    first, second = price_chart(**data), price_chart(**data)
    assert first == second
    assert portfolio_chart([T0, T0 + MINUTE], [10.0, 5.0], (T0, T0 + MINUTE), "USD",
                           9.0) == portfolio_chart([T0, T0 + MINUTE], [10.0, 5.0],
                                                   (T0, T0 + MINUTE), "USD", 9.0)
    # numpy arrays and lists give the same chart
    as_arrays = {k: (np.asarray(v) if isinstance(v, list) and k != "fill_sides" else v)
                 for k, v in data.items()}
    assert price_chart(**as_arrays) == first
    other = dict(data, reference=0.013)
    assert price_chart(**other) != first


CHILD = """
import json, sys
from incident.report.charts import price_chart, portfolio_chart
data = json.loads(sys.stdin.read())
data["window"] = tuple(data["window"])
sys.stdout.write(price_chart(**data))
sys.stdout.write(portfolio_chart(data["candle_times_ms"][::10], data["candle_close"][::10],
                                 data["window"], "USD", 0.012))
"""


def test_same_bytes_in_fresh_processes() -> None:
    """The ids matplotlib writes are hashes salted by svg.hashsalt, else by a random uuid:
    fixed, they are the same in every process, whatever its hash seed."""
    data = market()
    outputs = []
    for seed in ("1", "2"):
        proc = subprocess.run([sys.executable, "-c", CHILD], input=json.dumps(data),
                              capture_output=True, text=True, cwd=ROOT, timeout=120,
                              env={**os.environ, "PYTHONHASHSEED": seed}, check=True)
        outputs.append(proc.stdout)
    assert outputs[0] == outputs[1]
    here = price_chart(**data) + portfolio_chart(
        data["candle_times_ms"][::10], data["candle_close"][::10], data["window"], "USD",
        0.012)
    assert outputs[0] == here


def test_svg_is_valid_inline_and_accessible() -> None:
    data = market()
    svg = price_chart(**data)
    root = parse(svg)
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img"
    assert root.get("width") == "100%" and "max-width: 648pt" in root.get("style", "")
    assert root.get("viewBox") == "0 0 648 324"
    title = root.find(f"{SVG}title")
    assert title is not None and root.get("aria-labelledby") == title.get("id")
    n_buys = data["fill_sides"].count("buy")
    n_sells = data["fill_sides"].count("sell")
    assert title.text == (
        f"XYZ/USDT: 1-minute price in USDT (UTC), with {n_buys} unauthorized buys and "
        f"{n_sells} sells; reference price 0.012 USDT; incident window "
        "2024-05-01 11:40 UTC to 2024-05-01 12:10 UTC")
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "XYZ/USDT" in texts and "price (USDT)" in texts and "time (UTC)" in texts
    assert "reference 0.012 USDT" in texts and "12:00" in texts and "2024-05-01" in texts
    assert "<dc:date>" not in svg and "Matplotlib v" not in svg  # no date, no creator
    # Every id is unique and every reference points inside the chart.
    found = ids(svg)
    assert len(found) == len(set(found))
    assert not [i for i in found if re.fullmatch(r"[A-Za-z][\w.]*_\d+", i)], found
    refs = set(re.findall(r'url\(#([^)]+)\)', svg)) | set(re.findall(r'href="#([^"]+)"', svg))
    assert refs and refs <= set(found)


def test_two_charts_in_one_page_share_no_id() -> None:
    a = price_chart(**market())
    b = price_chart(**dict(market(seed=2), symbol="ABC/USDT"))
    c = portfolio_chart([T0, T0 + MINUTE], [1.0, 2.0], None, "USD")
    assert not set(ids(a)) & set(ids(b))
    assert not set(ids(a)) & set(ids(c))


def test_one_marker_per_fill() -> None:
    data = market(n_fills=57)
    root = parse(price_chart(**data))
    assert markers(root, "buys") == data["fill_sides"].count("buy")
    assert markers(root, "sells") == data["fill_sides"].count("sell")
    one = dict(data, fill_times_ms=data["fill_times_ms"][:1],
               fill_prices=data["fill_prices"][:1], fill_sides=["sell"])
    root = parse(price_chart(**one))
    assert (markers(root, "buys"), markers(root, "sells")) == (0, 1)


def test_no_fills_no_window_no_reference() -> None:
    data = dict(market(), fill_times_ms=[], fill_prices=[], fill_sides=[], reference=None,
                window=None)
    root = parse(price_chart(**data))
    assert (markers(root, "buys"), markers(root, "sells")) == (0, 0)
    title = root.find(f"{SVG}title")
    assert title is not None and title.text == (
        "XYZ/USDT: 1-minute price in USDT (UTC), with 0 unauthorized buys and 0 sells")
    # Nothing at all, and candles without high and low
    parse(price_chart("XYZ/USDT", [], [], [], [], [], None, None, "USDT"))
    parse(price_chart("XYZ/USDT", [T0], [1.0], [T0], [1.5], ["buy"], 1.0, (T0, T0), "USDT"))
    parse(portfolio_chart([], [], None, "USD"))


def test_10000_fills_and_5000_candles() -> None:
    data = market(n_candles=5000, n_fills=10_000)
    started = time.perf_counter()
    svg = price_chart(**data)
    took = time.perf_counter() - started
    assert took < 30, f"{took:.1f} s for 10,000 fills"  # about 0.3 s here
    root = parse(svg)
    assert markers(root, "buys") + markers(root, "sells") == 10_000
    assert "<image" not in svg  # vector, nothing rasterized


def test_thinning_keeps_every_extreme() -> None:
    rng = np.random.default_rng(3)
    times = (T0 + np.arange(5003) * MINUTE).astype(np.float64)
    values = rng.normal(size=5003)
    t, v = charts._thin_line(times, values)
    assert len(t) <= charts.MAX_POINTS and np.all(np.diff(t) > 0)
    assert v.max() == values.max() and v.min() == values.min()
    assert set(v) <= set(values)
    band_t, low, high = charts._band(times, values - 1, values + 1, MINUTE)
    assert len(band_t) <= charts.MAX_POINTS + 1
    assert low.min() == (values - 1).min() and high.max() == (values + 1).max()
    assert band_t[0] == times[0] and band_t[-1] >= times[-1] + MINUTE
    _, small_v = charts._thin_line(times[:100], values[:100])
    assert list(small_v) == list(values[:100])


def test_leaves_matplotlib_settings_as_they_were() -> None:
    import matplotlib

    before = dict(matplotlib.rcParams)
    price_chart(**market())
    portfolio_chart([T0], [1.0], None, "USD")
    assert dict(matplotlib.rcParams) == before


def test_text_is_escaped_by_matplotlib() -> None:
    data = dict(market(), symbol="A<&>\"'/B", quote="Q&<")
    root = parse(price_chart(**data))
    title = root.find(f"{SVG}title")
    assert title is not None and (title.text or "").startswith(
        "A<&>\"'/B: 1-minute price in Q&< (UTC)")
    assert "A<&>\"'/B" in [t.text for t in root.iter(f"{SVG}text")]


@pytest.mark.parametrize(("change", "message"), [
    ({"candle_close": [1.0]}, "candle_close: 1 values for 180 times"),
    ({"fill_sides": ["buy"]}, "fill_sides: 1 values for 40 times"),
    ({"high": [1.0]}, "high: 1 values for 180 times"),
])
def test_lengths_must_match(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        price_chart(**dict(market(), **change))


def test_sides_are_buy_or_sell() -> None:
    data = market(n_fills=2)
    with pytest.raises(ValueError, match="'short' is neither 'buy' nor 'sell'"):
        price_chart(**dict(data, fill_sides=["buy", "short"]))


def test_portfolio_chart() -> None:
    times = [T0 + i * MINUTE for i in range(30)]
    values = [10_000.0 - 300 * i for i in range(30)]
    svg = portfolio_chart(times, values, (times[5], times[20]), "USD(T)",
                          before_value=10_000.0)
    root = parse(svg)
    title = root.find(f"{SVG}title")
    assert title is not None and title.text == (
        "Portfolio value in USD(T) (UTC): from 10,000.00 to 1,300.00 USD(T); "
        "10,000.00 USD(T) before the incident")
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "before: 10,000.00 USD(T)" in texts and "value (USD(T))" in texts
    assert "incident window" in texts
