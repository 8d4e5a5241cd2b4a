"""The opponent zoo and the tournament that measures every bot against it (`rps-arena`)."""
