//! Renderers for diagnostics.
