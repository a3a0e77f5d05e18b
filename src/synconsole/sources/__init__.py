"""Live sources: the booking platform's own database, read continuously by watermark.

``sql.py`` reads a source (MySQL/MariaDB through PyMySQL, PostgreSQL through psycopg) and turns
its rows into the import format; ``poll.py`` polls one source under a lease and writes each page
through the importer (``core.importer.import_rows``) and ``core.changes``, with the watermark, in one
transaction of synconsole's database. The ``ingest`` job (``jobs/host.py``) polls the sources that
are due.
"""
