//! What a front door hands a run: a [`Job`] per request, as it read it.

use std::sync::Arc;

use url::Url;

use crate::client::Payload;
use crate::error::FetchError;

/// Where a request goes and what it sends (no payload: a GET).
#[derive(Debug, Clone)]
pub struct Request {
    pub url: Url,
    pub payload: Option<Arc<Payload>>,
}

/// One request of a run, as a front door read it: the request, or why it
/// cannot be sent (its failure, at its position), and `M`, what the front
/// door keeps with it until its result comes back.
#[derive(Debug)]
pub struct Job<M> {
    /// Its place in the whole input (a shard's jobs skip others'): what
    /// names a body saved under `save_dir`.
    pub index: usize,
    pub request: Result<Request, FetchError>,
    pub meta: M,
}
