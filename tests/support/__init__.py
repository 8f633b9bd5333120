"""Plain importable test helpers (``tests.support.*``), not fixture magic."""
