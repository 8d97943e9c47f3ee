"""Shared plumbing: settings, database and migrations, outbox relay, inbox consumer, ops endpoints."""
