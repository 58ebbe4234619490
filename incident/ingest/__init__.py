"""Ingesting leak dumps, keeping only fingerprints: sources/ (files, URLs, Twitter),
archives.py, formats/ (one class per way dumps are written), extract.py (pairing keys with
their secrets), shapes.py (exchange key shapes), fastpath.py (large CSVs), pipeline.py (one
dump per source, one transaction), dumps.py (list, show, remove). interface.py holds the
contract between the parts."""
