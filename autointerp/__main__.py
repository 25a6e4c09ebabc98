"""``python -m autointerp`` runs the CLI."""

from autointerp.cli.main import run

run()
