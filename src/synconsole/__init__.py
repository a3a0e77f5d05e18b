"""synconsole: keep appointment syncs to Cal.com healthy."""

__version__ = "0.1.0"
