"""History and fleet views over the probes' records: the SQLite store (`--db`), `query`,
`replay DB`, and Prometheus metrics (`stream --metrics`).

Imports `probes/`, never the UI; `tui/` calls in through three small entry points:
``stream_sinks`` (the stream loop), ``dashboard_sink`` (the dashboard's feed) and
``query_cli`` / ``replay_db`` (the commands).
"""
