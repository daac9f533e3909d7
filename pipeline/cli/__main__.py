"""`python -m trainlab.pipeline.cli` runs the trainlab command line (as the `trainlab` script does)."""
from . import main

main()
