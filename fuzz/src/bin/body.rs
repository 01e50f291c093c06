//! The `body` target under AFL++ (FUZZING.md): `mfa_bridge_fuzz::body::Target::run` on every
//! input.

use std::panic::AssertUnwindSafe;

fn main() {
    // A panic is what AFL++ records as a crash: the target is not reused after one.
    let target = &AssertUnwindSafe(mfa_bridge_fuzz::body::Target::new());
    afl::fuzz!(|data: &[u8]| target.run(data));
}
