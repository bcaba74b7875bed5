//! The items of `requests`: a URL string, a dict of request fields, or a
//! [`Request`], each read into what the engine sends.
//!
//! A dict has the fields of a `gather fetch` JSON Lines request, so a
//! line of such a file (an OpenAI Batch API input, say) loaded with
//! `json.loads` is an item as it is:
//!
//! | field | meaning |
//! |---|---|
//! | `url` | absolute, http or https (required) |
//! | `id` (or `custom_id`) | handed back as `Response.id` and the error's `id` |
//! | `method` | default GET, or POST when a body is given |
//! | `headers` | this request's own fields, over the run's |
//! | `json` or `body` | a body sent as JSON (`Content-Type: application/json` unless given); a `bytes` `body` is sent as it is |
//! | `body_text` | a body sent as the text's UTF-8 |
//! | `body_base64` | a body given in base64, sent decoded |
//!
//! An item that cannot be sent (not a URL, not http or https, an unknown
//! field, two bodies) is not an error of the whole call: it is that item's
//! failure, at its index, as `aiohttp` raises `InvalidURL` from the one
//! `session.get()` whose URL is bad. So a list with one bad line still gets
//! every other result, and `return_exceptions=True` shows which.

use gather_http::client::{header_field, BodyField, Payload, MAX_TOKENS_FIELDS};
use gather_http::FetchError;
use gather_http::UrlParser;
use http::header::HeaderMap;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyMapping, PyString};
use url::Url;

/// One request, as `fetch()` takes it besides a URL string or a dict.
///
/// ```python
/// Request("https://api.example.com/v1/items", method="POST", json={"name": "a"}, id="a")
/// ```
#[pyclass(frozen, module = "gather_fetch")]
pub struct Request {
    /// The fields given, as a dict item would have them (for `repr`).
    fields: Py<PyDict>,
    /// What they say, read once when it is made (a JSON body is encoded
    /// then, not again for each call it is given to).
    url: String,
    id: Option<Py<PyAny>>,
    payload: Option<Payload>,
}

#[pymethods]
impl Request {
    #[new]
    #[pyo3(signature = (url, *, method = None, headers = None, json = None, body = None, body_text = None, body_base64 = None, id = None, tokens = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        url: Bound<'_, PyAny>,
        method: Option<Bound<'_, PyAny>>,
        headers: Option<Bound<'_, PyAny>>,
        json: Option<Bound<'_, PyAny>>,
        body: Option<Bound<'_, PyAny>>,
        body_text: Option<Bound<'_, PyAny>>,
        body_base64: Option<Bound<'_, PyAny>>,
        id: Option<Bound<'_, PyAny>>,
        tokens: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Request> {
        if !url.is_instance_of::<PyString>() {
            return Err(pyo3::exceptions::PyTypeError::new_err(format!(
                "url must be a str, not {}",
                url.get_type().name()?
            )));
        }
        let fields = PyDict::new(py);
        fields.set_item("url", url)?;
        for (name, value) in [
            ("method", method),
            ("headers", headers),
            ("json", json),
            ("body", body),
            ("body_text", body_text),
            ("body_base64", body_base64),
            ("id", id),
            ("tokens", tokens),
        ] {
            if let Some(value) = value {
                fields.set_item(name, value)?;
            }
        }
        // Read now, so a bad Request fails where it is made.
        let read = read_dict(&fields)
            .map_err(|refused| pyo3::exceptions::PyValueError::new_err(refused.message))?;
        Ok(Request {
            fields: fields.unbind(),
            url: read.url,
            id: read.id,
            payload: read.payload,
        })
    }

    #[getter]
    fn url(&self) -> &str {
        &self.url
    }

    #[getter]
    fn id(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.id.as_ref().map(|id| id.clone_ref(py))
    }

    #[getter]
    fn method(&self) -> &str {
        self.payload.as_ref().map_or("GET", |p| p.method().as_str())
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let fields = self.fields.bind(py);
        let mut parts = vec![fields.get_item("url")?.map_or_else(String::new, |u| {
            u.repr().map_or_else(|_| String::new(), |r| r.to_string())
        })];
        for (key, value) in fields.iter() {
            let key = key.to_string();
            if key != "url" {
                parts.push(format!("{key}={}", value.repr()?));
            }
        }
        Ok(format!("Request({})", parts.join(", ")))
    }
}

