//! Hot reload: watch the pin table and the zones directory, wait for the
//! files to settle, build a new snapshot aside, and publish it in one swap.
//!
//! ```text
//!   notify events (parent directories) ─┐
//!   SIGHUP ─────────────────────────────┼─▶ debounce (quiet window) ─▶ build ─▶ validate ─▶ publish
//!                                       │                                  └─ error: keep old, log, count
//! ```
//!
//! Directories are watched rather than files, so that saves by rename,
//! delete-and-recreate and Kubernetes ConfigMap symlink swaps (`..data`)
//! are all seen: a watch on a file follows its inode, which a rename
//! replaces.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use notify::{RecursiveMode, Watcher};

use crate::diagnostics::Diagnostic;
use crate::live::Live;
use crate::snapshot::{RereadError, Snapshot};

/// What wakes the reloader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// Watched files changed (the paths the events named).
    FileEvent(Vec<PathBuf>),
    /// Watched files were written to in place: each stays unfinished
    /// until its writer closes it.
    Writing(Vec<PathBuf>),
    /// A writer closed watched files it had open for writing.
    Written(Vec<PathBuf>),
    /// An operator asked (SIGHUP).
    Forced,
    /// The server is stopping.
    Stop,
}

impl Trigger {
    /// The paths a file event names; `None` for the others.
    fn paths(&self) -> Option<&[PathBuf]> {
        match self {
            Self::FileEvent(paths) | Self::Writing(paths) | Self::Written(paths) => Some(paths),
            Self::Forced | Self::Stop => None,
        }
    }
}

/// Longest a burst of changes is collected before a reload: events that
/// keep coming (a file appended to without pause) do not hold back the
/// other files' changes for longer.
const MAX_BURST: Duration = Duration::from_secs(5);

/// How long a file written in place and never seen closed keeps reloads
/// from reading it. A truncate-then-write save that pauses mid-file (a
/// slow generator, a network copy) would otherwise be read half-written,
/// and a half-written entry can be valid TOML that means something else:
/// an entry cut before its `ips` line is a domain routed to every PoP.
/// The close is an event of its own, which starts the reload; this limit
/// only keeps a lost event from blocking reloads for ever.
const MAX_OPEN_FOR_WRITING: Duration = Duration::from_secs(60);

/// The outcome of one reload attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A new snapshot was published with this generation.
    Published(u64),
    /// The files were not ready (a zero-byte or missing pin file); the old
    /// snapshot keeps serving and the next reload retries this one's files.
    Deferred(String),
    /// The files are bad; the old snapshot keeps serving.
    Rejected(Vec<Diagnostic>),
}

/// A running reloader: its thread, its watcher and a way to poke it.
pub struct Reloader {
    /// Sends triggers to the reload thread.
    trigger: Sender<Trigger>,
    /// The reload thread; it owns the file watcher.
    thread: Option<JoinHandle<()>>,
}

impl Reloader {
    /// Starts watching the snapshot's pin table and zones directory.
    pub fn start(live: Arc<Live>, debounce: Duration) -> Self {
        let (trigger, triggers) = mpsc::channel();
        let snapshot = live.snapshot_arc();
        let mut watcher = watch(&snapshot, trigger.clone());
        let directories = watched_directories(&snapshot);
        let thread = std::thread::Builder::new()
            .name("reload".to_owned())
            .spawn(move || {
                lower_priority();
                run(&live, &triggers, debounce, |trigger: &Trigger| {
                    // A directory deleted and made again is a new inode
                    // that the old watch does not see: watch it afresh.
                    if let (Some(watcher), Some(paths)) = (watcher.as_mut(), trigger.paths()) {
                        for directory in directories.iter().filter(|directory| paths.contains(directory)) {
                            let _ = watcher.unwatch(directory);
                            if let Err(error) = watcher.watch(directory, RecursiveMode::NonRecursive) {
                                tracing::warn!(directory = %directory.display(), %error, "cannot watch directory");
                            }
                        }
                    }
                });
            })
            .map_err(|error| tracing::error!(%error, "cannot start the reload thread"))
            .ok();
        Self { trigger, thread }
    }

