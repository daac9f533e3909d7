"""``python -m trainlab`` runs the command line, as the ``trainlab`` script does."""
from trainlab.pipeline.cli import main

main()
