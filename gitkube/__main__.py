"""``python -m gitkube`` runs the command line."""

from gitkube.cli import main

main()
