//! Leftovers by content, not by name: every file under a directory that
//! holds a value (a temporary file may have any name, or none we know).

use std::path::{Path, PathBuf};

/// Every regular file under `dir`, recursively, with its metadata;
/// symlinks are not followed, and entries that vanish or cannot be read
/// while the walk runs (a process still working there) are skipped.
pub fn regular_files(dir: &Path) -> Vec<(PathBuf, std::fs::Metadata)> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.is_dir() {
                stack.push(path);
            } else if meta.is_file() {
                files.push((path, meta));
            }
        }
    }
    files
}

/// Whether the file at `path` holds `needle` (false when it is gone).
pub fn holds(path: &Path, needle: &str) -> bool {
    std::fs::read(path)
        .unwrap_or_default()
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// Every file under `dir` (recursively, symlinks not followed) whose bytes
/// contain `needle`, except the paths in `allowed`.
pub fn files_holding(dir: &Path, needle: &str, allowed: &[&Path]) -> Vec<PathBuf> {
    assert!(dir.is_dir(), "no directory {}", dir.display());
    regular_files(dir)
        .into_iter()
        .map(|(path, _)| path)
        .filter(|path| !allowed.contains(&path.as_path()) && holds(path, needle))
        .collect()
}