    /// A handle that forces reloads (for SIGHUP).
    pub fn trigger(&self) -> Sender<Trigger> {
        self.trigger.clone()
    }

    /// Stops the reload thread.
    pub fn stop(mut self) {
        let _ = self.trigger.send(Trigger::Stop);
        // Wait a moment for a reload in progress, but never let one stuck
        // on a file keep the server from stopping.
        if let Some(thread) = self.thread.take() {
            let deadline = Instant::now() + Duration::from_secs(2);
            while !thread.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if thread.is_finished() {
                let _ = thread.join();
            }
        }
    }
}

/// A duration in milliseconds, to 0.01 ms, for the log.
fn milliseconds(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 100_000.0).round() / 100.0
}

/// CPU time the calling thread has used.
fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid timespec for the call to fill.
    let result = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &raw mut now) };
    if result != 0 {
        return Duration::ZERO;
    }
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// Puts the calling thread in the idle scheduling class (`SCHED_IDLE`),
/// so that building a snapshot never delays an answer: a query worker
/// that wakes takes the CPU from it at once, where a merely niced thread
/// would finish its time slice first (milliseconds of added latency).
/// The threads it starts to parse shards inherit it. Under a load that
/// keeps every core busy, a reload waits for the load to ease; the last
/// good snapshot serves meanwhile. Falls back to nice 10 if refused.
fn lower_priority() {
    // SAFETY: sched_setscheduler and setpriority on our own thread id
    // (pid 0 = the calling thread) only change this thread's scheduling.
    let result = unsafe {
        let parameters = libc::sched_param { sched_priority: 0 };
        if libc::sched_setscheduler(0, libc::SCHED_IDLE, &raw const parameters) == 0 {
            0
        } else {
            let thread = libc::gettid();
            libc::setpriority(libc::PRIO_PROCESS, thread as libc::id_t, 10)
        }
    };
    if result != 0 {
        tracing::debug!(error = %std::io::Error::last_os_error(), "cannot lower the reload thread's priority");
    }
}

/// Drops the snapshot a reload replaced, here on the reload thread: a
/// query worker that still holds it would otherwise free it after its
/// batch, and freeing a large table there would delay answers. Waits a
/// little for the workers' last batches on it to end.
fn retire(old: Arc<Snapshot>) {
    let deadline = Instant::now() + Duration::from_secs(1);
    while Arc::strong_count(&old) > 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    drop(old);
    release_free_memory();
}

/// Hands the memory freed by a load or reload back to the system. Reading
/// a table holds its parsed entries beside it, and a rebuild from scratch
/// briefly holds two tables; without this, the allocator keeps the peak as
/// resident memory for the life of the process.
pub(crate) fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory of glibc's own arenas.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Sets up directory watches; a failure leaves reload to SIGHUP alone.
fn watch(snapshot: &Snapshot, trigger: Sender<Trigger>) -> Option<notify::RecommendedWatcher> {
    let relevant = RelevantPaths::new(snapshot);
    let handler = move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event {
            use notify::EventKind;
            use notify::event::{AccessKind, AccessMode, ModifyKind};
            let make: fn(Vec<PathBuf>) -> Trigger = match event.kind {
                EventKind::Access(AccessKind::Close(AccessMode::Write)) => Trigger::Written,
                // Opening and reading a file changes nothing; reacting to
                // it would make every reload trigger the next.
                EventKind::Access(_) => return,
                EventKind::Modify(ModifyKind::Data(_)) => Trigger::Writing,
                _ => Trigger::FileEvent,
            };
            let paths: Vec<PathBuf> = event
                .paths
                .into_iter()
                .filter(|path| relevant.matches(path))
                .collect();
            if !paths.is_empty() {
                let _ = trigger.send(make(paths));
            }
        }
    };
    let mut watcher = match notify::recommended_watcher(handler) {
        Ok(watcher) => watcher,
        Err(error) => {
            tracing::error!(%error, "cannot start the file watcher; reload with SIGHUP");
            return None;
        }
    };
    for directory in watched_directories(snapshot) {
        if let Err(error) = watcher.watch(&directory, RecursiveMode::NonRecursive) {
            tracing::error!(directory = %directory.display(), %error, "cannot watch directory");
        }
    }
    Some(watcher)
}

