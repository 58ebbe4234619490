"""Charts for reports, as SVG to inline in HTML: plain data in, a `<svg>...</svg>` str out.

    price_chart(...)      a pair's 1-minute price, the unauthorized fills, the reference
                          price and the incident window
    portfolio_chart(...)  the account's value across the window

matplotlib is imported inside the functions (the CLI starts without it) and used without
pyplot: a `Figure` of its own on an Agg canvas, so no global figure list, no GUI backend
and no `matplotlib.use()` that would change the caller's backend. Every setting is made
inside `rc_context`, so none leaks into the caller's matplotlib state.

Same data, same bytes, in any process:

- `svg.hashsalt` is fixed (per chart: derived from the chart's data), so the ids matplotlib
  gives clip paths and markers are content hashes, not salted with a random uuid; two
  different charts in one page get different ids;
- no `<dc:date>` or creator metadata (`metadata={"Date": None, "Creator": None, ...}`);
- `svg.fonttype = "none"`: text stays `<text>` (smaller, selectable, and independent of the
  glyph outlines of whatever fonts are installed); the layout is measured with DejaVu Sans,
  which matplotlib ships, so it is the same on every machine;
- a fixed figure size, and a time axis in UTC whatever the machine's time zone.

The SVG is accessible: `role="img"` and `aria-labelledby` pointing at its `<title>`, which
says what the chart shows (matplotlib writes and escapes the title).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.typing import RcKeyType

    Numbers: TypeAlias = Sequence[float] | Sequence[int] | npt.NDArray[Any]
    Floats: TypeAlias = npt.NDArray[np.float64]

WIDTH_IN, HEIGHT_IN = 9.0, 4.5  # inches; the SVG is in points (72 per inch): 648 x 324
MAX_POINTS = 2000  # candles drawn at most: past that, min and max per bucket
PNG_DPI = 110  # the PDF's charts: sharp at A4 width
MINUTE_MS = 60_000

# Colour-blind-safe (Okabe-Ito), and a buy and a sell differ by shape too.
CLOSE = "#0072B2"
BAND = "#56B4E9"
BUY = "#D55E00"
SELL = "#009E73"
REFERENCE = "#000000"
WINDOW = "#E69F00"
VALUE = "#0072B2"

_GROUP_ID = re.compile(r'<g id="[A-Za-z][\w.]*_\d+">')


def price_chart(symbol: str, candle_times_ms: Numbers, candle_close: Numbers,
                fill_times_ms: Numbers, fill_prices: Numbers, fill_sides: Sequence[str],
                reference: float | None, window: tuple[int, int] | None, quote: str, *,
                high: Numbers | None = None,
                low: Numbers | None = None, fmt: str = "svg") -> str:
    """The pair's 1-minute price with the unauthorized fills on it.

    Candles are given by their open time (epoch ms) and close; with `high` and
    `low` a light band shows each minute's range. Past MAX_POINTS candles, each
    bucket of consecutive candles is drawn as its lowest and highest close (in time order)
    and its band as the bucket's lowest low and highest high: thinner, never narrower.
    Fills are up-triangles (buys) and down-triangles (sells); `reference` (the price
    before the incident) is a dashed line; `window` (epoch ms) is shaded.
    """
    import numpy as np

    times = _floats(candle_times_ms)
    close = _floats(candle_close)
    _same_length("candle_close", close, times)
    top = bottom = None
    if high is not None and low is not None:
        top, bottom = _floats(high), _floats(low)
        _same_length("high", top, times)
        _same_length("low", bottom, times)
    order = np.argsort(times, kind="stable")  # thinning takes them in time order
    times, close = times[order], close[order]
    if top is not None and bottom is not None:
        top, bottom = top[order], bottom[order]
    fill_t = _floats(fill_times_ms)
    fill_p = _floats(fill_prices)
    sides = np.asarray(list(fill_sides), dtype=str)
    _same_length("fill_prices", fill_p, fill_t)
    _same_length("fill_sides", sides, fill_t)
    unknown = set(sides.tolist()) - {"buy", "sell"}
    if unknown:
        raise ValueError(f"fill_sides: {min(unknown)!r} is neither 'buy' nor 'sell'")
    buys, sells = sides == "buy", sides == "sell"
    n_buys, n_sells = int(buys.sum()), int(sells.sum())

    chart_id = _chart_id("price", symbol, quote, _number(reference), _span(window), times,
                         close, top, bottom, fill_t, fill_p, sides)
    title = (f"{symbol}: 1-minute price in {quote} (UTC), with {n_buys} unauthorized "
             f"{_plural(n_buys, 'buy')} and {n_sells} {_plural(n_sells, 'sell')}")
    if reference is not None:
        title += f"; reference price {reference:.6g} {quote}"
    if window is not None:
        title += f"; incident window {_utc(window[0])} to {_utc(window[1])}"

    def draw(fig: Figure, ax: Axes) -> None:
        from matplotlib import dates as mdates

        steps = np.diff(times)
        steps = steps[steps > 0]
        interval = float(np.median(steps)) if len(steps) else MINUTE_MS  # a candle's length
        if top is not None and bottom is not None and len(times):
            band_t, band_lo, band_hi = _band(times, bottom, top, interval)
            ax.fill_between(_days(band_t), band_lo, band_hi, step="post", color=BAND,
                            alpha=0.35, linewidth=0, label="1-minute high–low")
        if len(times):
            line_t, line_c = _thin_line(times + interval, close)  # a close is at the end
            ax.plot(_days(line_t), line_c, color=CLOSE, linewidth=1.0, label="close")
        for mask, marker, colour, noun, gid in ((buys, "^", BUY, "buy", "buys"),
                                                (sells, "v", SELL, "sell", "sells")):
            count = int(mask.sum())
            # One collection per side; clip_on=False: the axes limits hold every fill
            # anyway, and an unclipped marker is one SVG element, not two.
            ax.scatter(_days(fill_t[mask]), fill_p[mask], marker=marker, s=30, c=colour,
                       edgecolors="white", linewidths=0.4, zorder=3, clip_on=False,
                       gid=f"{chart_id}-{gid}",
                       label=(f"unauthorized {_plural(count, noun)} ({count})" if count
                              else "_nolegend_"))
        if window is not None:
            start, end = _days(_floats(window))
            ax.axvspan(start, end, color=WINDOW, alpha=0.15, linewidth=0,
                       label="incident window", zorder=0)
        if reference is not None:
            ax.axhline(reference, color=REFERENCE, linewidth=1.0, linestyle=(0, (5, 3)),
                       zorder=2, label="_nolegend_")
            ax.annotate(f"reference {reference:.6g} {quote}", xy=(1.0, reference),
                        xycoords=("axes fraction", "data"), xytext=(-4, 3),
                        textcoords="offset points", ha="right", va="bottom", fontsize=8,
                        color=REFERENCE)
        ax.set_title(symbol)
        ax.set_ylabel(f"price ({quote})")
        _time_axis(ax, mdates)
        ax.ticklabel_format(axis="y", style="plain", useOffset=False)
        _legend(fig, ax)

    return _render(chart_id, title, draw, fmt)


def portfolio_chart(times_ms: Numbers, values: Numbers, window: tuple[int, int] | None,
                    currency: str, before_value: float | None = None,
                    fmt: str = "svg") -> str:
    """The portfolio's value over time, as a step line (a value holds until the next),
    the incident window shaded, and a dashed line at the value before it."""
    times = _floats(times_ms)
    value = _floats(values)
    _same_length("values", value, times)
    chart_id = _chart_id("portfolio", currency, _number(before_value), _span(window), times,
                         value)
    title = f"Portfolio value in {currency} (UTC)"
    if len(value):
        title += f": from {value[0]:,.2f} to {value[-1]:,.2f} {currency}"
    if before_value is not None:
        title += f"; {before_value:,.2f} {currency} before the incident"

    def draw(fig: Figure, ax: Axes) -> None:
        from matplotlib import dates as mdates

        if window is not None:
            start, end = _days(_floats(window))
            ax.axvspan(start, end, color=WINDOW, alpha=0.15, linewidth=0,
                       label="incident window", zorder=0)
        if len(times):
            ax.step(_days(times), value, where="post", color=VALUE, linewidth=1.4,
                    label=f"value ({currency})")
        if before_value is not None:
            ax.axhline(before_value, color=REFERENCE, linewidth=1.0, linestyle=(0, (5, 3)),
                       label="_nolegend_")
            ax.annotate(f"before: {before_value:,.2f} {currency}", xy=(1.0, before_value),
                        xycoords=("axes fraction", "data"), xytext=(-4, 3),
                        textcoords="offset points", ha="right", va="bottom", fontsize=8)
        ax.set_title("Portfolio value")
        ax.set_ylabel(f"value ({currency})")
        _time_axis(ax, mdates)
        ax.ticklabel_format(axis="y", style="plain", useOffset=False)
        _legend(fig, ax)

    return _render(chart_id, title, draw, fmt)


# ---- drawing ----

def _render(chart_id: str, title: str, draw: Callable[[Figure, Axes], None],
            fmt: str = "svg") -> str:
    """Make a figure, let `draw(fig, ax)` fill it, and return its SVG for inlining; with
    fmt "png", an <img> holding it as a PNG (data: URL) instead. The PDF takes the PNG:
    WeasyPrint lays out every element of an inline SVG as it would HTML (about 1 ms per
    fill marker), where a picture costs it nothing."""
    import base64
    import io

    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rc: dict[RcKeyType, Any] = {
        "svg.hashsalt": chart_id,
        "svg.id": chart_id,
        "svg.fonttype": "none",
        "font.family": ["sans-serif"],
        "font.sans-serif": ["DejaVu Sans"],  # matplotlib ships it: the same layout anywhere
        "font.size": 9.0,
        "axes.titlesize": 11.0,
        "axes.titleweight": "bold",
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "grid.linewidth": 0.5,
        "timezone": "UTC",
        "figure.dpi": 72.0,
        "savefig.dpi": 72.0,
        "savefig.transparent": False,
        "savefig.facecolor": "white",
        "path.simplify": True,
    }
    with matplotlib.rc_context(rc):
        # Fixed margins, not a layout engine: constrained layout measured every tick label
        # again per chart, a third of the time of a claim's twenty charts.
        fig = Figure(figsize=(WIDTH_IN, HEIGHT_IN))
        fig.subplots_adjust(left=0.115, right=0.975, top=0.915, bottom=0.22)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        draw(fig, ax)
        if fmt == "png":
            png = io.BytesIO()
            fig.savefig(png, format="png", dpi=PNG_DPI, metadata={"Software": None})
            data = base64.b64encode(png.getvalue()).decode("ascii")
            return (f'<img class="chart" src="data:image/png;base64,{data}" '
                    f'alt="{html.escape(title)}" style="width: 100%; max-width: '
                    f'{WIDTH_IN * 72:g}pt">')
        if fmt != "svg":
            raise ValueError(f"no chart format {fmt!r}; known: svg, png")
        out = io.StringIO()
        fig.savefig(out, format="svg", metadata={
            "Title": title, "Date": None, "Creator": None, "Format": None, "Type": None})
    svg = out.getvalue()
    svg = svg[svg.index("<svg"):].strip()  # no XML declaration or DOCTYPE: it is inlined
    # matplotlib names its groups figure_1, axes_1, ...: the same in every chart, so two
    # charts in one page would repeat ids. Nothing refers to them; they go.
    svg = _GROUP_ID.sub("<g>", svg)
    # Its natural size at most, scaled down to a narrower column or page; the height
    # follows (aspect-ratio: WeasyPrint keeps a fixed height attribute as it is).
    width, height = f"{WIDTH_IN * 72:g}", f"{HEIGHT_IN * 72:g}"
    size = f' width="{width}pt" height="{height}pt"'
    svg = svg.replace(size, ' width="100%" style="max-width: '
                      f'{width}pt; height: auto; aspect-ratio: {width} / {height}"', 1)
    # A role and a label, for screen readers: the <title> matplotlib wrote is the label.
    svg = svg.replace("<svg ", f'<svg role="img" aria-labelledby="{chart_id}-title" ', 1)
    return svg.replace("<title>", f'<title id="{chart_id}-title">', 1)


def _time_axis(ax: Axes, mdates: Any) -> None:
    """Ticks as HH:MM in UTC; the date under the axis when it spans one day, else at each
    change of day. Call it once everything is drawn (it reads the axis' limits)."""
    first, last = (mdates.num2date(x, tz=dt.timezone.utc).date() for x in ax.get_xlim())
    locator = mdates.AutoDateLocator(tz=dt.timezone.utc, minticks=4, maxticks=9)
    formatter = mdates.ConciseDateFormatter(
        locator, tz=dt.timezone.utc, show_offset=first == last,
        formats=["%Y", "%b", "%d", "%H:%M", "%H:%M", "%H:%M:%S"],
        zero_formats=["", "%Y", "%b", "%Y-%m-%d", "%H:%M", "%H:%M"],
        offset_formats=["", "%Y", "%Y-%m", "%Y-%m-%d", "%Y-%m-%d", "%Y-%m-%d"])
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(formatter)
    ax.set_xlabel("time (UTC)")


def _legend(fig: Figure, ax: Axes) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if handles:  # below the plot: a fixed place ("best" is slow with 10,000 points)
        fig.legend(handles, labels, loc="lower center", bbox_to_anchor=(0.5, 0.0),
                   ncols=len(handles) if len(handles) <= 5 else 3,
                   frameon=False, fontsize=8)


# ---- data ----

def _floats(values: Numbers | tuple[int, int]) -> Floats:
    import numpy as np

    return np.asarray(values, dtype=np.float64).reshape(-1)


def _same_length(name: str, values: Any, times: Floats) -> None:
    if len(values) != len(times):
        raise ValueError(f"{name}: {len(values)} values for {len(times)} times")


def _days(ms: Floats) -> Floats:
    """Epoch milliseconds as matplotlib's date numbers (days since its epoch)."""
    import numpy as np
    from matplotlib import dates

    mdates: Any = dates  # no type information for matplotlib.dates
    result: Floats = np.asarray(mdates.date2num(ms.astype("datetime64[ms]")),
                                dtype=np.float64)
    return result


def _thin_line(times: Floats, values: Floats) -> tuple[Floats, Floats]:
    """At most MAX_POINTS points: past that, each bucket's lowest and highest value, in
    the order they came, so every peak and trough of the line is kept."""
    import numpy as np

    n = len(times)
    if n <= MAX_POINTS:
        return times, values
    size = -(-n // (MAX_POINTS // 2))  # candles per bucket, rounded up
    pad = (-n) % size
    lo = np.concatenate([values, np.full(pad, np.inf)]).reshape(-1, size)
    hi = np.concatenate([values, np.full(pad, -np.inf)]).reshape(-1, size)
    start = np.arange(lo.shape[0]) * size
    picks = np.sort(np.stack([start + lo.argmin(axis=1), start + hi.argmax(axis=1)],
                             axis=1), axis=1).reshape(-1)
    picks = picks[np.concatenate([[True], picks[1:] != picks[:-1]])]  # a flat bucket
    return times[picks], values[picks]


def _band(times: Floats, low: Floats, high: Floats,
          interval: float) -> tuple[Floats, Floats, Floats]:
    """The high-low band as steps: each step from a candle's (or a bucket's) open time,
    the last one closed at the end of its minute. Past MAX_POINTS candles, a bucket's
    step spans its lowest low and highest high."""
    import numpy as np

    n = len(times)
    end = times[-1] + interval
    if n > MAX_POINTS:
        size = -(-n // MAX_POINTS)
        pad = (-n) % size
        low = np.concatenate([low, np.full(pad, np.inf)]).reshape(-1, size).min(axis=1)
        high = np.concatenate([high, np.full(pad, -np.inf)]).reshape(-1, size).max(axis=1)
        times = times[::size]
    return (np.append(times, end), np.append(low, low[-1]), np.append(high, high[-1]))


def _chart_id(kind: str, name: str, *parts: Any) -> str:
    """`price-xyz-usdt-1a2b3c4d`: an id (and hash salt) that differs between charts of
    different data, so two charts' ids never collide in one page, and is the same for
    the same data."""
    import numpy as np

    digest = hashlib.sha256(f"{kind}\0{name}".encode())
    for part in parts:
        if isinstance(part, np.ndarray):
            digest.update(part.dtype.str.encode() + b"\0" + part.tobytes())
        else:
            digest.update(repr(part).encode())
        digest.update(b"\0")
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "chart"
    return f"{kind}-{slug}-{digest.hexdigest()[:8]}"


def _number(value: float | None) -> float | None:
    return None if value is None else float(value)


def _span(window: tuple[int, int] | None) -> tuple[int, int] | None:
    return None if window is None else (int(window[0]), int(window[1]))


def _utc(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).strftime(
        "%Y-%m-%d %H:%M UTC")


def _plural(count: int, noun: str) -> str:
    return noun if count == 1 else noun + "s"
