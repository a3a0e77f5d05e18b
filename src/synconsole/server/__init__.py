"""The HTTP face (``synconsole serve``): Cal.com webhooks, Prometheus metrics, the ingest API and
the pre-booking check, over the core. Thin: every rule it applies lives in the core."""

from synconsole.server.app import create_app

__all__ = ["create_app"]
