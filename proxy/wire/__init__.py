"""HTTP/1.1 on the wire: the listener clients talk to, the upstream connection pool, headers, rendered answers."""
