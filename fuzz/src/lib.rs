//! The fuzz targets of mfa-bridge (FUZZING.md). Each is a small function of the library's real
//! entry points over arbitrary bytes; none may panic, whatever the input. Under AFL++ each runs
//! from its binary in `src/bin/`; without it, `tests/replay.rs` runs them over the corpora.

pub mod body;
pub mod config;
pub mod input;
pub mod server;
pub mod template;
pub mod token;

/// Every target by name, as scripts/fuzz and the corpus folders name them.
pub const TARGETS: [&str; 4] = ["template", "config", "token", "body"];

/// A target, set up, as a function of its input.
pub type Run = Box<dyn Fn(&[u8])>;

/// The target `name`, set up once, as a function of its input (the replay test).
pub fn target(name: &str) -> Option<Run> {
    Some(match name {
        "template" => {
            let t = template::Target::new();
            Box::new(move |d| t.run(d))
        }
        "config" => {
            let t = config::Target::new();
            Box::new(move |d| t.run(d))
        }
        "token" => {
            let server = server::Server::new();
            Box::new(move |d| token::run(&server, d))
        }
        "body" => {
            let server = server::Server::new();
            Box::new(move |d| body::run(&server, d))
        }
        _ => return None,
    })
}
