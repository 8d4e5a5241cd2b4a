"""RPS Quest: rock-paper-scissors matches against ML bots, run as Knative functions."""

__version__ = "0.1.0"
FEATURE_CONTRACT = "rps50-v3"