/// Why an item is not sent: an `invalid_request` failure at its index.
fn refused(message: String) -> FetchError {
    FetchError::immediate(gather_http::Kind::InvalidRequest, message)
}

/// An item, read.
pub struct Item {
    pub url: Result<Url, FetchError>,
    /// The method, fields and body, unless it is a plain GET.
    pub payload: Option<Payload>,
    /// The URL as given (or the item's `repr`, when it has none), for the
    /// failure's `url`.
    pub given: String,
    pub id: Option<Py<PyAny>>,
}

/// The dict keys an item may have.
const KEYS: [&str; 10] = [
    "url",
    "id",
    "custom_id",
    "method",
    "headers",
    "json",
    "body",
    "body_text",
    "body_base64",
    "tokens",
];

/// What a dict (or a `Request`'s fields) says.
struct Read {
    url: String,
    id: Option<Py<PyAny>>,
    payload: Option<Payload>,
}

/// Reads one item of `requests`.
pub fn read(item: &Bound<'_, PyAny>, urls: &mut UrlParser, base: Option<&Url>) -> Item {
    let read = if let Ok(url) = item.cast::<PyString>() {
        Ok(Read {
            url: url.to_string(),
            id: None,
            payload: None,
        })
    } else if let Ok(request) = item.cast::<Request>() {
        let request = request.get();
        Ok(Read {
            url: request.url.clone(),
            id: request.id.as_ref().map(|id| id.clone_ref(item.py())),
            payload: request.payload.clone(),
        })
    } else if let Ok(dict) = item.cast::<PyDict>() {
        read_dict(dict)
    } else {
        Err(refused(format!(
            "a request is a URL (str), a dict or a gather_fetch.Request, not {}",
            type_name(item)
        )))
    };
    match read {
        Ok(Read { url, id, payload }) => Item {
            url: parse(urls, &url, base),
            payload,
            given: url,
            id,
        },
        Err(refused) => Item {
            given: item
                .cast::<PyDict>()
                .ok()
                .and_then(|d| d.get_item("url").ok().flatten())
                .map_or_else(
                    || {
                        item.repr()
                            .map_or_else(|_| String::new(), |r| r.to_string())
                    },
                    |u| u.to_string(),
                ),
            url: Err(refused),
            payload: None,
            id: item
                .cast::<PyDict>()
                .ok()
                .and_then(|d| d.get_item("id").ok().flatten())
                .map(Bound::unbind),
        },
    }
}

/// `text`'s URL, relative to `base_url` when one is given.
fn parse(urls: &mut UrlParser, text: &str, base: Option<&Url>) -> Result<Url, FetchError> {
    urls.parse_from(text, base)
        .map_err(|e| FetchError::immediate(e.kind(), e.message()))
}

fn type_name(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .name()
        .map_or_else(|_| "?".to_owned(), |n| n.to_string())
}

