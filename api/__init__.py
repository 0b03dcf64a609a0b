"""The optserve front end: the command line (and, with the service, the HTTP API)."""
