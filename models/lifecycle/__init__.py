"""The life of directives and assignments: launching, updates, extensions, status, the ladder and the outbox plan."""
