"""Promotion (SPEC §9): durable evidence, the Bayesian rule, the ledger and the roll-forward."""
