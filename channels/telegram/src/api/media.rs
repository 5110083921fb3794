//! The files messages refer to: `getFile(file_id)` gives a `file_path`,
//! then `{api_url}/file/bot{token}/{file_path}` serves the file.
//!
//! The hosted Bot API serves at most [`HOSTED_FILE_LIMIT`]; a self-hosted
//! one serves more. The size limit is checked against what `getFile` states,
//! then again while the file streams in. Telegram states no checksum: the
//! sha256 is computed here, as the file's content address.

use salur_channels_core::BoxFuture;
use salur_channels_core::media::{Limited, Media, MediaError, MediaSource};
use sha2::{Digest, Sha256};
use teloxide::requests::Requester as _;
use teloxide::types::FileId;
use teloxide::{ApiError as Tg, RequestError};

use super::{ApiError, BotApi};

/// The largest file the hosted Bot API lets a bot download, in bytes.
pub const HOSTED_FILE_LIMIT: u64 = 20 * 1024 * 1024;

/// How teloxide states an unknown file size.
const NO_SIZE: u32 = u32::MAX;

/// Downloads files through one bot.
#[derive(Debug, Clone)]
pub struct TelegramMedia {
    api: BotApi,
}

impl TelegramMedia {
    /// Downloads through `api`.
    pub fn new(api: BotApi) -> Self {
        Self { api }
    }

    /// Downloads the file `file_id`, at most `max_bytes`. Its MIME type is
    /// guessed from the file path's extension (Telegram states it only in
    /// the message, where the attachment already has it).
    ///
    /// # Errors
    /// [`MediaError::TooLarge`] when `getFile` states a larger size, when
    /// Telegram will not serve a file that big, or when more bytes arrive;
    /// [`MediaError::Gone`] for a file id Telegram does not know;
    /// [`MediaError::ForeignHost`] for a file path that would leave the
    /// file area; [`MediaError::Transient`] for network, server and flood
    /// errors and a refused token (a renewed one may work).
    pub async fn fetch_file(&self, file_id: &str, max_bytes: u64) -> Result<Media, MediaError> {
        let valid = !file_id.is_empty()
            && file_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !valid {
            return Err(MediaError::Gone(format!(
                "`{file_id}` is not a Telegram file id"
            )));
        }
        let file = self
            .api
            .bot
            .get_file(FileId(file_id.to_owned()))
            .await
            .map_err(|e| self.lookup_error(e, max_bytes))?;
        if file.size != NO_SIZE && u64::from(file.size) > max_bytes {
            return Err(MediaError::TooLarge {
                size: u64::from(file.size),
                limit: max_bytes,
            });
        }
        let path = file.path.as_str();
        let escapes = path.is_empty()
            || path.starts_with('/')
            || path.contains("..")
            || path
                .chars()
                .any(|c| c.is_control() || matches!(c, '\\' | '?' | '#' | '%'));
        if escapes {
            return Err(MediaError::ForeignHost(format!("file path `{path}`")));
        }
        let url = self
            .api
            .file_url(path)
            .map_err(|e| MediaError::Transient(e.to_string()))?;
        let bytes = self.download(url, max_bytes).await?;
        let sha256 = hex::encode(Sha256::digest(&bytes));
        Ok(Media {
            bytes,
            mime: mime_for(path).map(str::to_owned),
            sha256,
        })
    }

    fn lookup_error(&self, e: RequestError, max_bytes: u64) -> MediaError {
        if let RequestError::Api(Tg::Unknown(description)) = &e
            && description.contains("file is too big")
        {
            // Telegram does not say how big: the least it can be.
            return MediaError::TooLarge {
                size: HOSTED_FILE_LIMIT + 1,
                limit: max_bytes.min(HOSTED_FILE_LIMIT),
            };
        }
        match self.api.request_error(e) {
            ApiError::Rejected(detail) => MediaError::Gone(detail),
            other => MediaError::Transient(format!("getFile: {other}")),
        }
    }

    async fn download(
        &self,
        url: reqwest::Url,
        max_bytes: u64,
    ) -> Result<bytes::Bytes, MediaError> {
        let mut answer = self
            .api
            .http()
            .get(url)
            .timeout(self.api.timeout)
            .send()
            .await
            .map_err(|e| MediaError::Transient(format!("download: {}", e.without_url())))?;
        let status = answer.status();
        if status.is_redirection() {
            return Err(MediaError::ForeignHost(format!("a redirect ({status})")));
        }
        if !status.is_success() {
            // A file path lasts an hour; the next try looks it up afresh.
            return Err(MediaError::Transient(format!("download answered {status}")));
        }
        let mut body = Limited::new(max_bytes, answer.content_length())?;
        while let Some(chunk) = answer
            .chunk()
            .await
            .map_err(|e| MediaError::Transient(format!("download cut: {}", e.without_url())))?
        {
            body.push(&chunk)?;
        }
        Ok(body.finish())
    }
}

/// Telegram states no checksum, so `sha256` is not used.
impl MediaSource for TelegramMedia {
    fn fetch<'a>(
        &'a self,
        provider_ref: &'a str,
        _sha256: Option<&'a str>,
        max_bytes: u64,
    ) -> BoxFuture<'a, Result<Media, MediaError>> {
        Box::pin(self.fetch_file(provider_ref, max_bytes))
    }
}

/// The MIME type for a file path's extension, for the types citizens send.
fn mime_for(path: &str) -> Option<&'static str> {
    let name = path.rsplit('/').next().unwrap_or(path);
    let (_, extension) = name.rsplit_once('.')?;
    Some(match extension.to_ascii_lowercase().as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "webp" => "image/webp",
        "gif" => "image/gif",
        "heic" => "image/heic",
        "mp4" => "video/mp4",
        "mov" => "video/quicktime",
        "webm" => "video/webm",
        "oga" | "ogg" | "opus" => "audio/ogg",
        "mp3" => "audio/mpeg",
        "m4a" => "audio/mp4",
        "wav" => "audio/wav",
        "pdf" => "application/pdf",
        "doc" => "application/msword",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xls" => "application/vnd.ms-excel",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "txt" => "text/plain",
        "zip" => "application/zip",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::mime_for;

    #[test]
    fn mime_types_follow_the_extension() {
        assert_eq!(mime_for("photos/file_12.jpg"), Some("image/jpeg"));
        assert_eq!(mime_for("voice/file_3.OGA"), Some("audio/ogg"));
        assert_eq!(mime_for("documents/file_9.pdf"), Some("application/pdf"));
        assert_eq!(mime_for("documents/file_9"), None);
        assert_eq!(mime_for("documents.d/file"), None);
        assert_eq!(mime_for("stickers/file_1.tgs"), None);
    }
}
