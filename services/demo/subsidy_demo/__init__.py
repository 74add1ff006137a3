"""`make demo`: the whole system on embedded PostgreSQL and OpenBao, with a realistic program."""
