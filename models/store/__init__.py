"""The database: tables, column types, engines and sessions, migrations and the clock lease."""
