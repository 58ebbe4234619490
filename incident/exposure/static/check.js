/*
 * The exposure check, in the browser, by k-anonymity.
 *
 * For each pasted value: canonical form (as incident.secret.canonical), SHA-256 of its
 * UTF-8 bytes (the digest), and only the first 5 hex characters of the digest go to the
 * service: GET v1/range/<prefix>. The answer lists every entry whose digest starts so,
 * padded with dummies. Ours, if present, has hint = SHA-256(digest) and a payload
 * encrypted with AES-256-GCM under the digest itself, so only someone holding the value
 * can read it. The value, its digest and the hint never leave this page.
 *
 * Everything the page shows is built with textContent: nothing from the service is
 * ever parsed as HTML.
 */
(function () {
  "use strict";

  var MAX_VALUES = 20;
  var TIMEOUT_MS = 15000;
  var PREFIX_LENGTH = 5;
  var QUOTES = "'\"`";
  // Exactly what Python's str.strip() removes (str.isspace()); not U+FEFF.
  var WHITESPACE = "\t\n\u000b\u000c\r\u001c\u001d\u001e\u001f \u0085\u00a0\u1680" +
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a" +
    "\u2028\u2029\u202f\u205f\u3000";
  var HEX64 = /^[0-9a-f]{64}$/;
  var EXCHANGES = {
    binance: "Binance", binanceus: "Binance.US", bitfinex: "Bitfinex", bitget: "Bitget",
    bitmex: "BitMEX", bitstamp: "Bitstamp", bybit: "Bybit", coinbase: "Coinbase",
    cryptocom: "Crypto.com", deribit: "Deribit", gate: "Gate", gemini: "Gemini",
    htx: "HTX", kraken: "Kraken", kucoin: "KuCoin", mexc: "MEXC", okx: "OKX"
  };

  // ---- canonical form, as incident.secret.canonical ----

  function stripChars(s, chars) {
    // Every character in both sets is in the BMP, so UTF-16 units are characters here.
    var start = 0;
    var end = s.length;
    while (start < end && chars.indexOf(s.charAt(start)) !== -1) { start++; }
    while (end > start && chars.indexOf(s.charAt(end - 1)) !== -1) { end--; }
    return s.slice(start, end);
  }

  function canonical(value) {
    value = String(value).normalize("NFC");
    for (;;) {
      var stripped = stripChars(stripChars(value, WHITESPACE), QUOTES);
      if (stripped === value) { return value; }
      value = stripped;
    }
  }

  function wellFormed(s) {
    if (typeof s.isWellFormed === "function") { return s.isWellFormed(); }
    return !/[\ud800-\udbff](?![\udc00-\udfff])|(^|[^\ud800-\udbff])[\udc00-\udfff]/.test(s);
  }

  // ---- bytes ----

  function toHex(bytes) {
    var out = "";
    for (var i = 0; i < bytes.length; i++) {
      out += (bytes[i] < 16 ? "0" : "") + bytes[i].toString(16);
    }
    return out;
  }

  function fromBase64(text) {
    var bin = atob(text.replace(/\s+/g, ""));
    var bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) { bytes[i] = bin.charCodeAt(i); }
    return bytes;
  }

  async function sha256(bytes) {
    return new Uint8Array(await window.crypto.subtle.digest("SHA-256", bytes));
  }

  // ---- the service ----

  function CheckError(message, stopAll) {
    this.message = message;
    this.stopAll = Boolean(stopAll);
  }

  function retryAfterSeconds(header) {
    if (!header) { return null; }
    if (/^\s*\d+\s*$/.test(header)) { return parseInt(header, 10); }
    var when = Date.parse(header);
    if (isNaN(when)) { return null; }
    return Math.max(0, Math.ceil((when - Date.now()) / 1000));
  }

  // The service's manifest.json (incident serve answers it; incident publish writes it):
  // a page opened at the wrong place would otherwise read every 404 as "not found".
  var manifest = null;

  async function loadManifest() {
    if (manifest) { return manifest; }
    var data = null;
    try {
      var response = await fetch("manifest.json", {
        method: "GET", mode: "same-origin", cache: "no-store", credentials: "omit",
        referrerPolicy: "no-referrer"
      });
      if (response.ok) { data = JSON.parse(await response.text()); }
    } catch (err) {
      data = null;
    }
    if (!data || typeof data.tool !== "string" || data.tool.indexOf("incident") !== 0 ||
        data.scheme !== "sha256" || data.prefix_length !== PREFIX_LENGTH) {
      throw new CheckError("This page is not where an exposure service is (no " +
        "manifest.json beside it): nothing was checked. Open the page at the service's " +
        "address.", true);
    }
    manifest = data;
    return manifest;
  }

  async function fetchBucket(prefix) {
    var controller = new AbortController();
    var timer = setTimeout(function () { controller.abort(); }, TIMEOUT_MS);
    var response;
    var body;
    try {
      // Relative URL: works at / under `incident serve` and under any sub-path of a
      // static export.
      response = await fetch("v1/range/" + prefix, {
        method: "GET",
        mode: "same-origin",
        cache: "no-store",
        credentials: "omit",
        referrerPolicy: "no-referrer",
        signal: controller.signal
      });
      if (response.status === 404 && !manifest.every_prefix) {
        // Static exports write only non-empty ranges: nothing leaked starts so.
        return [];
      }
      if (response.status === 429) {
        var wait = retryAfterSeconds(response.headers.get("Retry-After"));
        throw new CheckError(wait === null
          ? "Too many checks: wait a minute and try again."
          : "Too many checks: wait " + wait + " second" + (wait === 1 ? "" : "s") +
            " and try again.", true);
      }
      if (!response.ok) {
        throw new CheckError("The service could not answer (HTTP " + response.status +
          "). Try again later.", response.status >= 500);
      }
      body = await response.text();
    } catch (err) {
      if (err instanceof CheckError) { throw err; }
      throw new CheckError(controller.signal.aborted
        ? "The service did not answer in time. Try again later."
        : "Could not reach the service. Check your connection and try again.", true);
    } finally {
      clearTimeout(timer);
    }
    var data;
    try {
      data = JSON.parse(body);
    } catch (err) {
      throw new CheckError("The service's answer was not understood (not JSON).");
    }
    if (!data || typeof data !== "object" || !Array.isArray(data.matches) ||
        (data.prefix !== undefined && String(data.prefix).toLowerCase() !== prefix)) {
      throw new CheckError("The service's answer was not understood.");
    }
    if (data.scheme !== undefined && data.scheme !== "sha256") {
      throw new CheckError("The service uses a fingerprint scheme this page does not " +
        "know (" + String(data.scheme) + ").");
    }
    return data.matches;
  }

  async function decrypt(digest, payload) {
    var bytes;
    try {
      bytes = fromBase64(String(payload));
    } catch (err) {
      return null;
    }
    if (bytes.length < 12 + 16) { return null; }
    try {
      var key = await window.crypto.subtle.importKey(
        "raw", digest, { name: "AES-GCM" }, false, ["decrypt"]);
      var plain = await window.crypto.subtle.decrypt(
        { name: "AES-GCM", iv: bytes.slice(0, 12), tagLength: 128 }, key, bytes.slice(12));
      return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(plain));
    } catch (err) {
      return null;
    }
  }

  // ---- one value ----

  async function checkValue(value, buckets) {
    var digest = await sha256(new TextEncoder().encode(value));
    var hex = toHex(digest);
    var prefix = hex.slice(0, PREFIX_LENGTH);
    var hint = toHex(await sha256(digest));
    if (!buckets.has(prefix)) { buckets.set(prefix, fetchBucket(prefix)); }
    var matches = await buckets.get(prefix);
    var candidates = matches.filter(function (m) {
      return m && typeof m.hint === "string" && m.hint.toLowerCase() === hint;
    });
    if (candidates.length === 0) { return { status: "clean" }; }
    for (var i = 0; i < candidates.length; i++) {
      var record = await decrypt(digest, candidates[i].payload);
      if (record && typeof record === "object" && !Array.isArray(record)) {
        return { status: "exposed", record: record };
      }
    }
    return { status: "undecryptable" };
  }

  // ---- rendering ----

  function el(tag, text, className) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = text; }
    if (className) { node.className = className; }
    return node;
  }

  // Text with `commands` in backquotes, shown as <code>.
  function withCode(tag, text, className) {
    var node = el(tag, null, className);
    text.split("`").forEach(function (part, i) {
      if (part === "") { return; }
      node.appendChild(i % 2 ? el("code", part) : document.createTextNode(part));
    });
    return node;
  }

  function append(parent, children) {
    children.forEach(function (c) { if (c) { parent.appendChild(c); } });
    return parent;
  }

  function label(item) {
    var lines = item.lines.length === 1 ? "line " + item.lines[0]
      : "lines " + item.lines.join(", ");
    var n = item.length;
    return "Value " + item.number + " (" + lines + ", " + n + " character" +
      (n === 1 ? "" : "s") + ")";
  }

  function exchangeName(id) {
    return Object.prototype.hasOwnProperty.call(EXCHANGES, id) ? EXCHANGES[id] : id;
  }

  function whenText(value) {
    var m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})(:\d{2}(\.\d+)?)?(Z|[+-]00:?00)$/.exec(value);
    return m ? m[1] + " " + m[2] + " UTC" : value;
  }

  function strings(list) {
    return Array.isArray(list) ? list.filter(function (x) {
      return typeof x === "string" && x !== "";
    }) : [];
  }

  function safeUrl(text) {
    try {
      var url = new URL(text);
      return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
    } catch (err) {
      return null;
    }
  }

  function nextSteps(record, exchanges) {
    var where = exchanges.length
      ? exchanges.map(exchangeName).join(" or ") + "'s" : "the exchange's";
    var section = el("section", null, "next-steps");
    section.setAttribute("data-next-steps", "");
    append(section, [el("h4", "What to do now")]);
    var ol = el("ol");
    [
      "Revoke (delete) this API key now on " + where + " API-management page. " +
        "Changing your password does not disable API keys; deleting the key does.",
      "If you need a key again, create a new one restricted to your own IP addresses " +
        "(IP whitelist), with withdrawal and transfer permission turned off.",
      "Check the account for orders, trades, transfers or withdrawals you did not make, " +
        "and for API keys, withdrawal addresses or sub-accounts you did not add.",
      "Keep the evidence: do not delete order history, emails or notifications; note " +
        "the times. Tell the exchange's support if anything was done without you.",
      "On your own computer, `incident check` checks a key against a local copy of the " +
        "dumps without sending anything anywhere; register all your keys with " +
        "`incident keys add` and run `incident match` to check them together."
    ].forEach(function (text) { ol.appendChild(withCode("li", text)); });
    section.appendChild(ol);
    return section;
  }

  function renderExposed(article, item, record) {
    var count = typeof record.c === "number" && isFinite(record.c) && record.c >= 1
      ? Math.floor(record.c) : null;
    var roles = strings(record.roles);
    var exchanges = strings(record.exchanges).map(function (x) { return x.toLowerCase(); });
    article.setAttribute("data-count", count === null ? "" : String(count));
    article.setAttribute("data-roles", roles.join(" "));
    article.setAttribute("data-exchanges", exchanges.join(" "));
    append(article, [
      el("h3", label(item) + ": EXPOSED"),
      el("p", count === null ? "This value is in leaked data."
        : "This value is in leaked data: seen " + count + " time" +
          (count === 1 ? "" : "s") + ".", "verdict")
    ]);
    var facts = el("ul", null, "facts");
    if (roles.length) {
      var roleText = roles.map(function (r) {
        return r === "key" ? "as an API key" : r === "secret" ? "as a secret" : "as " + r;
      }).join(" and ");
      var li = el("li", "Found " + roleText + ".", "roles");
      facts.appendChild(li);
    }
    if (exchanges.length) {
      facts.appendChild(el("li", "Exchange: " + exchanges.map(exchangeName).join(", ") + ".",
        "exchanges"));
    }
    if (record.passphrase === true) {
      facts.appendChild(el("li", "The leaked record also holds a passphrase for this key.",
        "passphrase"));
    }
    if (roles.length === 1 && roles[0] === "key") {
      facts.appendChild(el("li", "Only the key was found here, not its secret. The secret " +
        "may have leaked with it somewhere this service does not know: act all the same."));
    }
    if (facts.childNodes.length) { article.appendChild(facts); }

    var dumps = Array.isArray(record.dumps) ? record.dumps.filter(function (d) {
      return d && typeof d === "object";
    }) : [];
    if (dumps.length) {
      article.appendChild(el("h4", "Leaks it was found in"));
      var ul = el("ul", null, "dumps");
      dumps.forEach(function (d) {
        var li = el("li", null, "dump");
        li.appendChild(el("span", typeof d.name === "string" && d.name ? d.name : "(unnamed)",
          "dump-name"));
        if (typeof d.first_seen === "string" && d.first_seen) {
          li.appendChild(document.createTextNode(", taken in by this service "));
          li.appendChild(el("time", whenText(d.first_seen), "dump-first-seen"))
            .setAttribute("datetime", d.first_seen);
        }
        if (typeof d.sha256 === "string" && HEX64.test(d.sha256.toLowerCase())) {
          li.appendChild(document.createTextNode(", file SHA-256 "));
          var code = el("code", d.sha256.toLowerCase().slice(0, 12) + "\u2026", "dump-sha256");
          code.title = d.sha256.toLowerCase();
          li.appendChild(code);
        }
        ul.appendChild(li);
      });
      var more = typeof record.more_dumps === "number" && record.more_dumps >= 1
        ? Math.floor(record.more_dumps) : 0;
      if (more) {
        ul.appendChild(el("li", "and " + more + " more leak" + (more === 1 ? "" : "s") + ".",
          "more-dumps"));
      }
      article.appendChild(ul);
    }

    var loc = record.l && typeof record.l === "object" && typeof record.l.u === "string"
      ? record.l.u : null;
    if (loc) {
      var p = el("p", "First seen at: ", "location");
      var href = safeUrl(loc);
      if (href) {
        var a = el("a", loc);
        a.href = href;
        a.rel = "noreferrer noopener";
        a.target = "_blank";
        a.referrerPolicy = "no-referrer";
        p.appendChild(a);
      } else {
        p.appendChild(el("code", loc));
      }
      article.appendChild(p);
    }
    article.appendChild(nextSteps(record, exchanges));
  }

  function renderClean(article, item) {
    append(article, [
      el("h3", label(item) + ": not found"),
      el("p", "Not found in any leak this service knows.", "verdict"),
      el("p", "Absence here is not proof: this service only knows the dumps it has " +
        "ingested. If you think the key may have leaked, revoke it and make a new one " +
        "anyway.", "note")
    ]);
  }

  function renderError(article, item, message) {
    append(article, [
      el("h3", label(item) + ": not checked"),
      withCode("p", message, "verdict")
    ]);
  }

  function render(item, outcome) {
    var article = el("article", null, "result " + outcome.status);
    article.setAttribute("data-status", outcome.status);
    article.setAttribute("data-index", String(item.number));
    if (outcome.status === "exposed") {
      renderExposed(article, item, outcome.record);
    } else if (outcome.status === "clean") {
      renderClean(article, item);
    } else {
      renderError(article, item, outcome.message);
    }
    return article;
  }

  // ---- the form ----

  function parse(text) {
    var items = [];
    var byValue = new Map();
    var rawLines = text.split(/\r\n|\r|\n/);
    var skipped = 0;
    rawLines.forEach(function (raw, i) {
      var value = canonical(raw);
      if (value === "") { return; }
      if (byValue.has(value)) {
        byValue.get(value).lines.push(i + 1);
        return;
      }
      if (items.length >= MAX_VALUES) { skipped++; return; }
      var item = { number: items.length + 1, lines: [i + 1], value: value,
                   length: Array.from(value).length };
      byValue.set(value, item);
      items.push(item);
    });
    return { items: items, skipped: skipped };
  }

  function start() {
    var form = document.getElementById("check-form");
    var textarea = document.getElementById("values");
    var checkButton = document.getElementById("check");
    var clearButton = document.getElementById("clear");
    var results = document.getElementById("results");
    var status = document.getElementById("status");
    var unsupported = document.getElementById("unsupported");
    var run = 0;

    form.addEventListener("submit", function (event) { event.preventDefault(); });

    if (!window.isSecureContext || !window.crypto || !window.crypto.subtle ||
        typeof TextEncoder === "undefined") {
      unsupported.textContent = "";
      unsupported.appendChild(withCode("span", "This browser cannot check values on " +
        "this page: hashing (Web Crypto) is only available on secure pages, over HTTPS or from " +
        "http://127.0.0.1 or http://localhost. Open the page that way, or use " +
        "`incident check` on your own computer. Nothing was sent."));
      unsupported.hidden = false;
      checkButton.disabled = true;
      document.body.setAttribute("data-ready", "unsupported");
      return;
    }

    function clear() {
      run++;
      textarea.value = "";
      results.textContent = "";
      status.textContent = "";
      results.setAttribute("aria-busy", "false");
      checkButton.disabled = false;
      document.body.setAttribute("data-state", "idle");
    }

    async function check() {
      var mine = ++run;
      var parsed = parse(textarea.value);
      results.textContent = "";
      if (parsed.items.length === 0) {
        status.textContent = "Paste a key or secret first.";
        document.body.setAttribute("data-state", "done");
        return;
      }
      checkButton.disabled = true;
      results.setAttribute("aria-busy", "true");
      document.body.setAttribute("data-state", "checking");
      status.textContent = "Checking\u2026";
      var buckets = new Map();
      var stopped = null;
      try {
        await loadManifest();
      } catch (err) {
        stopped = err instanceof CheckError ? err.message : "The check failed in this browser.";
      }
      var counts = { exposed: 0, clean: 0, error: 0 };
      for (var i = 0; i < parsed.items.length; i++) {
        var item = parsed.items[i];
        var outcome;
        if (stopped) {
          outcome = { status: "error", message: stopped };
        } else if (!wellFormed(item.value)) {
          outcome = { status: "error", message: "Not valid text (a broken character): " +
            "this value cannot be checked." };
        } else {
          try {
            outcome = await checkValue(item.value, buckets);
          } catch (err) {
            var message = err instanceof CheckError ? err.message
              : "The check failed in this browser.";
            if (err instanceof CheckError && err.stopAll) { stopped = message; }
            outcome = { status: "error", message: message };
          }
          if (outcome.status === "undecryptable") {
            outcome = { status: "error", message: "The service has an entry for this " +
              "value's hash, but it could not be decrypted. Treat the value as possibly " +
              "exposed and check it with `incident check`." };
          }
        }
        item.value = null;
        if (mine !== run) { return; }
        counts[outcome.status]++;
        results.appendChild(render(item, outcome));
      }
      var summary = "Checked " + parsed.items.length + " value" +
        (parsed.items.length === 1 ? "" : "s") + ": " + counts.exposed + " exposed, " +
        counts.clean + " not found" + (counts.error ? ", " + counts.error + " not checked" : "") +
        ".";
      if (parsed.skipped) {
        summary += " " + parsed.skipped + " more value" + (parsed.skipped === 1 ? " was" :
          "s were") + " not checked: at most " + MAX_VALUES + " at a time.";
      }
      status.textContent = summary;
      results.setAttribute("aria-busy", "false");
      checkButton.disabled = false;
      document.body.setAttribute("data-state", "done");
    }

    checkButton.addEventListener("click", function () { check(); });
    clearButton.addEventListener("click", function () { clear(); textarea.focus(); });
    textarea.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        if (!checkButton.disabled) { check(); }
      }
    });
    // Leave nothing behind for the back/forward cache or form restoration.
    window.addEventListener("pagehide", function () { textarea.value = ""; });
    document.body.setAttribute("data-ready", "yes");
  }

  // For the tests: the canonical form, to compare with Python's. Nothing else is global.
  Object.defineProperty(window, "incidentExposure", {
    value: Object.freeze({ canonical: canonical })
  });

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
