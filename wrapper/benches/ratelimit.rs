//! Rate-limit benchmark (placeholder, filled in below).
fn main() {}
