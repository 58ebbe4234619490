"""The exposure service: who may learn whether a key leaked, without handing it over.

k-anonymity as HasMySecretLeaked and Pwned Passwords do it: a client sends only the first
five hex characters of a value's fingerprint and gets back every leaked value in that
bucket, each as a hint (SHA-256 of the fingerprint) and a payload encrypted under the
fingerprint itself. Only a client that holds the value can find its entry and read it.

- `crypto`: hints, payloads, padding.
- `corpus`: the leaked values' fingerprints in memory, bucketed by prefix, per scheme
  (`hmsl` for ggshield's `/v1/prefixes`, `sha256` for the web page's `/v1/range`).
- `server`: the FastAPI app (`incident serve`).
- `publish`: the sha256 buckets and the page as static files (`incident publish`).
- `client`: `incident check --server`.
"""
