"""The ledger on PostgreSQL: workers on several machines sharing one database."""
