//! Tests for the session module.