/// The directories whose entries decide the snapshot: the zones directory
/// and its parent (to see it replaced), the pin table's parent, and the
/// pin directory itself when sharded.
fn watched_directories(snapshot: &Snapshot) -> Vec<PathBuf> {
    let pins = &snapshot.config.pins;
    let zones = &snapshot.config.zones_dir;
    let mut directories = vec![zones.clone()];
    if let Some(parent) = zones.parent() {
        directories.push(non_empty(parent));
    }
    if let Some(parent) = pins.parent() {
        directories.push(non_empty(parent));
    }
    if snapshot.config.pins_sharded {
        directories.push(pins.clone());
    }
    directories.sort();
    directories.dedup();
    directories
}

/// `.` for an empty relative parent.
fn non_empty(path: &Path) -> PathBuf {
    if path.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        path.to_path_buf()
    }
}

/// Which event paths can change the snapshot.
struct RelevantPaths {
    /// Directories whose replacement matters: the zones directory, and the
    /// pin directory when sharded.
    directories: Vec<PathBuf>,
    /// File name of the pin table (file or directory).
    pins_name: Option<std::ffi::OsString>,
    /// The pin directory, when sharded.
    pins_dir: Option<PathBuf>,
}

impl RelevantPaths {
    /// The filter for a snapshot's files.
    fn new(snapshot: &Snapshot) -> Self {
        let pins = &snapshot.config.pins;
        let mut directories = vec![snapshot.config.zones_dir.clone()];
        if snapshot.config.pins_sharded {
            directories.push(pins.clone());
        }
        Self {
            directories,
            pins_name: pins.file_name().map(std::ffi::OsStr::to_os_string),
            pins_dir: snapshot.config.pins_sharded.then(|| pins.clone()),
        }
    }

    /// Whether an event on `path` may matter: the pin table, a shard, a
    /// zone file, or a ConfigMap `..data`-style link swap. Editor swap and
    /// backup files are ignored.
    fn matches(&self, path: &Path) -> bool {
        let Some(name) = path.file_name() else {
            return false;
        };
        if Some(name) == self.pins_name.as_deref()
            || self.directories.iter().any(|directory| directory == path)
        {
            return true;
        }
        let text = name.to_string_lossy();
        if text.starts_with("..") {
            return true;
        }
        let in_pin_dir = self
            .pins_dir
            .as_ref()
            .is_some_and(|dir| path.parent() == Some(dir.as_path()));
        (in_pin_dir && crate::diagnostics::is_data_file(path, "toml"))
            || crate::diagnostics::is_data_file(path, "zone")
    }
}

/// What a debounced burst of triggers asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Only these pin shard files changed: read just them again.
    Shards(Vec<PathBuf>),
    /// Read everything again (zones changed, the pin file itself, a link
    /// swap, or an operator asked).
    Full,
}

impl Scope {
    /// Both scopes' files: a full reload if either is one.
    fn merged(self, other: Self) -> Self {
        match (self, other) {
            (Self::Shards(mut files), Self::Shards(more)) => {
                for file in more {
                    if !files.contains(&file) {
                        files.push(file);
                    }
                }
                Self::Shards(files)
            }
            _ => Self::Full,
        }
    }

    /// Widens the scope by one trigger.
    fn add(&mut self, trigger: &Trigger, pin_dir: Option<&Path>) {
        let Self::Shards(files) = self else {
            return;
        };
        let Some(paths) = trigger.paths() else {
            *self = Self::Full;
            return;
        };
        for path in paths {
            if !is_shard(path, pin_dir) {
                *self = Self::Full;
                return;
            }
            if !files.contains(path) {
                files.push(path.clone());
            }
        }
    }
}

/// Whether `path` is a shard of the pin directory `pin_dir` (`None` when
/// the pin table is one file).
fn is_shard(path: &Path, pin_dir: Option<&Path>) -> bool {
    pin_dir.is_some_and(|dir| path.parent() == Some(dir))
        && crate::diagnostics::is_data_file(path, "toml")
}

