//! The few file-system steps the log takes, each mapping its error to the path involved.

use super::error::WalError;
use super::file_system::{FileSystem, OsFileSystem, WalFile};
use std::path::{Path, PathBuf};

/// The extension of a file written but not yet renamed into place.
pub(crate) const TEMP_EXTENSION: &str = ".tmp";
/// The extension of a file the log no longer needs, renamed so under the log's lock and
/// deleted outside it (`delete_gradually`); recovery deletes any left over.
pub(crate) const RELEASED_EXTENSION: &str = ".released";
/// Bytes `delete_gradually` cuts off a file at a time, and the pause after each cut.
pub(crate) const DELETE_STEP_BYTES: u64 = 4 << 20;
pub(crate) const DELETE_PAUSE: std::time::Duration = std::time::Duration::from_millis(2);

/// Wraps an I/O error with the path it happened on.
pub(crate) fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> WalError + '_ {
    move |source| WalError::Io { path: path.to_path_buf(), source }
}

/// Makes the entries of `dir` (creations, renames, deletions) durable.
pub(crate) fn sync_dir<F: FileSystem>(fs: &F, dir: &Path) -> Result<(), WalError> {
    fs.sync_dir(dir).map_err(io_error(dir))
}

/// The names of the files in `dir` that are valid UTF-8 (the log writes no others), sorted.
pub(crate) fn file_names<F: FileSystem>(fs: &F, dir: &Path) -> Result<Vec<String>, WalError> {
    fs.list(dir).map_err(io_error(dir))
}

/// Writes `parts`, one after the other, as `dir/name` atomically: to `name.tmp`, synced,
/// renamed, then (when `fsync`) the directory synced. The parts are written where they lie (a
/// snapshot's data is not copied into one buffer with its head). After an `Ok` with `fsync`,
/// the file survives a crash whole; before, a crash leaves either the old state or a `.tmp`
/// file that recovery deletes. With `preallocate_bytes` above the parts' length, the file is
/// first allocated to that size (see [`WalFile::allocate`]), so it ends in zeros.
pub(crate) fn write_file_atomically<F: FileSystem>(
    fs: &F,
    dir: &Path,
    name: &str,
    parts: &[&[u8]],
    preallocate_bytes: u64,
    fsync: bool,
) -> Result<PathBuf, WalError> {
    let temp_path = dir.join(format!("{name}{TEMP_EXTENSION}"));
    let final_path = dir.join(name);
    let file = fs.create(&temp_path).map_err(io_error(&temp_path))?;
    file.allocate(preallocate_bytes);
    write_behind(&file, parts, fsync).map_err(io_error(&temp_path))?;
    if fsync {
        file.sync_all().map_err(io_error(&temp_path))?;
    }
    drop(file);
    fs.rename(&temp_path, &final_path).map_err(io_error(&final_path))?;
    if fsync {
        sync_dir(fs, dir)?;
    }
    Ok(final_path)
}

/// Bytes of a large file (a snapshot) written between two steps of its write-behind.
pub(crate) const WRITE_BEHIND_BYTES: usize = 1 << 20;

/// Writes `parts`, one after the other, from the start of `file`; with `sync`, at most
/// `WRITE_BEHIND_BYTES` at a time, starting each chunk's writeback once it is written and
/// waiting for the chunk before. At most two chunks are dirty at once, so the log's own
/// fdatasync (whose journal commit first flushes the dirty data of files allocated in the same
/// transaction: ext4, data=ordered) waits for those at most, not for a whole snapshot; the
/// caller's final sync has little left to write.
pub(crate) fn write_behind<W: WalFile>(file: &W, parts: &[&[u8]], sync: bool) -> std::io::Result<()> {
    let total: usize = parts.iter().map(|part| part.len()).sum();
    let mut offset = 0u64;
    if !sync || total <= WRITE_BEHIND_BYTES {
        for part in parts {
            file.write_all_at(part, offset)?;
            offset += part.len() as u64;
        }
        return Ok(());
    }
    // The chunk written before this one: (offset, length).
    let mut previous: Option<(u64, u64)> = None;
    for chunk in parts.iter().flat_map(|part| part.chunks(WRITE_BEHIND_BYTES)) {
        file.write_all_at(chunk, offset)?;
        file.start_writeback(offset, chunk.len() as u64, false);
        if let Some((at, len)) = previous {
            file.start_writeback(at, len, true);
        }
        previous = Some((offset, chunk.len() as u64));
        offset += chunk.len() as u64;
    }
    Ok(())
}

/// Renames `dir/name` to `dir/name.released` (quick: it frees no blocks) and returns the new
/// path, for `delete_gradually` once the log's lock is released.
pub(crate) fn release_file<F: FileSystem>(fs: &F, dir: &Path, name: &str) -> Result<PathBuf, WalError> {
    let from = dir.join(name);
    let to = dir.join(format!("{name}{RELEASED_EXTENSION}"));
    fs.rename(&from, &to).map_err(io_error(&from))?;
    Ok(to)
}

/// Deletes the file at `path`, first cutting it short `DELETE_STEP_BYTES` at a time with a
/// pause after each cut. Freeing a whole 64 MiB segment at once (blocks, and their discard
/// on a disk mounted with it) made the journal commits of every log on the disk wait: log
/// writes of 150 ms were seen when three nodes of a local cluster did it at once. RocksDB
/// deletes its files in chunks for the same reason. A file already gone is fine.
pub fn delete_gradually(path: &Path) -> Result<(), WalError> {
    delete_gradually_in(&OsFileSystem, path)
}

/// [`delete_gradually`] on the file system `fs`.
pub fn delete_gradually_in<F: FileSystem>(fs: &F, path: &Path) -> Result<(), WalError> {
    match fs.open_write(path) {
        Ok(file) => {
            let mut len = file.file_bytes().map_err(io_error(path))?;
            while len > DELETE_STEP_BYTES {
                len -= DELETE_STEP_BYTES;
                file.set_len(len).map_err(io_error(path))?;
                std::thread::sleep(DELETE_PAUSE);
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_error(path)(e)),
    }
    remove_path(fs, path)
}

/// Deletes `dir/name`; a file already gone is fine.
pub(crate) fn remove_file<F: FileSystem>(fs: &F, dir: &Path, name: &str) -> Result<(), WalError> {
    remove_path(fs, &dir.join(name))
}

/// Deletes the file at `path`; a file already gone is fine.
fn remove_path<F: FileSystem>(fs: &F, path: &Path) -> Result<(), WalError> {
    match fs.remove(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_error(path)(e)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_written_behind_in_chunks_is_whole() {
        let dir = tempfile::tempdir().unwrap();
        // Several chunks with a partial last one, exactly one chunk, less, nothing.
        for len in [0, 10, WRITE_BEHIND_BYTES, 3 * WRITE_BEHIND_BYTES + 12345] {
            let bytes: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            // Whole, and in parts cut anywhere (a head, the data, a checksum).
            let (head, rest) = bytes.split_at(len.min(7));
            let (data, tail) = rest.split_at(rest.len().saturating_sub(4));
            for parts in [vec![&bytes[..]], vec![head, data, tail]] {
                for fsync in [true, false] {
                    let path = write_file_atomically(&OsFileSystem, dir.path(), "f", &parts, 0, fsync).unwrap();
                    assert_eq!(std::fs::read(&path).unwrap(), bytes, "len {len} fsync {fsync}");
                }
            }
        }
    }
}
