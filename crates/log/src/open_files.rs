//! A bound on the segment files the process keeps open.
//!
//! Every segment's `.log` is a [`LazyFile`]: opened on first use and closed again when the
//! process holds more open segment files than its [`FileBudget`] allows, least recently used
//! first. So a data directory with more partitions (or segments) than the open-file limit
//! still opens and serves: files rotate through the budget instead of exhausting descriptors.
//!
//! Closing a file never loses data: bytes written are in the page cache, and an fsync through
//! a later handle of the same file flushes them. A caller that took a handle (a fetch sending
//! the file, an fsync in progress) keeps it open until it drops it, so eviction never pulls a
//! file from under a reader; those handles are few and short-lived.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

/// Files kept open at most, whatever the open-file limit says: enough for any workload this
/// node serves, small enough that the bookkeeping stays cheap.
const MAX_BUDGET: usize = 65_536;

/// The fewest files the budget allows, even under a tiny open-file limit.
const MIN_BUDGET: usize = 16;

/// How many open segment files the process may hold, and which they are.
#[derive(Debug)]
pub struct FileBudget {
    /// The most files kept open at once; opening one more closes the least recently used.
    limit: AtomicUsize,
    /// Files open now through a [`LazyFile`].
    open: AtomicUsize,
    /// Advances at every open: a file's last use is the tick it was last used at, so eviction
    /// can find the least recently used. Uses between two opens share a tick, which keeps the
    /// hot path (a use of an open file) to a load, without a write other cores must see.
    clock: AtomicU64,
    /// Every lazily opened file that may hold an open handle.
    files: Mutex<Vec<Weak<LazyFile>>>,
}

impl FileBudget {
    /// A budget of `limit` open files.
    pub fn new(limit: usize) -> Arc<FileBudget> {
        Arc::new(FileBudget {
            limit: AtomicUsize::new(limit.max(1)),
            open: AtomicUsize::new(0),
            clock: AtomicU64::new(0),
            files: Mutex::new(Vec::new()),
        })
    }

    /// The process-wide budget: half the open-file limit at first use (the rest is for sockets
    /// and short-lived files), between 16 and 65,536.
    pub fn global() -> Arc<FileBudget> {
        static GLOBAL: OnceLock<Arc<FileBudget>> = OnceLock::new();
        GLOBAL.get_or_init(|| FileBudget::new(default_limit())).clone()
    }

    /// Changes the limit; files over it close as others open.
    pub fn set_limit(&self, limit: usize) {
        self.limit.store(limit.max(1), Ordering::Relaxed);
    }

    /// The most files kept open at once.
    pub fn limit(&self) -> usize {
        self.limit.load(Ordering::Relaxed)
    }

    /// Files open now.
    pub fn open_count(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    fn now(&self) -> u64 {
        self.clock.load(Ordering::Relaxed)
    }

    fn lock_files(&self) -> std::sync::MutexGuard<'_, Vec<Weak<LazyFile>>> {
        self.files.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts a newly opened file and, when over the limit, closes the least recently used
    /// tenth of the open ones (not `keep`), so eviction's cost is shared by many opens.
    fn opened(&self, keep: &LazyFile) {
        self.clock.fetch_add(1, Ordering::Relaxed);
        let open = self.open.fetch_add(1, Ordering::Relaxed) + 1;
        let limit = self.limit();
        if open <= limit {
            return;
        }
        let target = limit - limit / 10;
        let mut files = self.lock_files();
        files.retain(|weak| weak.strong_count() > 0);
        let mut candidates: Vec<(u64, Arc<LazyFile>)> = files
            .iter()
            .filter_map(Weak::upgrade)
            .filter(|file| !std::ptr::eq(Arc::as_ptr(file), keep) && file.is_open())
            .map(|file| (file.last_used.load(Ordering::Relaxed), file))
            .collect();
        drop(files);
        let excess = self.open_count().saturating_sub(target);
        if excess == 0 {
            return;
        }
        let excess = excess.min(candidates.len());
        if excess < candidates.len() {
            candidates.select_nth_unstable_by_key(excess, |(used, _)| *used);
        }
        for (_, file) in &candidates[..excess] {
            file.close();
        }
    }

    fn register(&self, file: &Arc<LazyFile>) {
        let mut files = self.lock_files();
        // Drop entries of files that are gone now and then, so the list stays as long as the
        // set of live files.
        if files.len() >= 64 && files.len().is_power_of_two() {
            files.retain(|weak| weak.strong_count() > 0);
        }
        files.push(Arc::downgrade(file));
    }
}

fn default_limit() -> usize {
    let soft = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
    let soft = soft.map_or(MAX_BUDGET as u64, |n| n) as usize;
    (soft / 2).clamp(MIN_BUDGET, MAX_BUDGET)
}

/// A segment file opened on first use and closed when the budget needs its descriptor.
#[derive(Debug)]
pub struct LazyFile {
    /// The file.
    path: PathBuf,
    /// The budget that counts it.
    budget: Arc<FileBudget>,
    /// The open handle, when open.
    file: Mutex<Option<Arc<File>>>,
    /// The budget's clock at the last use.
    last_used: AtomicU64,
    /// Set when the file's partition is deleted: the path may soon hold another topic's file
    /// of the same name, so it is never reopened.
    retired: std::sync::atomic::AtomicBool,
}

impl LazyFile {
    /// Wraps an already open `file` (just created or checked), counted by `budget`.
    pub fn with_open(path: &Path, file: File, budget: Arc<FileBudget>) -> io::Result<Arc<LazyFile>> {
        let lazy = Arc::new(LazyFile {
            path: path.to_path_buf(),
            last_used: AtomicU64::new(budget.now()),
            retired: std::sync::atomic::AtomicBool::new(false),
            budget,
            file: Mutex::new(Some(Arc::new(file))),
        });
        lazy.budget.register(&lazy);
        lazy.budget.opened(&lazy);
        Ok(lazy)
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Option<Arc<File>>> {
        self.file.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The open file, opening it (read and write) if the budget closed it.
    pub fn get(&self) -> io::Result<Arc<File>> {
        let now = self.budget.now();
        if self.last_used.load(Ordering::Relaxed) != now {
            self.last_used.store(now, Ordering::Relaxed);
        }
        let mut slot = self.slot();
        if let Some(file) = slot.as_ref() {
            return Ok(file.clone());
        }
        if self.retired.load(Ordering::Relaxed) {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{} belongs to a deleted partition", self.path.display()),
            ));
        }
        let file = Arc::new(OpenOptions::new().read(true).write(true).open(&self.path)?);
        *slot = Some(file.clone());
        drop(slot);
        self.budget.opened(self);
        Ok(file)
    }

