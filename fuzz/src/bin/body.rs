//! The `body` target under AFL++ (FUZZING.md): `mfa_bridge_fuzz::body::run` on every input.

use std::panic::AssertUnwindSafe;

use mfa_bridge_fuzz::server::Server;

fn main() {
    // A panic is what AFL++ records as a crash: the server is not reused after one.
    let server = &AssertUnwindSafe(Server::new());
    afl::fuzz!(|data: &[u8]| mfa_bridge_fuzz::body::run(server, data));
}
