"""The `cx` command line: one module per command group, registered in main.py."""
