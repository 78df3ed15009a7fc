//! The file-system calls the log makes, as a trait: the operating system's file system for
//! real logs ([`OsFileSystem`]), and [`CrashDisk`](super::CrashDisk) for power-loss tests.
//!
//! The log is generic over it (`Wal<F = OsFileSystem>`), so a real log's calls are the same
//! direct `std::fs` calls as before: no dynamic dispatch, no extra copy. The trait is the
//! complete list of steps whose durability matters: positioned writes, length changes,
//! `fdatasync`/`fsync` of a file, creations, renames and deletions (durable only once the
//! directory is synced), and listing and reading for recovery.

use std::fmt::Debug;
use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// A file system the log can live on. Every path is inside the log's directory except the
/// directory itself (for `create_dir_all`, `list` and `sync_dir`).
pub trait FileSystem: Clone + Debug + Send + Sync + 'static {
    /// An open file, for writing.
    type File: WalFile;
    /// The directory's advisory lock, held while a log is open.
    type Lock: Debug + Send;

    /// Creates `dir` and its parents (durable at once: the log's directory outlives it).
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Takes the advisory lock file `path` (created if missing); `Ok(None)` when another
    /// holder has it.
    fn try_lock(&self, path: &Path) -> io::Result<Option<Self::Lock>>;
    /// The names of the files in `dir` that are valid UTF-8, sorted.
    fn list(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// The whole contents of the file at `path`.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// The length of the file at `path`.
    fn file_bytes(&self, path: &Path) -> io::Result<u64>;
    /// Creates the file at `path` (emptied if it exists), open for writing.
    fn create(&self, path: &Path) -> io::Result<Self::File>;
    /// Opens the existing file at `path` for writing.
    fn open_write(&self, path: &Path) -> io::Result<Self::File>;
    /// Renames `from` to `to`, replacing `to`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Deletes the file at `path`.
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// Makes the entries of `dir` (creations, renames, deletions) durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
}

/// A file open for writing.
pub trait WalFile: Debug + Send {
    /// Writes all of `bytes` at `offset`, extending the file as needed.
    fn write_all_at(&self, bytes: &[u8], offset: u64) -> io::Result<()>;
    /// Sets the length to `bytes` (cutting, or extending with zeros).
    fn set_len(&self, bytes: u64) -> io::Result<()>;
    /// The length of the file.
    fn file_bytes(&self) -> io::Result<u64>;
    /// `fdatasync`: the data written so far (and the length needed to read it) is durable.
    fn sync_data(&self) -> io::Result<()>;
    /// `fsync`: the data and all metadata written so far are durable.
    fn sync_all(&self) -> io::Result<()>;
    /// Allocates `[0, bytes)` on disk, extending the length to `bytes` (new bytes read as
    /// zeros). Best effort: a file system that cannot leaves the file as it was.
    fn allocate(&self, bytes: u64);
    /// Starts writing back `[offset, offset + len)` (with `wait`, and waits for it): a hint on
    /// the way to a sync, which does nothing where unsupported.
    fn start_writeback(&self, offset: u64, len: u64, wait: bool) {
        let _ = (offset, len, wait);
    }
}

/// The operating system's file system, through `std::fs` (and `fallocate` and
/// `sync_file_range` on Linux).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OsFileSystem;

impl FileSystem for OsFileSystem {
    type File = File;
    type Lock = File;

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)
    }

    fn try_lock(&self, path: &Path) -> io::Result<Option<File>> {
        let file = OpenOptions::new().create(true).truncate(false).write(true).open(path)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(file)),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(source)) => Err(source),
        }
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for dir_entry in std::fs::read_dir(dir)? {
            if let Ok(name) = dir_entry?.file_name().into_string() {
                names.push(name);
            }
        }
        names.sort_unstable();
        Ok(names)
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        std::fs::read(path)
    }

    fn file_bytes(&self, path: &Path) -> io::Result<u64> {
        Ok(std::fs::metadata(path)?.len())
    }

    fn create(&self, path: &Path) -> io::Result<File> {
        OpenOptions::new().write(true).create(true).truncate(true).open(path)
    }

    fn open_write(&self, path: &Path) -> io::Result<File> {
        OpenOptions::new().write(true).open(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }
}

impl WalFile for File {
    #[inline]
    fn write_all_at(&self, bytes: &[u8], offset: u64) -> io::Result<()> {
        FileExt::write_all_at(self, bytes, offset)
    }

    fn set_len(&self, bytes: u64) -> io::Result<()> {
        File::set_len(self, bytes)
    }

    fn file_bytes(&self) -> io::Result<u64> {
        Ok(self.metadata()?.len())
    }

    #[inline]
    fn sync_data(&self) -> io::Result<()> {
        File::sync_data(self)
    }

    fn sync_all(&self) -> io::Result<()> {
        File::sync_all(self)
    }

    fn allocate(&self, bytes: u64) {
        if bytes == 0 {
            return;
        }
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            let Ok(len) = libc::off_t::try_from(bytes) else { return };
            // SAFETY: `self` owns an open descriptor for the duration of the call; mode 0 only
            // allocates (and extends the length), it never touches existing data.
            let _ = unsafe { libc::fallocate(self.as_raw_fd(), 0, 0, len) };
        }
    }

    fn start_writeback(&self, offset: u64, len: u64, wait: bool) {
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            let (Ok(offset), Ok(len)) = (libc::off64_t::try_from(offset), libc::off64_t::try_from(len)) else {
                return;
            };
            let flags = if wait {
                libc::SYNC_FILE_RANGE_WAIT_BEFORE | libc::SYNC_FILE_RANGE_WRITE | libc::SYNC_FILE_RANGE_WAIT_AFTER
            } else {
                libc::SYNC_FILE_RANGE_WRITE
            };
            // SAFETY: `self` owns an open descriptor for the duration of the call; the call
            // only schedules (and may wait for) the writeback of data already written.
            let _ = unsafe { libc::sync_file_range(self.as_raw_fd(), offset, len, flags) };
        }
        #[cfg(not(target_os = "linux"))]
        let _ = (offset, len, wait);
    }
}
