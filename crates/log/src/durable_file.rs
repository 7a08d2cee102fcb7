//! Crash-safe whole-file rewrites: temp file -> fsync -> rename -> fsync(dir).
//!
//! After a crash the path holds either the old content or the new, never a mix.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

/// Replaces the file at `path` with `content` atomically and durably.
pub fn write_atomically(path: &Path, content: &[u8]) -> io::Result<()> {
    write_all_atomically(&[(path, content)])
}

/// Replaces several files of one directory, each atomically, with one directory fsync for all.
pub fn write_all_atomically(files: &[(&Path, &[u8])]) -> io::Result<()> {
    let mut dir = None;
    let mut renames = Vec::with_capacity(files.len());
    for (path, content) in files {
        let parent =
            path.parent().ok_or_else(|| io::Error::other(format!("{} has no parent directory", path.display())))?;
        let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
        tmp_name.push(".tmp");
        let tmp = parent.join(tmp_name);
        let mut file = OpenOptions::new().create(true).truncate(true).write(true).open(&tmp)?;
        file.write_all(content)?;
        file.sync_all()?;
        renames.push((tmp, *path));
        dir = Some(parent);
    }
    for (tmp, path) in renames {
        fs::rename(&tmp, path)?;
    }
    match dir {
        Some(dir) => sync_dir(dir),
        None => Ok(()),
    }
}

/// Makes a directory's entries (creations, renames, deletions) durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}
