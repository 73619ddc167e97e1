"""Engine, unit of work and migrations. Differences between PostgreSQL and SQLite stay here."""
