//! A file system in memory that loses power: the disk of power-loss tests and simulations.
//!
//! [`CrashDisk`] keeps, for every file, its durable contents and the changes made since its
//! last `fsync`/`fdatasync`, and for every directory the entry changes (creations, renames,
//! deletions) made since its last sync. [`CrashDisk::after_power_cut`] returns a disk holding
//! one state the real disk could be in after power is lost at that moment, as LazyFS does for
//! etcd's robustness tests, but choosing among every such state:
//!
//! * everything synced is there;
//! * of the changes not synced, each 512-byte sector of a file independently holds the
//!   contents of some prefix of the writes to it since the last sync (none, some, all): a
//!   write torn at sector granularity, and later writes on disk while earlier ones are not
//!   (reordering). Length changes (`set_len`, allocation) not synced persist as a prefix, in
//!   order; a write that persists extends the file to cover it;
//! * directory changes not synced persist as a prefix, in order (a journaling file system
//!   commits metadata in order); a file whose name did not persist is gone.
//!
//! [`CrashDisk::cut_power_after`] stops the disk after a number of operations: every later
//! operation fails (the process died there), so a crash can be placed between any two steps
//! of a log's call. Nothing here sleeps or reads a clock; the choices come from a seed.

use super::file_system::{FileSystem, WalFile};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// The unit a disk writes atomically: a write persists (or not) sector by sector.
pub const SECTOR_BYTES: u64 = 512;

/// Which of the possible post-crash states [`CrashDisk::after_power_cut`] returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PowerCut {
    /// Nothing that was not synced survives.
    LoseUnsynced,
    /// Everything written survives, synced or not (a process crash: the page cache stays).
    KeepAll,
    /// Each sector's version, the metadata prefix and the directory prefix drawn from this
    /// seed (about one state in four is one of the two above).
    Random(u64),
}

/// Counts of what the disk was asked to do, since it was made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CrashDiskStats {
    /// Operations that change the disk or sync it (the ones `cut_power_after` counts).
    pub operations: u64,
    /// `sync_data` and `sync_all` calls on files.
    pub file_syncs: u64,
    /// `sync_dir` calls.
    pub dir_syncs: u64,
}

/// A file system in memory whose power can be cut (see the module docs). Clones share the
/// same disk.
#[derive(Clone, Debug, Default)]
pub struct CrashDisk {
    state: Arc<Mutex<DiskState>>,
}

type InodeId = usize;

#[derive(Debug, Default)]
struct DiskState {
    files: Files,
    locks: BTreeSet<PathBuf>,
    /// Operations left before the power goes; `None` when no cut is planned.
    operations_left: Option<u64>,
    stats: CrashDiskStats,
    /// While recording, a frozen copy of the disk taken before each counted operation.
    recorded: Option<Vec<CrashDisk>>,
}

/// The files and names of a disk.
#[derive(Clone, Debug, Default)]
struct Files {
    /// Every file ever created; an id is never reused.
    inodes: Vec<Inode>,
    /// The names as a reader sees them now.
    names: BTreeMap<PathBuf, InodeId>,
    /// The names that survive a power cut.
    durable_names: BTreeMap<PathBuf, InodeId>,
    /// Name changes not yet made durable by a sync of their directory, oldest first.
    pending_names: Vec<NameChange>,
    directories: BTreeSet<PathBuf>,
}

#[derive(Clone, Debug, Default)]
struct Inode {
    durable: Vec<u8>,
    live: Vec<u8>,
    /// Changes since the last sync of this file, oldest first.
    pending: Vec<FileChange>,
}

#[derive(Clone, Debug)]
enum FileChange {
    Write { offset: u64, bytes: Vec<u8> },
    SetLen(u64),
}

#[derive(Clone, Debug)]
struct NameChange {
    dir: PathBuf,
    kind: NameChangeKind,
}

#[derive(Clone, Debug)]
enum NameChangeKind {
    Link { path: PathBuf, inode: InodeId },
    Rename { from: PathBuf, to: PathBuf },
    Unlink { path: PathBuf },
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("{} not found", path.display()))
}

fn parent(path: &Path) -> PathBuf {
    path.parent().map(Path::to_path_buf).unwrap_or_default()
}

impl CrashDisk {
    /// An empty disk.
    pub fn new() -> CrashDisk {
        CrashDisk::default()
    }

