//! The items of `requests`: a URL string, a dict of request fields, or a
//! [`Request`], each read into what the engine fetches.
//!
//! An item that cannot be fetched (not a URL, not http or https, a field
//! this version does not send) is not an error of the whole call: it is
//! that item's failure, at its index, as `aiohttp` raises `InvalidURL` from
//! the one `session.get()` whose URL is bad. So a list with one bad line
//! still gets every other result, and `return_exceptions=True` shows which.

use gather_http::urls::UrlParser;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use url::Url;

/// One request, as `fetch()` takes it besides a plain URL string.
///
/// ```python
/// Request("https://example.com/a", id="a")
/// ```
#[pyclass(frozen, module = "gather_fetch")]
pub struct Request {
    /// The URL, absolute, http or https.
    #[pyo3(get)]
    url: Py<PyAny>,
    /// Anything; handed back as `Response.id` and the error's `id`.
    #[pyo3(get)]
    id: Option<Py<PyAny>>,
}

#[pymethods]
impl Request {
    #[new]
    #[pyo3(signature = (url, *, id = None))]
    fn new(url: Bound<'_, PyAny>, id: Option<Py<PyAny>>) -> PyResult<Request> {
        if !url.is_instance_of::<PyString>() {
            return Err(pyo3::exceptions::PyTypeError::new_err(format!(
                "url must be a str, not {}",
                url.get_type().name()?
            )));
        }
        Ok(Request {
            url: url.unbind(),
            id,
        })
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let url = self.url.bind(py).repr()?;
        Ok(match &self.id {
            Some(id) => format!("Request({url}, id={})", id.bind(py).repr()?),
            None => format!("Request({url})"),
        })
    }
}

/// Why an item is not fetched: its failure's kind and message.
#[derive(Debug, Clone)]
pub struct Refused {
    pub kind: &'static str,
    pub message: String,
}

/// An item, read.
pub struct Item {
    pub url: Result<Url, Refused>,
    /// The URL as given (or the item's `repr`, when it has none), for the
    /// failure's `url`.
    pub given: String,
    pub id: Option<Py<PyAny>>,
}

/// The dict keys an item may have. `custom_id` is `id` by its name in
/// OpenAI's Batch API files.
const KEYS: [&str; 4] = ["url", "id", "custom_id", "method"];

/// Reads one item of `requests`.
pub fn read(item: &Bound<'_, PyAny>, urls: &mut UrlParser) -> Item {
    match fields(item) {
        Ok((given, id)) => Item {
            url: urls.parse(&given).map_err(|e| Refused {
                kind: e.kind().as_str(),
                message: e.message(),
            }),
            given,
            id,
        },
        Err(refused) => Item {
            given: item
                .repr()
                .map_or_else(|_| String::new(), |r| r.to_string()),
            url: Err(refused),
            id: None,
        },
    }
}

/// The URL and id of an item.
fn fields(item: &Bound<'_, PyAny>) -> Result<(String, Option<Py<PyAny>>), Refused> {
    let refused = |message: String| Refused {
        kind: "invalid_request",
        message,
    };
    if let Ok(url) = item.cast::<PyString>() {
        return Ok((url.to_string(), None));
    }
    if let Ok(request) = item.cast::<Request>() {
        let request = request.get();
        return Ok((
            request.url.to_string(),
            request.id.as_ref().map(|id| id.clone_ref(item.py())),
        ));
    }
    let Ok(dict) = item.cast::<PyDict>() else {
        let kind = item
            .get_type()
            .name()
            .map_or_else(|_| "?".to_owned(), |n| n.to_string());
        return Err(refused(format!(
            "a request is a URL (str), a dict or a gather_fetch.Request, not {kind}"
        )));
    };
    for key in dict.keys() {
        let known = key
            .extract::<String>()
            .is_ok_and(|k| KEYS.contains(&k.as_str()));
        if !known {
            return Err(refused(match key.to_string().as_str() {
                k @ ("headers" | "body" | "json" | "body_text" | "body_base64") => format!(
                    "{k:?}: requests with their own headers or bodies are not sent by this \
                     version (GET only; headers= sets headers for every request)"
                ),
                k => format!("unknown field {k:?} (a request has url, id, method)"),
            }));
        }
    }
    let url = match dict.get_item("url").ok().flatten() {
        Some(url) if url.is_instance_of::<PyString>() => url.to_string(),
        Some(url) => {
            return Err(refused(format!(
                "\"url\" must be a str, not {}",
                url.get_type()
                    .name()
                    .map_or_else(|_| "?".to_owned(), |n| n.to_string())
            )))
        }
        None => return Err(refused("no \"url\"".to_owned())),
    };
    if let Some(method) = dict.get_item("method").ok().flatten() {
        let is_get = method
            .extract::<String>()
            .is_ok_and(|m| m.eq_ignore_ascii_case("GET"));
        if !is_get {
            return Err(refused(format!(
                "method {method}: this version sends GET only"
            )));
        }
    }
    let id = match dict.get_item("id").ok().flatten() {
        Some(id) => Some(id),
        None => dict.get_item("custom_id").ok().flatten(),
    };
    Ok((url, id.map(Bound::unbind)))
}
