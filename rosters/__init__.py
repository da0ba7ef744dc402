"""The roster domain: shifts, who is on duty, eligibility and ranking of experts."""
