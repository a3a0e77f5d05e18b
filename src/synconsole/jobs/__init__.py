"""Background jobs (sync, cleanup, alerts, snapshot, reconcile) and the scheduler that hosts them.
No textual here: the console, the worker and the CLI all drive the same jobs."""
