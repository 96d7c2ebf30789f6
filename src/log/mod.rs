//! Apache/nginx access logs: zero-copy parsing and a parallel query engine.