    fn lock(&self) -> MutexGuard<'_, DiskState> {
        self.state.lock().expect("crash disk: poisoned lock")
    }

    /// After `operations` more operations that change or sync the disk, the power goes: that
    /// operation and every later one fails with an I/O error and changes nothing.
    pub fn cut_power_after(&self, operations: u64) {
        self.lock().operations_left = Some(operations);
    }

    /// Whether the power was cut (an operation failed for it).
    pub fn is_cut(&self) -> bool {
        self.lock().operations_left == Some(0)
    }

    /// What the disk was asked to do so far.
    pub fn stats(&self) -> CrashDiskStats {
        self.lock().stats
    }

    /// Starts keeping a frozen copy of the disk before every operation that changes or syncs
    /// it: the disk as a power cut before that operation finds it. Running a workload once
    /// then yields every crash point of it ([`take_recorded`](Self::take_recorded)).
    pub fn record_crash_points(&self) {
        self.lock().recorded = Some(Vec::new());
    }

    /// The frozen copies recorded so far (the one taken before operation `n` at `n`, counting
    /// from the start of recording), and recording stops.
    pub fn take_recorded(&self) -> Vec<CrashDisk> {
        self.lock().recorded.take().unwrap_or_default()
    }

    /// A separate disk holding this one's files as they are now, unsynced changes included.
    pub fn copy(&self) -> CrashDisk {
        CrashDisk::frozen(self.lock().files.clone())
    }

    fn frozen(files: Files) -> CrashDisk {
        CrashDisk { state: Arc::new(Mutex::new(DiskState { files, ..DiskState::default() })) }
    }

    /// A new disk holding one state this disk could be in after losing power now (see the
    /// module docs); everything on it is durable and its power is on.
    pub fn after_power_cut(&self, cut: PowerCut) -> CrashDisk {
        let state = &self.lock().files;
        let mut rng = match cut {
            PowerCut::Random(seed) => Some(ChaCha8Rng::seed_from_u64(seed)),
            _ => None,
        };
        // One state in eight at each extreme, so short runs cover both.
        let cut = match rng.as_mut().map(|rng| rng.gen_range(0..8u32)) {
            Some(0) => PowerCut::LoseUnsynced,
            Some(1) => PowerCut::KeepAll,
            _ => cut,
        };
        let mut choose = |options: usize| match cut {
            PowerCut::LoseUnsynced => 0,
            PowerCut::KeepAll => options,
            PowerCut::Random(_) => rng.as_mut().expect("a seeded cut").gen_range(0..=options),
        };
        let mut names = state.durable_names.clone();
        let kept_name_changes = choose(state.pending_names.len());
        for change in &state.pending_names[..kept_name_changes] {
            change.kind.apply(&mut names);
        }
        let mut disk = Files { directories: state.directories.clone(), ..Files::default() };
        let mut copied: HashMap<InodeId, InodeId> = HashMap::new();
        for (path, &inode) in &names {
            let id = *copied.entry(inode).or_insert_with(|| {
                let contents = state.inodes[inode].after_power_cut(&mut choose);
                disk.inodes.push(Inode { durable: contents.clone(), live: contents, pending: Vec::new() });
                disk.inodes.len() - 1
            });
            disk.names.insert(path.clone(), id);
        }
        disk.durable_names = disk.names.clone();
        CrashDisk::frozen(disk)
    }

    /// The current contents of the file at `path` (as a reader sees them), if it exists.
    pub fn contents(&self, path: &Path) -> Option<Vec<u8>> {
        let files = &self.lock().files;
        files.names.get(path).map(|&inode| files.inodes[inode].live.clone())
    }

    /// XORs `mask` into byte `offset` of the file at `path`, durably (the disk damaged it):
    /// whether it existed.
    pub fn damage(&self, path: &Path, offset: usize, mask: u8) -> bool {
        let files = &mut self.lock().files;
        let Some(&inode) = files.names.get(path) else { return false };
        let inode = &mut files.inodes[inode];
        let mut done = false;
        for contents in [&mut inode.durable, &mut inode.live] {
            if let Some(byte) = contents.get_mut(offset) {
                *byte ^= mask;
                done = true;
            }
        }
        done
    }

    /// The paths of the files in `dir`, sorted.
    pub fn files(&self, dir: &Path) -> Vec<PathBuf> {
        self.lock().files.names.keys().filter(|path| parent(path) == dir).cloned().collect()
    }
}

