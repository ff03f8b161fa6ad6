"""Coordinator storage: one SQLite database (WAL) in the data dir, shared by every subsystem.

- `db.Database`: the connection, owned by one worker thread; `await db.run(fn)` runs `fn(conn)` there.
  Each subsystem declares its tables as a `Schema` and applies it at start-up.
- `buffer.BatchWriter`: the bounded in-memory buffer that keeps disk writes off the request path,
  flushed in batches (at least every second) and drained on graceful shutdown.
"""
