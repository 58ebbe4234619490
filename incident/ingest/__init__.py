"""Ingesting leak dumps: sources, formats, credential shapes, the pipeline that keeps only
fingerprints. So far: the table of exchange key shapes (shapes.py)."""
