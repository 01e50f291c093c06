//! What a reload reads, and which file-system events can change it.
//!
//! The watcher reports every event the kernel has for the folder of `platform.yml` and for
//! `templates/`, the daemon's own opens and reads of them included (inotify's `IN_OPEN` and
//! `IN_CLOSE_NOWRITE`). Reloading on those would read the files again, which reports new
//! opens: a loop that re-reads the configuration ten times a second and, with a broken file
//! on disk, logs its refusal as often. So only events that can change what a reload reads
//! count: a write, a change of metadata, a create, a delete, a rename; and only on the names a
//! reload reads through: `platform.yml`, the links it resolves through inside its folder (a
//! Kubernetes ConfigMap's `..data`), and `templates/` with everything under it. A log file or
//! a data directory beside `platform.yml` reloads nothing.

use std::path::{Component, Path, PathBuf};

use notify_debouncer_mini::notify::event::{MetadataKind, ModifyKind};
use notify_debouncer_mini::notify::{Event, EventKind};

/// How many links `platform.yml` may resolve through inside its folder before the rest is
/// ignored (a loop of links stops there).
const MAX_LINKS: usize = 8;

/// The paths a reload reads: `platform.yml` (a name in its folder, perhaps a link) and the
/// `templates/` folder beside it.
#[derive(Debug, Clone)]
pub(super) struct Watched {
    file: PathBuf,
    folder: PathBuf,
    templates: PathBuf,
}

impl Watched {
    /// `file` is absolute, its links not resolved: what is watched is the name, whatever it
    /// points to.
    pub(super) fn new(file: &Path, templates: PathBuf) -> Watched {
        Watched {
            file: file.to_path_buf(),
            folder: file
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from(".")),
            templates,
        }
    }

    /// The folder of `platform.yml`, watched without its subfolders.
    pub(super) fn folder(&self) -> &Path {
        &self.folder
    }

    /// `templates/`, watched with its subfolders.
    pub(super) fn templates(&self) -> &Path {
        &self.templates
    }

    /// Whether `event` may have changed what a reload reads.
    pub(super) fn is_changed_by(&self, event: &Event) -> bool {
        // The kernel's queue overflowed: events were lost, any of them may have been a change.
        if event.need_rescan() {
            return true;
        }
        changes_what_is_read(&event.kind) && event.paths.iter().any(|p| self.concerns(p))
    }

    fn concerns(&self, path: &Path) -> bool {
        path == self.file
            || path.starts_with(&self.templates)
            || self.links().iter().any(|link| link == path)
    }

    /// The names in the folder that `platform.yml` resolves through, as they are now: for a
    /// ConfigMap (`platform.yml -> ..data/platform.yml`, `..data -> ..2026_12_01...`),
    /// `..data` and the folder it points to. Swapping `..data` is how an update is published.
    /// Read at each event (`readlink` opens nothing, so it reports no event).
    fn links(&self) -> Vec<PathBuf> {
        let mut links = Vec::new();
        let mut at = self.file.clone();
        while links.len() < MAX_LINKS {
            let Ok(target) = std::fs::read_link(&at) else {
                break;
            };
            // A link to elsewhere (absolute, or out of the folder) is not watched: SIGHUP.
            let Some(Component::Normal(first)) = target.components().next() else {
                break;
            };
            at = self.folder.join(first);
            links.push(at.clone());
        }
        links
    }
}

/// Whether an event of this kind can change a file's content, metadata or name. Reads and
/// opens (`Access`) never do; `Other` carries no change (an overflow is flagged, see
/// [`Watched::is_changed_by`]); `Any` is a backend that cannot tell, taken as a change.
fn changes_what_is_read(kind: &EventKind) -> bool {
    match kind {
        EventKind::Create(_) | EventKind::Remove(_) | EventKind::Any => true,
        EventKind::Modify(ModifyKind::Metadata(MetadataKind::AccessTime)) => false,
        EventKind::Modify(_) => true,
        EventKind::Access(_) | EventKind::Other => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify_debouncer_mini::notify::event::{
        AccessKind, AccessMode, CreateKind, DataChange, RemoveKind, RenameMode,
    };

    fn event(kind: EventKind, path: &Path) -> Event {
        Event::new(kind).add_path(path.to_path_buf())
    }

    fn watched(dir: &Path) -> Watched {
        Watched::new(&dir.join("platform.yml"), dir.join("templates"))
    }

    #[test]
    fn reading_or_opening_the_files_is_no_change() {
        let dir = tempfile::tempdir().unwrap();
        let w = watched(dir.path());
        let file = dir.path().join("platform.yml");
        let message = dir.path().join("templates/messages/sms.en.hbs");
        for kind in [
            EventKind::Access(AccessKind::Open(AccessMode::Any)),
            EventKind::Access(AccessKind::Close(AccessMode::Read)),
            EventKind::Access(AccessKind::Read),
            EventKind::Modify(ModifyKind::Metadata(MetadataKind::AccessTime)),
            EventKind::Other,
        ] {
            assert!(!w.is_changed_by(&event(kind, &file)), "{kind:?}");
            assert!(!w.is_changed_by(&event(kind, &message)), "{kind:?}");
        }
    }

    #[test]
    fn writes_metadata_creates_deletes_and_renames_of_the_files_are_changes() {
        let dir = tempfile::tempdir().unwrap();
        let w = watched(dir.path());
        for path in [
            dir.path().join("platform.yml"),
            dir.path().join("templates"),
            dir.path().join("templates/messages/sms.en.hbs"),
        ] {
            for kind in [
                EventKind::Modify(ModifyKind::Data(DataChange::Any)),
                EventKind::Modify(ModifyKind::Metadata(MetadataKind::Any)),
                EventKind::Modify(ModifyKind::Name(RenameMode::To)),
                EventKind::Create(CreateKind::File),
                EventKind::Remove(RemoveKind::Any),
            ] {
                assert!(w.is_changed_by(&event(kind, &path)), "{kind:?} {path:?}");
            }
        }
    }

    #[test]
    fn a_change_to_another_file_of_the_folder_is_no_change() {
        let dir = tempfile::tempdir().unwrap();
        let w = watched(dir.path());
        let write = EventKind::Modify(ModifyKind::Data(DataChange::Any));
        for other in [
            "mfa-bridge.log",
            "data",
            ".platform.yml.tmp-edit",
            "templates.bak",
        ] {
            assert!(!w.is_changed_by(&event(write, &dir.path().join(other))));
        }
        // A lost event may have been a change.
        let overflow = Event::new(EventKind::Other)
            .set_flag(notify_debouncer_mini::notify::event::Flag::Rescan);
        assert!(w.is_changed_by(&overflow));
    }

    #[test]
    fn swapping_the_link_platform_yml_resolves_through_is_a_change() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("..v1")).unwrap();
        std::fs::write(d.join("..v1/platform.yml"), "").unwrap();
        std::os::unix::fs::symlink("..v1", d.join("..data")).unwrap();
        std::os::unix::fs::symlink("..data/platform.yml", d.join("platform.yml")).unwrap();
        let w = watched(d);
        let rename = EventKind::Modify(ModifyKind::Name(RenameMode::Both));
        let swap = Event::new(rename)
            .add_path(d.join("..data_tmp"))
            .add_path(d.join("..data"));
        assert!(w.is_changed_by(&swap));
        assert!(!w.is_changed_by(&event(rename, &d.join("..unrelated"))));
    }
}
