//! Leftovers by content, not by name: every file under a directory that
//! holds a value (a temporary file may have any name, or none we know).

use std::path::{Path, PathBuf};

/// Every file under `dir` (recursively, symlinks not followed) whose bytes
/// contain `needle`, except the paths in `allowed`.
pub fn files_holding(dir: &Path, needle: &str, allowed: &[&Path]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file()
                && !allowed.contains(&path.as_path())
                && std::fs::read(&path)
                    .unwrap()
                    .windows(needle.len())
                    .any(|w| w == needle.as_bytes())
            {
                found.push(path);
            }
        }
    }
    found
}
