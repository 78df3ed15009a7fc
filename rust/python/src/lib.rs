//! Bindings (skeleton).