/// The fields of a dict item.
fn read_dict(dict: &Bound<'_, PyDict>) -> Result<Read, FetchError> {
    let py = dict.py();
    for key in dict.keys() {
        let known = key
            .extract::<String>()
            .is_ok_and(|k| KEYS.contains(&k.as_str()));
        if !known {
            return Err(refused(format!(
                "unknown field {key} (a request has {})",
                KEYS.join(", ")
            )));
        }
    }
    let get = |name: &str| dict.get_item(name).ok().flatten().filter(|v| !v.is_none());
    let url = match get("url") {
        Some(url) if url.is_instance_of::<PyString>() => url.to_string(),
        Some(url) => {
            return Err(refused(format!(
                "\"url\" must be a str, not {}",
                type_name(&url)
            )))
        }
        None => return Err(refused("no \"url\"".to_owned())),
    };
    let id = get("id").or_else(|| get("custom_id")).map(Bound::unbind);
    let mut headers = HeaderMap::new();
    if let Some(given) = get("headers") {
        let mapping = given.cast::<PyMapping>().map_err(|_| {
            refused(format!(
                "\"headers\" must be a dict, not {}",
                type_name(&given)
            ))
        })?;
        let items = mapping
            .items()
            .map_err(|e| refused(format!("\"headers\": {e}")))?;
        for pair in items.iter() {
            let (name, value) = pair
                .extract::<(String, String)>()
                .map_err(|_| refused("\"headers\" must map str names to str values".to_owned()))?;
            let (name, value) =
                header_field(&name, &value).map_err(|e| refused(format!("\"headers\": {e}")))?;
            headers.append(name, value);
        }
    }
    let bodies: Vec<&str> = ["json", "body", "body_text", "body_base64"]
        .into_iter()
        .filter(|name| get(name).is_some())
        .collect();
    if bodies.len() > 1 {
        return Err(refused(format!(
            "two bodies ({}): give one of json, body, body_text, body_base64",
            bodies.join(" and ")
        )));
    }
    let body = match bodies.first().copied() {
        None => None,
        Some(name) => {
            let value = get(name).expect("present");
            Some(body(py, name, &value)?)
        }
    };
    let method = match get("method") {
        None => None,
        Some(m) => Some(
            m.extract::<String>()
                .map_err(|_| refused(format!("\"method\" must be a str, not {}", type_name(&m))))?
                .to_ascii_uppercase(),
        ),
    };
    let tokens = match get("tokens") {
        None => None,
        Some(t) => Some(
            t.extract::<u32>()
                .ok()
                .filter(|_| !t.is_instance_of::<pyo3::types::PyBool>())
                .ok_or_else(|| {
                    refused(format!(
                        "\"tokens\" must be a whole number of tokens, not {}",
                        t.repr().map_or_else(|_| type_name(&t), |r| r.to_string())
                    ))
                })?,
        ),
    };
    let payload = Payload::from_fields(method.as_deref(), headers, body)
        .map_err(|e| refused(format!("\"method\": {e}")))?
        .map(|p| match tokens {
            Some(tokens) => p.with_weight(tokens),
            None => p.with_asked_tokens(asked_tokens(get("json").or_else(|| get("body")))),
        });
    Ok(Read { url, id, payload })
}

/// What a JSON body (a dict) asks to generate at most: its first of
/// [`MAX_TOKENS_FIELDS`] that is a whole number, else 0.
fn asked_tokens(body: Option<Bound<'_, PyAny>>) -> u64 {
    let Some(body) = body else { return 0 };
    let Ok(body) = body.cast::<PyDict>() else {
        return 0;
    };
    MAX_TOKENS_FIELDS
        .into_iter()
        .find_map(|name| body.get_item(name).ok()??.extract::<u64>().ok())
        .unwrap_or(0)
}

/// The body given as `name`.
fn body(py: Python<'_>, name: &str, value: &Bound<'_, PyAny>) -> Result<BodyField, FetchError> {
    let raw = |v: &Bound<'_, PyAny>| -> Option<Vec<u8>> {
        if let Ok(b) = v.cast::<PyBytes>() {
            return Some(b.as_bytes().to_vec());
        }
        v.cast::<PyByteArray>().ok().map(|b| b.to_vec())
    };
    match name {
        "body_text" => value
            .extract::<String>()
            .map(|text| BodyField::Raw(text.into_bytes()))
            .map_err(|_| {
                refused(format!(
                    "\"body_text\" must be a str, not {}",
                    type_name(value)
                ))
            }),
        "body_base64" => {
            let text = value.extract::<String>().map_err(|_| {
                refused(format!(
                    "\"body_base64\" must be a str, not {}",
                    type_name(value)
                ))
            })?;
            let decoded = py
                .import("base64")
                .and_then(|b| {
                    let kwargs = PyDict::new(py);
                    kwargs.set_item("validate", true)?;
                    b.call_method("b64decode", (text,), Some(&kwargs))
                })
                .map_err(|e| refused(format!("\"body_base64\" is not base64: {e}")))?;
            raw(&decoded)
                .map(BodyField::Raw)
                .ok_or_else(|| refused("\"body_base64\" did not decode to bytes".to_owned()))
        }
        _ => {
            if name == "body" {
                if let Some(bytes) = raw(value) {
                    return Ok(BodyField::Raw(bytes));
                }
            }
            let text: String = py
                .import("json")
                .and_then(|j| {
                    let kwargs = PyDict::new(py);
                    kwargs.set_item("separators", (",", ":"))?;
                    kwargs.set_item("ensure_ascii", false)?;
                    j.call_method("dumps", (value,), Some(&kwargs))?.extract()
                })
                .map_err(|e| refused(format!("{name:?} cannot be sent as JSON: {e}")))?;
            Ok(BodyField::Json(text.into_bytes()))
        }
    }
}
