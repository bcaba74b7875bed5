//! `--save-dir`: a body written to its file as it arrives, removed if the
//! request fails or is cancelled.

use std::path::PathBuf;

use crate::error::{FetchError, Kind};

/// A body being written to its file under `--save-dir` as it arrives.
/// Dropped before [`finish`](SaveFile::finish) (the body failed, or the
/// request was cancelled), it removes the file: a file under `--save-dir`
/// is always a whole body that its line names.
pub(super) struct SaveFile {
    path: PathBuf,
    file: Option<tokio::fs::File>,
}

impl SaveFile {
    pub(super) async fn create(path: PathBuf) -> Result<SaveFile, FetchError> {
        match tokio::fs::File::create(&path).await {
            Ok(file) => Ok(SaveFile {
                path,
                file: Some(file),
            }),
            Err(e) => Err(save_error(&path, e)),
        }
    }

    pub(super) async fn write(&mut self, chunk: &[u8]) -> Result<(), FetchError> {
        use tokio::io::AsyncWriteExt;
        let file = self.file.as_mut().expect("written before finish");
        file.write_all(chunk)
            .await
            .map_err(|e| save_error(&self.path, e))
    }

    /// Every byte is on its way to the disk: the path, for the record.
    pub(super) async fn finish(mut self) -> Result<PathBuf, FetchError> {
        use tokio::io::AsyncWriteExt;
        let mut file = self.file.take().expect("finished once");
        file.flush().await.map_err(|e| save_error(&self.path, e))?;
        Ok(std::mem::take(&mut self.path))
    }
}

impl Drop for SaveFile {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

pub(super) fn save_error(path: &std::path::Path, e: std::io::Error) -> FetchError {
    FetchError::immediate(Kind::Save, format!("cannot write {}: {e}", path.display()))
}