/// The reload loop: debounce triggers, then reload. `on_trigger` sees
/// every trigger first (to renew watches).
fn run(
    live: &Live,
    triggers: &Receiver<Trigger>,
    debounce: Duration,
    mut on_trigger: impl FnMut(&Trigger),
) {
    // Files written in place whose writer has not closed them yet, with
    // when the first write was seen, and the changes a reload put off
    // because of them: both kept from one burst to the next.
    let mut writing: Vec<OpenWriter> = Vec::new();
    let mut put_off: Option<Scope> = None;
    loop {
        // With a file open for writing, wake up when it would go stale
        // even if no event comes (its close may never be seen).
        let first = match writing.iter().map(|writer| writer.since).min() {
            None => triggers.recv().ok(),
            Some(oldest) => {
                let stale_in = MAX_OPEN_FOR_WRITING.saturating_sub(oldest.elapsed());
                match triggers.recv_timeout(stale_in + Duration::from_millis(10)) {
                    Ok(trigger) => Some(trigger),
                    Err(RecvTimeoutError::Timeout) => Some(Trigger::Written(Vec::new())),
                    Err(RecvTimeoutError::Disconnected) => None,
                }
            }
        };
        let Some(first) = first else {
            return;
        };
        if first == Trigger::Stop {
            return;
        }
        on_trigger(&first);
        let config = live.snapshot().config.clone();
        let pin_dir = config.pins_sharded.then_some(config.pins.as_path());
        let mut scope = put_off.take().unwrap_or(Scope::Shards(Vec::new()));
        scope.add(&first, pin_dir);
        track_writers(&first, &mut writing);
        let started = Instant::now();
        // Wait for a quiet window so that a file written in several steps
        // is read once, complete, and for the files written in place to be
        // closed by their writers. An operator's SIGHUP does not wait.
        let mut waiting = first != Trigger::Forced;
        while waiting {
            let left = MAX_BURST.saturating_sub(started.elapsed());
            if left.is_zero() {
                break;
            }
            match triggers.recv_timeout(debounce.min(left)) {
                Ok(Trigger::Stop) | Err(RecvTimeoutError::Disconnected) => return,
                Ok(Trigger::Forced) => {
                    scope = Scope::Full;
                    break;
                }
                Ok(trigger) => {
                    on_trigger(&trigger);
                    track_writers(&trigger, &mut writing);
                    scope.add(&trigger, pin_dir);
                }
                Err(RecvTimeoutError::Timeout) => waiting = !writing.is_empty(),
            }
        }
        writing.retain(|writer| {
            let stale = writer.since.elapsed() > MAX_OPEN_FOR_WRITING;
            if stale {
                tracing::warn!(
                    file = %writer.path.display(),
                    "no close seen {} s after the first write; read as it is",
                    MAX_OPEN_FOR_WRITING.as_secs()
                );
            }
            !stale && writer.still_there()
        });
        if writing.is_empty() {
            // (A wake-up to age the open files out, with nothing else to
            // read, reads nothing.)
            if scope != Scope::Shards(Vec::new()) {
                put_off = reload_carrying(live, scope, &[]);
            }
            continue;
        }
        let open: Vec<PathBuf> = writing.iter().map(|writer| writer.path.clone()).collect();
        tracing::warn!(
            files = ?open,
            "open for writing: not read until closed; the last good snapshot keeps serving"
        );
        // The shards not open for writing are read now; the rest wait for
        // their close, which starts the next reload.
        let (failed, later) = match scope {
            Scope::Shards(files) => {
                let (later, now): (Vec<PathBuf>, Vec<PathBuf>) =
                    files.into_iter().partition(|file| open.contains(file));
                let failed = if now.is_empty() {
                    None
                } else {
                    let now = Scope::Shards(now);
                    reload_carrying(live, now, &[])
                };
                (failed, Scope::Shards(later))
            }
            // A full reload need not wait for pin shards: their last good
            // contents keep serving meanwhile, as an empty shard's do, and
            // they are read at their close. A zone or a one-file pin table
            // open for writing it waits for.
            Scope::Full if open.iter().all(|path| is_shard(path, pin_dir)) => (
                reload_carrying(live, Scope::Full, &open),
                Scope::Shards(open),
            ),
            Scope::Full => (None, Scope::Full),
        };
        put_off = Some(match failed {
            Some(failed) => failed.merged(later),
            None => later,
        });
    }
}

