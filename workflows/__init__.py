"""Temporal workflow definitions: deterministic, no I/O, no clock but workflow.now()."""
