"""Cal.com API v2: typed errors, the HTTP client and a faithful simulator (no textual here)."""
