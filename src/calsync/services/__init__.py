"""The services: the one write path of each resource, used by the CLI, the API and the web UI."""