/// Reloads `scope` and returns what the next reload (started by whatever
/// event comes next, often the one file that was not ready or not good)
/// must read again: the whole scope when it was put off, and a full
/// reload when a full one was rejected (a zone change must still be
/// applied once the files are good).
///
/// Each pin shard is a unit of its own: when some shards of a burst are
/// rejected, the others are read again without them and go ahead (a
/// change that removes a PoP from one file is not held back by a typo in
/// another), and the rejected ones are read once more against what the
/// others now hold, then stay due, so that they are read with the next
/// event even if their fix is a change to another file (e.g. the other
/// side of a duplicate).
fn reload_carrying(live: &Live, scope: Scope, held: &[PathBuf]) -> Option<Scope> {
    let outcome = reload(live, &scope, held);
    match (outcome, scope) {
        (Outcome::Published(_), _) => None,
        (Outcome::Deferred(_), scope) => Some(scope),
        (Outcome::Rejected(_), Scope::Full) => Some(Scope::Full),
        (Outcome::Rejected(errors), Scope::Shards(files)) => {
            let (rejected, others): (Vec<PathBuf>, Vec<PathBuf>) = files
                .into_iter()
                .partition(|file| errors.iter().any(|error| error.file == *file));
            if rejected.is_empty() || others.is_empty() {
                // Nothing to tell apart: all of it stays due.
                return Some(Scope::Shards(rejected.into_iter().chain(others).collect()));
            }
            tracing::info!(
                rejected = ?rejected,
                files = ?others,
                "reading the other changed shards without the rejected ones"
            );
            let rejected = Scope::Shards(rejected);
            match reload_carrying(live, Scope::Shards(others), &[]) {
                Some(still_due) => Some(rejected.merged(still_due)),
                // The rejected shards were checked against the others'
                // old contents (a name moved from one file to another in
                // one burst clashes with its old place when the new one
                // is read first): once those are served, they are read
                // once more.
                None => match reload(live, &rejected, &[]) {
                    Outcome::Published(_) => None,
                    _ => Some(rejected),
                },
            }
        }
    }
}

/// A file written in place whose writer has not closed it.
struct OpenWriter {
    /// Its path.
    path: PathBuf,
    /// When its first write was seen.
    since: Instant,
    /// Its inode then: once the path is gone or names another file (the
    /// open one renamed away or replaced by a rename), the write no longer
    /// concerns it.
    inode: Option<u64>,
}

impl OpenWriter {
    /// Whether the path still names the file being written.
    fn still_there(&self) -> bool {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(&self.path).is_ok_and(|metadata| Some(metadata.ino()) == self.inode)
    }
}

/// Keeps the list of files written in place and not yet closed.
fn track_writers(trigger: &Trigger, open: &mut Vec<OpenWriter>) {
    match trigger {
        Trigger::Writing(paths) => {
            for path in paths {
                if !open.iter().any(|writer| &writer.path == path) {
                    use std::os::unix::fs::MetadataExt;
                    open.push(OpenWriter {
                        path: path.clone(),
                        since: Instant::now(),
                        inode: std::fs::metadata(path).ok().map(|metadata| metadata.ino()),
                    });
                }
            }
        }
        Trigger::Written(paths) => open.retain(|writer| !paths.contains(&writer.path)),
        Trigger::FileEvent(paths) => {
            open.retain(|writer| !paths.contains(&writer.path) || writer.still_there());
        }
        Trigger::Forced | Trigger::Stop => {}
    }
}