impl NameChangeKind {
    fn apply(&self, names: &mut BTreeMap<PathBuf, InodeId>) {
        match self {
            NameChangeKind::Link { path, inode } => {
                names.insert(path.clone(), *inode);
            }
            NameChangeKind::Rename { from, to } => {
                if let Some(inode) = names.remove(from) {
                    names.insert(to.clone(), inode);
                }
            }
            NameChangeKind::Unlink { path } => {
                names.remove(path);
            }
        }
    }
}

impl Inode {
    /// The contents after a power cut: the durable ones with a prefix of the length changes
    /// and, per sector, a prefix of the writes to it; `choose(n)` picks how many of `n`.
    fn after_power_cut(&self, choose: &mut impl FnMut(usize) -> usize) -> Vec<u8> {
        let length_changes = self.pending.iter().filter(|c| matches!(c, FileChange::SetLen(_))).count();
        let kept_length_changes = choose(length_changes);
        let mut writes_per_sector: BTreeMap<u64, usize> = BTreeMap::new();
        for change in &self.pending {
            if let FileChange::Write { offset, bytes } = change {
                for (sector, _) in sector_pieces(*offset, bytes.len()) {
                    *writes_per_sector.entry(sector).or_default() += 1;
                }
            }
        }
        let kept_per_sector: BTreeMap<u64, usize> =
            writes_per_sector.iter().map(|(&sector, &count)| (sector, choose(count))).collect();
        let mut seen_per_sector: BTreeMap<u64, usize> = BTreeMap::new();
        let mut length_changes_seen = 0;
        let mut contents = self.durable.clone();
        for change in &self.pending {
            match change {
                FileChange::SetLen(bytes) => {
                    if length_changes_seen < kept_length_changes {
                        contents.resize(to_usize(*bytes), 0);
                    }
                    length_changes_seen += 1;
                }
                FileChange::Write { offset, bytes } => {
                    for (sector, range) in sector_pieces(*offset, bytes.len()) {
                        let seen = seen_per_sector.entry(sector).or_default();
                        if *seen < kept_per_sector[&sector] {
                            let at = to_usize(*offset) + range.start;
                            write_into(&mut contents, at, &bytes[range]);
                        }
                        *seen += 1;
                    }
                }
            }
        }
        contents
    }
}

/// The sectors `[offset, offset + len)` touches, each with the range of the written bytes
/// (relative to `offset`) that falls in it.
fn sector_pieces(offset: u64, len: usize) -> impl Iterator<Item = (u64, std::ops::Range<usize>)> {
    let end = offset + len as u64;
    let first = offset / SECTOR_BYTES;
    let last = if len == 0 { first } else { (end - 1) / SECTOR_BYTES + 1 };
    (first..last).map(move |sector| {
        let start = (sector * SECTOR_BYTES).max(offset);
        let stop = ((sector + 1) * SECTOR_BYTES).min(end);
        (sector, to_usize(start - offset)..to_usize(stop - offset))
    })
}

fn to_usize(bytes: u64) -> usize {
    usize::try_from(bytes).expect("a crash disk file fits in memory")
}

/// Writes `bytes` at `at`, extending `contents` with zeros as needed (a write of nothing
/// extends nothing, as `pwrite` of nothing).
fn write_into(contents: &mut Vec<u8>, at: usize, bytes: &[u8]) {
    if bytes.is_empty() {
        return;
    }
    if contents.len() < at + bytes.len() {
        contents.resize(at + bytes.len(), 0);
    }
    contents[at..at + bytes.len()].copy_from_slice(bytes);
}

impl DiskState {
    /// Counts an operation (recording the disk before it), or fails it when the power is cut.
    fn operate(&mut self) -> io::Result<()> {
        match &mut self.operations_left {
            Some(0) => return Err(io::Error::other("crash disk: power cut")),
            Some(left) => *left -= 1,
            None => {}
        }
        if let Some(recorded) = &mut self.recorded {
            recorded.push(CrashDisk::frozen(self.files.clone()));
        }
        self.stats.operations += 1;
        Ok(())
    }
}

impl Files {
    fn inode(&self, path: &Path) -> io::Result<InodeId> {
        self.names.get(path).copied().ok_or_else(|| not_found(path))
    }

    fn change_name(&mut self, kind: NameChangeKind, path: &Path) {
        kind.apply(&mut self.names);
        self.pending_names.push(NameChange { dir: parent(path), kind });
    }

