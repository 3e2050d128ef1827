"""The ``ikm`` command line, one module per command group; the entry point is ``main``."""