    /// Whether a handle is held now.
    pub fn is_open(&self) -> bool {
        self.slot().is_some()
    }

    /// Closes the file for good: its partition is being deleted, and the path may next hold a
    /// new topic's file, which a late request of the old one must never touch.
    pub fn retire(&self) {
        self.retired.store(true, Ordering::Relaxed);
        self.close();
    }

    /// Closes the budget's handle (callers holding one keep theirs).
    pub fn close(&self) {
        if self.slot().take().is_some() {
            self.budget.open.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for LazyFile {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &Path, budget: &Arc<FileBudget>, count: usize) -> Vec<Arc<LazyFile>> {
        (0..count)
            .map(|i| {
                let path = dir.join(format!("{i}.log"));
                let file = OpenOptions::new().create(true).truncate(true).read(true).write(true).open(&path);
                LazyFile::with_open(&path, file.expect("create"), budget.clone()).expect("wrap")
            })
            .collect()
    }

    #[test]
    fn open_files_never_exceed_the_budget_and_closed_ones_reopen_with_their_data() {
        use std::os::unix::fs::FileExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let budget = FileBudget::new(10);
        let files = files(dir.path(), &budget, 100);
        assert!(budget.open_count() <= 10, "{} open", budget.open_count());
        for (i, file) in files.iter().enumerate() {
            file.get().expect("open").write_all_at(&[i as u8; 3], 0).expect("write");
            assert!(budget.open_count() <= 10, "{} open", budget.open_count());
        }
        for (i, file) in files.iter().enumerate() {
            let mut read = [0u8; 3];
            file.get().expect("reopen").read_exact_at(&mut read, 0).expect("read");
            assert_eq!(read, [i as u8; 3]);
        }
        assert!(budget.open_count() <= 10);
        drop(files);
        assert_eq!(budget.open_count(), 0);
    }

    #[test]
    fn the_least_recently_used_files_are_the_ones_closed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let budget = FileBudget::new(10);
        let files = files(dir.path(), &budget, 10);
        // Touch the first five: the other five are now the oldest.
        for file in &files[..5] {
            file.get().expect("get");
        }
        let more = self::files(dir.path(), &budget, 1);
        assert!(files[..5].iter().all(|f| f.is_open()));
        assert!(files[5..].iter().any(|f| !f.is_open()));
        assert!(more[0].is_open());
    }

    #[test]
    fn a_retired_file_is_not_reopened_even_when_its_path_holds_a_file_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        let budget = FileBudget::new(1);
        let first = files(dir.path(), &budget, 1).remove(0);
        first.retire();
        assert_eq!(budget.open_count(), 0);
        std::fs::remove_file(first.path()).expect("remove");
        std::fs::write(first.path(), b"a new topic's segment").expect("replace");
        let err = first.get().expect_err("a retired file stays closed");
        assert!(err.to_string().contains("deleted partition"), "{err}");
    }

    #[test]
    fn a_handle_taken_before_eviction_stays_usable() {
        use std::os::unix::fs::FileExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let budget = FileBudget::new(2);
        let first = files(dir.path(), &budget, 1).remove(0);
        let held = first.get().expect("get");
        let _others = files(dir.path(), &budget, 5);
        assert!(!first.is_open());
        held.write_all_at(b"still works", 0).expect("write through the held handle");
    }
}
