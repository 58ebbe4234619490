"""Playbooks: YAML files naming registered steps, run by a resumable, audited runner."""
