//! The items of `requests`: a URL string, a dict of request fields, or a
//! [`Request`], each read into what the engine sends.
//!
//! A dict has the fields of a `gather fetch` JSON Lines request (the
//! engine's request format, `gather_http::RequestFields`, whose docs list
//! them), so a line of such a file (an OpenAI Batch API input, say) loaded
//! with `json.loads` is an item as it is. This file reads a dict's values
//! into those fields (a `json` or `body` value encoded with `json.dumps`,
//! a `bytes` body sent as it is); the rules, and every message of a
//! refusal, are the engine's, shared with the command line.
//!
//! An item that cannot be sent (not a URL, not http or https, an unknown
//! field, two bodies) is not an error of the whole call: it is that item's
//! failure, at its index, as `aiohttp` raises `InvalidURL` from the one
//! `session.get()` whose URL is bad. So a list with one bad line still gets
//! every other result, and `return_exceptions=True` shows which.

use std::borrow::Cow;

use gather_http::client::Payload;
use gather_http::{BodyGiven, FetchError, RequestFields, UrlParser};
use pyo3::prelude::*;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyInt, PyList, PyMapping, PyString, PyTuple,
};
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
    #[pyo3(signature = (url, *, method = None, headers = None, json = None, body = None, body_text = None, body_base64 = None, id = None, tokens = None, timeout = None, params = None))]
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
        timeout: Option<Bound<'_, PyAny>>,
        params: Option<Bound<'_, PyAny>>,
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
            ("timeout", timeout),
            ("params", params),
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

/// The fields of a dict item, read into the engine's.
fn read_dict(dict: &Bound<'_, PyDict>) -> Result<Read, FetchError> {
    for key in dict.keys() {
        let known = key
            .extract::<String>()
            .ok()
            .and_then(|k| RequestFields::known(&k));
        if known.is_none() {
            let name = key
                .str()
                .map_or_else(|_| type_name(&key), |k| k.to_string());
            return Err(RequestFields::unknown(&name));
        }
    }
    let get = |name: &str| dict.get_item(name).ok().flatten().filter(|v| !v.is_none());
    let string = |name: &str| -> Result<Option<String>, FetchError> {
        match get(name) {
            None => Ok(None),
            Some(v) if v.is_instance_of::<PyString>() => Ok(Some(v.to_string())),
            Some(_) => Err(RequestFields::wrong_type(name)),
        }
    };
    let mut fields = RequestFields::default();
    fields.url = string("url")?.map(Cow::Owned);
    if let Some(given) = get("params") {
        fields.params = params(&given).map_err(|_| RequestFields::wrong_type("params"))?;
    }
    let id = get("id").or_else(|| get("custom_id")).map(Bound::unbind);
    if let Some(given) = get("headers") {
        let mapping = given
            .cast::<PyMapping>()
            .map_err(|_| RequestFields::wrong_type("headers"))?;
        let items = mapping
            .items()
            .map_err(|_| RequestFields::wrong_type("headers"))?;
        for pair in items.iter() {
            let (name, value) = pair
                .extract::<(String, String)>()
                .map_err(|_| RequestFields::wrong_type("headers"))?;
            fields.headers.push((name.into(), value.into()));
        }
    }
    for name in ["body", "json", "body_text", "body_base64"] {
        if let Some(value) = get(name) {
            let body = body(dict.py(), name, &value)?;
            fields.give_body(name, body);
        }
    }
    fields.method = string("method")?.map(Cow::Owned);
    if let Some(t) = get("tokens") {
        let tokens = t
            .extract::<u32>()
            .ok()
            .filter(|_| !t.is_instance_of::<PyBool>())
            .ok_or_else(|| RequestFields::wrong_type("tokens"))?;
        fields.tokens = Some(tokens);
    }
    if let Some(t) = get("timeout") {
        let seconds = t
            .extract::<f64>()
            .ok()
            .filter(|_| !t.is_instance_of::<PyBool>())
            .ok_or_else(|| RequestFields::wrong_type("timeout"))?;
        fields.set_timeout(seconds)?;
    }
    let (url, payload) = fields.into_parts()?;
    Ok(Read {
        url: url.into_owned(),
        id,
        payload,
    })
}

/// `params`: a mapping, or a sequence of `(name, value)` pairs (as
/// httpx, requests and aiohttp take them); each value a `str`, an `int`, a
/// `float` or a `bool` (`true`, `false`: as JSON and httpx write it), or a
/// list or tuple of them (the name once per value).
fn params(given: &Bound<'_, PyAny>) -> PyResult<Vec<(Cow<'static, str>, Cow<'static, str>)>> {
    let pairs = match given.cast::<PyMapping>() {
        Ok(mapping) => mapping.items()?.into_any(),
        Err(_) if given.is_instance_of::<PyString>() => {
            return Err(pyo3::exceptions::PyTypeError::new_err("a str"));
        }
        Err(_) => given.clone(),
    };
    let mut params = Vec::new();
    for pair in pairs.try_iter()? {
        let (name, value) = pair?.extract::<(String, Bound<'_, PyAny>)>()?;
        let many = value.is_instance_of::<PyList>() || value.is_instance_of::<PyTuple>();
        let values = match many {
            true => value.try_iter()?.collect::<PyResult<Vec<_>>>()?,
            false => vec![value],
        };
        for value in values {
            params.push((Cow::Owned(name.clone()), Cow::Owned(param_text(&value)?)));
        }
    }
    Ok(params)
}

/// One query parameter's value as text.
fn param_text(value: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(b) = value.cast::<PyBool>() {
        return Ok(if b.is_true() { "true" } else { "false" }.to_owned());
    }
    if value.is_instance_of::<PyString>()
        || value.is_instance_of::<PyInt>()
        || value.is_instance_of::<PyFloat>()
    {
        return Ok(value.str()?.to_string());
    }
    Err(pyo3::exceptions::PyTypeError::new_err(
        "not a parameter value",
    ))
}

/// The body given as `name`, in the engine's words: `json` (and a `body`
/// that is not bytes) as the JSON text `json.dumps` makes of it.
fn body(
    py: Python<'_>,
    name: &str,
    value: &Bound<'_, PyAny>,
) -> Result<BodyGiven<'static>, FetchError> {
    match name {
        "body_text" | "body_base64" => {
            let text = value
                .cast::<PyString>()
                .map_err(|_| RequestFields::wrong_type(name))?;
            let text = Cow::Owned(text.to_string());
            Ok(match name {
                "body_text" => BodyGiven::Text(text),
                _ => BodyGiven::Base64(text),
            })
        }
        _ => {
            if name == "body" {
                if let Ok(b) = value.cast::<PyBytes>() {
                    return Ok(BodyGiven::Bytes(b.as_bytes().to_vec()));
                }
                if let Ok(b) = value.cast::<PyByteArray>() {
                    return Ok(BodyGiven::Bytes(b.to_vec()));
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
            Ok(BodyGiven::Json(Cow::Owned(text)))
        }
    }
}
