"""The ``autointerp`` command line (typer)."""
