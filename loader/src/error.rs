use std::path::PathBuf;

/// Why a guest could not be started. Each one is a single line for the user
/// and an exit status a shell would give: 127 when the file is not there, 126
/// when it is there but cannot be executed.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{}: {}", .path.display(), .error)]
    Open { path: PathBuf, error: std::io::Error },
    #[error("{}: cannot execute: {}", .path.display(), .reason)]
    NotExecutable { path: PathBuf, reason: String },
    #[error("{}: cannot load: {}", .path.display(), .reason)]
    Map { path: PathBuf, reason: String },
}

impl LoadError {
    pub fn exit_status(&self) -> i32 {
        match self {
            LoadError::Open { error, .. } if error.kind() == std::io::ErrorKind::NotFound => 127,
            _ => 126,
        }
    }

    pub(crate) fn not_executable(path: &std::path::Path, reason: impl Into<String>) -> Self {
        LoadError::NotExecutable { path: path.to_path_buf(), reason: reason.into() }
    }

    pub(crate) fn map(path: &std::path::Path, reason: impl Into<String>) -> Self {
        LoadError::Map { path: path.to_path_buf(), reason: reason.into() }
    }
}