/// Builds, validates and publishes a new snapshot; logs what happened.
/// `held` are pin shards open for writing, which a full reload leaves at
/// their last good contents.
pub fn reload(live: &Live, scope: &Scope, held: &[PathBuf]) -> Outcome {
    let started = Instant::now();
    let cpu_started = thread_cpu_time();
    let current = live.snapshot_arc();
    if let Some(reason) = unfinished_pin_write(&current.config, scope) {
        tracing::warn!(reason = %reason, "pin table not ready; the last good table keeps serving");
        return Outcome::Deferred(reason);
    }
    let generation = current.generation + 1;
    let built = match scope {
        Scope::Shards(files) => current
            .with_shards_reread(files, &current.zones, generation)
            .map(|(loaded, diff)| (loaded, Some(diff)))
            .map_err(RereadError::Invalid),
        Scope::Full => current.reread(generation, held),
    };
    let built = built.map(|(mut loaded, diff)| {
        loaded.snapshot.failed_reloads = current.failed_reloads;
        (loaded, diff)
    });
    match built {
        Ok((loaded, diff)) => {
            let pin_files_compiled = loaded.pin_files_compiled;
            let next = loaded.snapshot;
            for warning in &loaded.warnings {
                tracing::warn!("{warning}");
            }
            let (domains, zones) = (next.pins.len(), next.zones.len());
            let next = Arc::new(next);
            live.publish_arc(next.clone());
            let build_ms = milliseconds(started.elapsed());
            // CPU time of this thread alone: in the idle scheduling class,
            // on a busy machine the wall time above can be many times the
            // work done.
            let build_cpu_ms = milliseconds(thread_cpu_time() - cpu_started);
            // The diff of a full reload walks both tables: done after the
            // swap, so that it never delays the new answers.
            let diff = diff.unwrap_or_else(|| next.pins.diff(&current.pins));
            let zone_changes = if Arc::ptr_eq(&next.zones, &current.zones) {
                "none".to_owned()
            } else {
                let changes = next.zones.diff(&current.zones);
                if changes.is_empty() {
                    "none".to_owned()
                } else {
                    changes.join(" ")
                }
            };
            tracing::info!(
                generation,
                domains,
                zones,
                scope = if matches!(scope, Scope::Full) { "full" } else { "shards" },
                changes = %diff.summary(),
                zone_changes = %zone_changes,
                pin_files_compiled,
                build_ms,
                build_cpu_ms,
                "published new snapshot"
            );
            drop(next);
            retire(current);
            Outcome::Published(generation)
        }
        Err(RereadError::NotReady(reason)) => {
            tracing::warn!(reason = %reason, "pin table not ready; the last good table keeps serving");
            Outcome::Deferred(reason)
        }
        Err(RereadError::Invalid(errors)) => {
            let failed = current.with_failed_reload();
            let failures = failed.failed_reloads;
            live.publish(failed);
            for error in &errors {
                tracing::error!("{error}");
            }
            tracing::error!(
                errors = errors.len(),
                failed_reloads = failures,
                serving_generation = current.generation,
                "reload rejected; the last good snapshot keeps serving"
            );
            // The rejected build's memory is free now.
            release_free_memory();
            Outcome::Rejected(errors)
        }
    }
}

/// Why the pin table cannot be read yet, if so: a zero-byte file is a
/// write in progress, and a missing pin file (not a shard: removing a
/// shard removes its names) may be mid-rename or mid-swap. Anything else
/// wrong with the files is for the loader to reject, and to count.
fn unfinished_pin_write(config: &crate::config::Config, scope: &Scope) -> Option<String> {
    let files = match scope {
        Scope::Shards(files) => files.clone(),
        // A full reload of a pin directory keeps an empty shard's last
        // good contents (see Snapshot::reread) instead of waiting for it:
        // a shard left empty must not hold back a zone edit.
        Scope::Full if config.pins_sharded => Vec::new(),
        Scope::Full => config.pin_source().files().unwrap_or_default(),
    };
    files.iter().find_map(|file| match std::fs::metadata(file) {
        Ok(_) if crate::pins::is_unfinished_write(file) => Some(format!(
            "{} is empty (a write in progress?)",
            file.display()
        )),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound && !config.pins_sharded => {
            Some(format!(
                "{} is missing (a rename or swap in progress?)",
                file.display()
            ))
        }
        _ => None,
    })
}
