"""optserve's Python client: ``from optserve.client import Client``."""
