//! Terminal styling.
