"""The command-line tools, one module per command, installed as `rps-<command>` scripts."""
