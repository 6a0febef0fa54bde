"""Simulated customers with hidden goals who talk to the real bot; success is judged by the database state."""
