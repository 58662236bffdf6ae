//! The user-facing error type.
