//! Fixtures and scenario helpers shared by the scenarios in `tests/`.
