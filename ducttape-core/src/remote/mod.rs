//! Driving nodes over SSH (being written).
