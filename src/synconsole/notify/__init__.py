"""Alert delivery to the on-call engineer: ``[[notify]]`` targets through apprise, once per
transition across every process on the database (the ``notify_outbox`` table)."""