    fn change_file(&mut self, inode: InodeId, change: FileChange) {
        let inode = &mut self.inodes[inode];
        match &change {
            FileChange::Write { offset, bytes } => write_into(&mut inode.live, to_usize(*offset), bytes),
            FileChange::SetLen(bytes) => inode.live.resize(to_usize(*bytes), 0),
        }
        inode.pending.push(change);
    }
}

impl DiskState {
    fn sync_file(&mut self, inode: InodeId) -> io::Result<()> {
        self.operate()?;
        self.stats.file_syncs += 1;
        let inode = &mut self.files.inodes[inode];
        inode.durable.clone_from(&inode.live);
        inode.pending.clear();
        Ok(())
    }
}

impl FileSystem for CrashDisk {
    type File = CrashFile;
    type Lock = CrashLock;

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.lock().files.directories.insert(dir.to_path_buf());
        Ok(())
    }

    fn try_lock(&self, path: &Path) -> io::Result<Option<CrashLock>> {
        if !self.lock().locks.insert(path.to_path_buf()) {
            return Ok(None);
        }
        Ok(Some(CrashLock { disk: self.clone(), path: path.to_path_buf() }))
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let files = &self.lock().files;
        if !files.directories.contains(dir) {
            return Err(not_found(dir));
        }
        let names = files.names.keys().filter(|path| parent(path) == dir);
        Ok(names.filter_map(|path| path.file_name()?.to_str().map(str::to_owned)).collect())
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let files = &self.lock().files;
        Ok(files.inodes[files.inode(path)?].live.clone())
    }

    fn file_bytes(&self, path: &Path) -> io::Result<u64> {
        let files = &self.lock().files;
        Ok(files.inodes[files.inode(path)?].live.len() as u64)
    }

    fn create(&self, path: &Path) -> io::Result<CrashFile> {
        let mut state = self.lock();
        state.operate()?;
        let files = &mut state.files;
        let inode = match files.names.get(path) {
            Some(&inode) => {
                files.change_file(inode, FileChange::SetLen(0));
                inode
            }
            None => {
                files.inodes.push(Inode::default());
                let inode = files.inodes.len() - 1;
                files.change_name(NameChangeKind::Link { path: path.to_path_buf(), inode }, path);
                inode
            }
        };
        Ok(CrashFile { disk: self.clone(), inode })
    }

    fn open_write(&self, path: &Path) -> io::Result<CrashFile> {
        let inode = self.lock().files.inode(path)?;
        Ok(CrashFile { disk: self.clone(), inode })
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut state = self.lock();
        state.files.inode(from)?;
        state.operate()?;
        state.files.change_name(NameChangeKind::Rename { from: from.to_path_buf(), to: to.to_path_buf() }, to);
        Ok(())
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        let mut state = self.lock();
        state.files.inode(path)?;
        state.operate()?;
        state.files.change_name(NameChangeKind::Unlink { path: path.to_path_buf() }, path);
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut state = self.lock();
        state.operate()?;
        state.stats.dir_syncs += 1;
        let files = &mut state.files;
        for change in std::mem::take(&mut files.pending_names) {
            if change.dir == dir {
                change.kind.apply(&mut files.durable_names);
            } else {
                files.pending_names.push(change);
            }
        }
        Ok(())
    }
}

/// A file of a [`CrashDisk`] open for writing.
#[derive(Debug)]
pub struct CrashFile {
    disk: CrashDisk,
    inode: InodeId,
}

impl WalFile for CrashFile {
    fn write_all_at(&self, bytes: &[u8], offset: u64) -> io::Result<()> {
        let mut state = self.disk.lock();
        state.operate()?;
        state.files.change_file(self.inode, FileChange::Write { offset, bytes: bytes.to_vec() });
        Ok(())
    }

    fn set_len(&self, bytes: u64) -> io::Result<()> {
        let mut state = self.disk.lock();
        state.operate()?;
        state.files.change_file(self.inode, FileChange::SetLen(bytes));
        Ok(())
    }

    fn file_bytes(&self) -> io::Result<u64> {
        Ok(self.disk.lock().files.inodes[self.inode].live.len() as u64)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.disk.lock().sync_file(self.inode)
    }

    fn sync_all(&self) -> io::Result<()> {
        self.disk.lock().sync_file(self.inode)
    }

