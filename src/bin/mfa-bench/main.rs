//! mfa-bench: a load tool for Pryv-style MFA services (placeholder while it is written).
fn main() {}
