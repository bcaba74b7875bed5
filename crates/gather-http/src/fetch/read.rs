//! Reading an answer's body into a page: the size limit while it streams,
//! decoding, and keeping or saving it.

use std::future::Future;
use std::time::Duration;

use super::redirect::Landed;
use super::save::SaveFile;
use super::{fetch_error, Encoding, Fetcher, Page, Sent};
use crate::client::{Body, Version};
use crate::decode::{decode, DecodeError};
use crate::error::{FetchError, Kind, Setting};

impl Fetcher {
    /// Reads the body of the answer `landed` says came (checking
    /// the size limit, keeping it if it is printed or saved) into a page.
    //
    // Apart from `attempt_untimed`, and a plain fn returning an async
    // block: in one async fn with `follow`, the reads' state was laid out
    // beside `follow`'s rather than over it, and an `async fn` keeps its
    // arguments twice in its state. Every request's future holds this
    // one, and is allocated and moved with it (as an async fn, the request
    // future was 176 bytes larger when measured; its size now is pinned by
    // `a_request_future_fits_mallocs_thread_cache` in `fetch/mod.rs`).
    #[allow(clippy::manual_async_fn)]
    pub(super) fn read<'a>(
        &'a self,
        index: usize,
        (status, version, sent, headers): (u16, Version, Sent, Option<crate::Fields>),
        after: Option<Duration>,
        mut incoming: Body<'a>,
        landed: Landed<'a>,
    ) -> impl Future<Output = Result<(Page, Option<Duration>), FetchError>> + 'a {
        async move {
            let fail = FetchError::immediate;
            let max = self.shared.config.body_limit();
            if let Some(len) = incoming.length() {
                if len > max {
                    return Err(fail(
                        Kind::BodyTooLarge,
                        format!("body of {len} bytes is over the size limit of {max} bytes"),
                    )
                    .about(Setting::MaxBytes));
                }
            }
            let wanted = self.shared.config.body || self.shared.config.save_dir.is_some();
            let decoding = matches!(sent, Sent::Encoded(_));
            // --save-dir: a body as sent goes to its file as it arrives, so
            // memory stays at one read whatever its size; a decoded one is
            // written once decoded (its wire bytes are in memory anyway).
            // Boxed, as the redirect chain is: a rare path, kept out of
            // every request's future.
            let mut streamed = match (&self.shared.config.save_dir, decoding) {
                (Some(dir), false) => {
                    let path = dir.join(format!("{index}.body"));
                    Some(Box::new(Box::pin(SaveFile::create(path)).await?))
                }
                _ => None,
            };
            let keep = self.shared.config.body || decoding;
            // Sized once when the length is known: grown by doubling, a
            // 5.4 KB body held 8 KiB, and a front door that keeps every
            // page (the Python package's list) held half again as much.
            let mut body = match incoming.length() {
                Some(len) if keep => Vec::with_capacity(len as usize),
                _ => Vec::new(),
            };
            let mut bytes: u64 = 0;
            // Once the head has arrived, any failure (a reset, a short body) is
            // a body error: the server answered, so it is not retried. (A
            // file being saved is removed with it: see `SaveFile`.)
            while let Some(chunk) = incoming.chunk().await.map_err(fetch_error)? {
                bytes += chunk.len() as u64;
                if bytes > max {
                    return Err(fail(
                        Kind::BodyTooLarge,
                        format!("body is over the size limit of {max} bytes"),
                    )
                    .about(Setting::MaxBytes));
                }
                if let Some(file) = &mut streamed {
                    Box::pin(file.write(chunk)).await?;
                } else if keep {
                    body.extend_from_slice(chunk);
                }
            }
            let mut encoding = None;
            match sent {
                Sent::AsIs => {}
                Sent::Encoded(coding) => {
                    let wire = std::mem::take(&mut body);
                    bytes = decode(coding, &wire, max, wanted.then_some(&mut body)).map_err(
                        |e| match e {
                            DecodeError::TooLarge => fail(
                                Kind::BodyTooLarge,
                                format!(
                                    "decoded body is over the size limit of {max} bytes ({} {} bytes on the wire)",
                                    wire.len(),
                                    coding.name()
                                ),
                            )
                            .about(Setting::MaxBytes),
                            DecodeError::Corrupt(message) => fail(Kind::Body, message),
                        },
                    )?;
                    encoding = Some(Box::new(Encoding {
                        name: coding.name().to_owned(),
                        wire_bytes: Some(wire.len() as u64),
                    }));
                }
                Sent::Named(name) => {
                    encoding = Some(Box::new(Encoding {
                        name: name.into(),
                        wire_bytes: None,
                    }))
                }
            }
            let saved = match (&self.shared.config.save_dir, streamed) {
                (_, Some(file)) => Some(Box::pin(file.finish()).await?),
                (Some(dir), None) => {
                    let path = dir.join(format!("{index}.body"));
                    // Boxed, as the redirect chain is: a rare path, kept out
                    // of every request's future.
                    Box::pin(tokio::fs::write(&path, &body))
                        .await
                        .map_err(|e| {
                            fail(Kind::Save, format!("cannot write {}: {e}", path.display()))
                        })?;
                    Some(path)
                }
                (None, None) => None,
            };
            let page = Page {
                final_url: landed.url().as_str().to_owned(),
                status,
                version,
                bytes,
                encoding,
                body: self.shared.config.body.then_some(body),
                saved,
                headers,
                history: landed.into_hops(),
                elapsed: Duration::ZERO,
                retries: 0,
            };
            Ok((page, after))
        }
    }
}
