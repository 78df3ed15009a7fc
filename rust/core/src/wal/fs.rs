//! The few file-system steps the log takes, each mapping its error to the path involved.

use super::error::WalError;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The extension of a file written but not yet renamed into place.
pub(crate) const TEMP_EXTENSION: &str = ".tmp";

/// Wraps an I/O error with the path it happened on.
pub(crate) fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> WalError + '_ {
    move |source| WalError::Io { path: path.to_path_buf(), source }
}

/// Makes the entries of `dir` (creations, renames, deletions) durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), WalError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io_error(dir))
}

/// The names of the files in `dir` that are valid UTF-8 (the log writes no others).
pub(crate) fn file_names(dir: &Path) -> Result<Vec<String>, WalError> {
    let mut names = Vec::new();
    for dir_entry in std::fs::read_dir(dir).map_err(io_error(dir))? {
        let dir_entry = dir_entry.map_err(io_error(dir))?;
        if let Ok(name) = dir_entry.file_name().into_string() {
            names.push(name);
        }
    }
    names.sort_unstable();
    Ok(names)
}

/// Writes `bytes` as `dir/name` atomically: to `name.tmp`, synced, renamed, then (when
/// `fsync`) the directory synced. After an `Ok` with `fsync`, the file survives a crash whole;
/// before, a crash leaves either the old state or a `.tmp` file that recovery deletes.
pub(crate) fn write_file_atomically(dir: &Path, name: &str, bytes: &[u8], fsync: bool) -> Result<PathBuf, WalError> {
    let temp_path = dir.join(format!("{name}{TEMP_EXTENSION}"));
    let final_path = dir.join(name);
    let mut file =
        OpenOptions::new().write(true).create(true).truncate(true).open(&temp_path).map_err(io_error(&temp_path))?;
    file.write_all(bytes).map_err(io_error(&temp_path))?;
    if fsync {
        file.sync_all().map_err(io_error(&temp_path))?;
    }
    drop(file);
    std::fs::rename(&temp_path, &final_path).map_err(io_error(&final_path))?;
    if fsync {
        sync_dir(dir)?;
    }
    Ok(final_path)
}

/// Deletes `dir/name`; a file already gone is fine.
pub(crate) fn remove_file(dir: &Path, name: &str) -> Result<(), WalError> {
    let path = dir.join(name);
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_error(&path)(e)),
        _ => Ok(()),
    }
}
