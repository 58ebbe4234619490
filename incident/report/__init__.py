"""Claim reports and evidence bundles: what a claim is made of, and how it is checked."""
