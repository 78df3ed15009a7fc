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
/// before, a crash leaves either the old state or a `.tmp` file that recovery deletes. With
/// `preallocate_bytes` above the length of `bytes`, the file is first allocated to that size
/// (see [`preallocate`]), so it ends in zeros.
pub(crate) fn write_file_atomically(
    dir: &Path,
    name: &str,
    bytes: &[u8],
    preallocate_bytes: u64,
    fsync: bool,
) -> Result<PathBuf, WalError> {
    let temp_path = dir.join(format!("{name}{TEMP_EXTENSION}"));
    let final_path = dir.join(name);
    let mut file =
        OpenOptions::new().write(true).create(true).truncate(true).open(&temp_path).map_err(io_error(&temp_path))?;
    preallocate(&file, preallocate_bytes);
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

/// Allocates `[0, bytes)` of `file` on disk, extending its length to `bytes` (new bytes read as
/// zeros), so that later writes there and their fdatasync change no file size or block map.
/// Best effort: a file system that cannot (or a full disk) leaves the file as it was, and
/// writes then extend it as usual. `bytes == 0` does nothing.
pub(crate) fn preallocate(file: &File, bytes: u64) {
    if bytes == 0 {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let Ok(len) = libc::off_t::try_from(bytes) else { return };
        // SAFETY: `file` owns an open descriptor for the duration of the call; mode 0 only
        // allocates (and extends the length), it never touches existing data.
        let _ = unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, len) };
    }
    #[cfg(not(target_os = "linux"))]
    let _ = file;
}

/// Deletes `dir/name`; a file already gone is fine.
pub(crate) fn remove_file(dir: &Path, name: &str) -> Result<(), WalError> {
    let path = dir.join(name);
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_error(&path)(e)),
        _ => Ok(()),
    }
}
