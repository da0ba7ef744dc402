"""Garde: teleradiology on-call orchestration on Temporal."""