    fn allocate(&self, bytes: u64) {
        let mut state = self.disk.lock();
        if (state.files.inodes[self.inode].live.len() as u64) < bytes && state.operate().is_ok() {
            state.files.change_file(self.inode, FileChange::SetLen(bytes));
        }
    }
}

/// The advisory lock of a [`CrashDisk`] path, released when dropped.
#[derive(Debug)]
pub struct CrashLock {
    disk: CrashDisk,
    path: PathBuf,
}

impl Drop for CrashLock {
    fn drop(&mut self) {
        self.disk.lock().locks.remove(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(disk: &CrashDisk, name: &str) -> (PathBuf, CrashFile) {
        let dir = PathBuf::from("/d");
        disk.create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        let file = disk.create(&path).unwrap();
        (path, file)
    }

    #[test]
    fn synced_data_and_names_survive_and_unsynced_may_not() {
        let disk = CrashDisk::new();
        let (path, f) = file(&disk, "a");
        f.write_all_at(b"synced", 0).unwrap();
        f.sync_data().unwrap();
        disk.sync_dir(Path::new("/d")).unwrap();
        f.write_all_at(b" and not", 6).unwrap();
        let lost = disk.after_power_cut(PowerCut::LoseUnsynced);
        assert_eq!(lost.contents(&path).unwrap(), b"synced");
        let kept = disk.after_power_cut(PowerCut::KeepAll);
        assert_eq!(kept.contents(&path).unwrap(), b"synced and not");
        let (unsynced_name, g) = file(&disk, "b");
        g.write_all_at(b"x", 0).unwrap();
        g.sync_all().unwrap();
        assert_eq!(disk.after_power_cut(PowerCut::LoseUnsynced).contents(&unsynced_name), None);
    }

    #[test]
    fn unsynced_writes_tear_by_sector_and_reorder() {
        let disk = CrashDisk::new();
        let (path, f) = file(&disk, "a");
        f.write_all_at(&[1; 1024], 0).unwrap();
        f.write_all_at(&[2; 1024], 1024).unwrap();
        disk.sync_dir(Path::new("/d")).unwrap();
        let mut seen = BTreeSet::new();
        for seed in 0..400 {
            let contents = disk.after_power_cut(PowerCut::Random(seed)).contents(&path).unwrap();
            // Every sector is whole: all old (zeros, or beyond the end) or all new.
            let sectors: Vec<u8> = (0..4)
                .map(|s| {
                    let sector = contents.get(s * 512..(s + 1) * 512).unwrap_or(&[]);
                    assert!(sector.iter().all(|&b| b == sector.first().copied().unwrap_or(0)), "seed {seed}");
                    sector.first().copied().unwrap_or(0)
                })
                .collect();
            seen.insert(sectors);
        }
        // Torn within the first write, and the second write without the first.
        assert!(seen.contains(&vec![1, 0, 0, 0]) || seen.contains(&vec![1, 0, 2, 2]));
        assert!(seen.contains(&vec![0, 0, 2, 2]));
        assert!(seen.contains(&vec![1, 1, 2, 2]));
    }

    #[test]
    fn a_cut_fails_every_later_operation() {
        let disk = CrashDisk::new();
        let (_, f) = file(&disk, "a");
        disk.cut_power_after(1);
        f.write_all_at(b"one", 0).unwrap();
        assert!(f.sync_data().is_err());
        assert!(f.write_all_at(b"two", 3).is_err());
        assert!(disk.is_cut());
    }

    #[test]
    fn renames_persist_in_order_with_the_directory_sync() {
        let disk = CrashDisk::new();
        let (tmp, f) = file(&disk, "a.tmp");
        f.write_all_at(b"whole", 0).unwrap();
        f.sync_all().unwrap();
        let final_path = PathBuf::from("/d/a");
        disk.rename(&tmp, &final_path).unwrap();
        for seed in 0..50 {
            let after = disk.after_power_cut(PowerCut::Random(seed));
            let files = after.files(Path::new("/d"));
            assert!(files.len() <= 1);
            for path in files {
                assert_eq!(after.contents(&path).unwrap(), b"whole");
            }
        }
        disk.sync_dir(Path::new("/d")).unwrap();
        assert_eq!(disk.after_power_cut(PowerCut::LoseUnsynced).files(Path::new("/d")), vec![final_path]);
    }
}
