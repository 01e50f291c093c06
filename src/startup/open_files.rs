//! The process's open-files limit: every connection is a file descriptor, and so is every
//! file of the store, so the daemon raises its soft limit towards the hard one at start.

/// How high the soft limit is raised at most (Linux's default `nr_open`).
const WANTED: u64 = 1 << 20;

/// Raises the soft open-files limit towards the hard limit where the system lets it, and logs
/// what it got; warns when the listeners' connection caps do not fit under it.
pub fn raise_open_files_limit(connection_caps: usize) {
    let before = rlimit::getrlimit(rlimit::Resource::NOFILE).ok();
    match rlimit::increase_nofile_limit(WANTED) {
        Ok(soft) => {
            let hard = before.map(|(_, hard)| hard);
            match before {
                Some((old, _)) if old < soft => {
                    tracing::info!(from = old, to = soft, hard, "open-files limit raised");
                }
                _ => tracing::info!(limit = soft, hard, "open-files limit"),
            }
            // Room for the store's files, the outbound connections and the listeners.
            let needed = connection_caps as u64 + 256;
            if soft < needed {
                tracing::warn!(
                    limit = soft,
                    connection_caps,
                    "the open-files limit is below the connection caps (server.max_connections \
                     per listener): beyond it, accepting connections fails until some close"
                );
            }
        }
        Err(e) => tracing::warn!(error = %e, "the open-files limit could not be raised"),
    }
}
