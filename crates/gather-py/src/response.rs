//! What a request gives back: a [`Response`] (any HTTP status, as
//! `aiohttp` and `httpx` give one), or a [`Failure`] that the Python layer
//! raises or returns as the matching `FetchError`.
//!
//! Both are made on the event loop's thread when their batch is taken, and
//! hold the engine's values as they are: the body becomes `bytes`, the
//! headers a mapping, the elapsed time a `timedelta` only when asked for,
//! so a run whose caller reads only `.status` pays for no copies.

use std::collections::HashMap;
use std::time::Duration;

use gather_http::{FetchError, Fields, Page};

use crate::options;
use pyo3::exceptions::{PyKeyError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyList, PyString, PyTuple};

/// The answer to one request.
#[pyclass(module = "gather_fetch")]
pub struct Response {
    /// The position of its request in `requests`.
    #[pyo3(get)]
    index: usize,
    /// Its request's `id`, when it had one.
    #[pyo3(get)]
    id: Option<Py<PyAny>>,
    /// The HTTP status.
    #[pyo3(get)]
    status: u16,
    /// The URL that answered (after redirects).
    #[pyo3(get)]
    url: String,
    /// Retries it took (`retries=`).
    #[pyo3(get)]
    retries: u32,
    version: gather_http::Version,
    elapsed: Duration,
    saved: Option<String>,
    body: Body,
    headers: Option<Py<Headers>>,
    fields: Option<Fields>,
    /// The redirects on the way, as the engine saw them.
    hops: Vec<gather_http::Hop>,
}

/// A redirect on the way to a response (`Response.history`): its status
/// and the URL that answered with it.
#[pyclass(frozen, module = "gather_fetch", get_all)]
pub struct Redirect {
    /// The redirect's status (301, 302, 303, 307, 308).
    status: u16,
    /// The URL that answered with it.
    url: String,
}

#[pymethods]
impl Redirect {
    /// The status's reason phrase (`"Found"`).
    #[getter]
    fn reason(&self) -> &'static str {
        reason(self.status)
    }

    fn __repr__(&self) -> String {
        format!("<Redirect [{}] {}>", self.status, self.url)
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<Redirect>()
            .is_ok_and(|o| o.get().status == self.status && o.get().url == self.url)
    }

    fn __hash__(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (self.status, &self.url).hash(&mut h);
        h.finish()
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyAny>, (u16, String))> {
        let this = slf.get();
        Ok((slf.get_type().into_any(), (this.status, this.url.clone())))
    }

    #[new]
    fn new(status: u16, url: String) -> Redirect {
        Redirect { status, url }
    }
}

/// RFC 9110's reason phrase for `status`, `""` for one it does not name.
fn reason(status: u16) -> &'static str {
    http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("")
}

/// The body: `bytes`, made when the response is (so `r.content is
/// r.content`), the `str` that replaced them, or both once decoded by
/// another charset.
///
/// Made at once on the loop's thread rather than kept as the engine's
/// buffer: that buffer was allocated by an engine thread, in that
/// thread's malloc arena, where Python's later `str`s cannot reuse it.
/// Copied into `bytes` as each batch is taken, it goes back to the engine
/// for the next bodies, and a page read as text (`bytes` then `str`, both
/// Python's) is held once: 250 MB became 160 MB over 20,000 pages of
/// 5.4 KB read as text.
enum Body {
    Given(Py<PyBytes>),
    /// Decoded as UTF-8 without a loss: the `str` handed out by `.text`,
    /// and the only copy kept (`.content` encodes it again, to the same
    /// bytes), so a page read as text is held once, as aiohttp's is.
    Text(Py<PyString>),
    /// Decoded by another charset, or with replacements: the `bytes` as
    /// sent, and the `str` `.text` hands out again (made once, as httpx's
    /// `.text` is).
    Decoded {
        bytes: Py<PyBytes>,
        text: Py<PyString>,
    },
}

impl Response {
    pub fn new(py: Python<'_>, index: usize, id: Option<Py<PyAny>>, page: Page) -> Response {
        Response {
            index,
            id,
            status: page.status,
            url: page.final_url,
            retries: page.retries,
            version: page.version,
            elapsed: page.elapsed,
            saved: page.saved.map(|p| p.display().to_string()),
            body: Body::Given(PyBytes::new(py, page.body.as_deref().unwrap_or_default()).unbind()),
            headers: None,
            fields: page.headers,
            hops: page.history.map(|h| *h).unwrap_or_default(),
        }
    }

    /// The charset the answer's `Content-Type` names, if any (read where
    /// it is: `.text` asks on every page, and most say none or UTF-8).
    fn charset(&self) -> Option<&str> {
        let value = self.fields.as_ref()?.get("content-type")?;
        let value = std::str::from_utf8(value).ok()?;
        value.split(';').skip(1).find_map(|param| {
            let (name, v) = param.split_once('=')?;
            name.trim()
                .eq_ignore_ascii_case("charset")
                .then(|| v.trim().trim_matches('"'))
        })
    }
}

#[pymethods]
impl Response {
    /// The HTTP version of the answer: `"1.0"`, `"1.1"` or `"2"`.
    #[getter]
    fn http_version(&self) -> &'static str {
        self.version.as_str()
    }

    /// The time the request took, as a `datetime.timedelta` (time queued
    /// for a turn under `limit`, `per_host` or `rate` is not counted).
    #[getter]
    fn elapsed<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let delta = py.import("datetime")?.getattr("timedelta")?;
        delta.call(
            (0, self.elapsed.as_secs(), self.elapsed.subsec_micros()),
            None,
        )
    }

    /// Where the body was written (`save_dir=`), else `None`.
    #[getter]
    fn saved(&self) -> Option<&str> {
        self.saved.as_deref()
    }

    /// `True` for a status under 400.
    #[getter]
    fn ok(&self) -> bool {
        self.status < 400
    }

    /// The body, as `bytes` (decompressed, unless `decompress=False`;
    /// empty when it was saved to `save_dir`).
    #[getter]
    fn content(&mut self, py: Python<'_>) -> Py<PyBytes> {
        match &mut self.body {
            Body::Given(bytes) | Body::Decoded { bytes, .. } => bytes.clone_ref(py),
            Body::Text(text) => {
                let bytes = PyBytes::new(py, text.bind(py).to_string().as_bytes()).unbind();
                self.body = Body::Given(bytes.clone_ref(py));
                bytes
            }
        }
    }

    /// The charset of the body: `Content-Type`'s, else `"utf-8"`.
    #[getter]
    fn encoding(&self) -> String {
        self.charset().unwrap_or("utf-8").to_owned()
    }

    /// The body decoded by [`encoding`](Self::encoding) (an unknown charset
    /// reads as UTF-8; bytes that do not decode become U+FFFD).
    #[getter]
    fn text<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        if let Body::Text(text) | Body::Decoded { text, .. } = &self.body {
            return Ok(text.bind(py).clone().into_any());
        }
        let utf8 = self.charset().is_none_or(|charset| {
            charset.eq_ignore_ascii_case("utf-8") || charset.eq_ignore_ascii_case("utf8")
        });
        if let (true, Body::Given(bytes)) = (utf8, &self.body) {
            // Decoded by Python's own UTF-8 decoder, straight from the
            // `bytes`: checked by Rust first, every page was read twice.
            if let Ok(text) = PyString::from_encoded_object(bytes.bind(py).as_any(), None, None) {
                self.body = Body::Text(text.clone().unbind());
                return Ok(text.into_any());
            }
        }
        let content = self.content(py).into_bound(py);
        let text = match content.call_method1("decode", (self.encoding(), "replace")) {
            Ok(text) => text,
            Err(e) if e.is_instance_of::<pyo3::exceptions::PyLookupError>(py) => {
                content.call_method1("decode", ("utf-8", "replace"))?
            }
            Err(e) => return Err(e),
        };
        if let Ok(decoded) = text.cast::<PyString>() {
            self.body = Body::Decoded {
                bytes: content.unbind(),
                text: decoded.clone().unbind(),
            };
        }
        Ok(text)
    }

    /// The body parsed as JSON (`json.loads`); raises `ValueError`
    /// (`json.JSONDecodeError`) when it is not JSON.
    fn json<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let content = self.content(py);
        py.import("json")?.call_method1("loads", (content,))
    }

    /// The answer's header fields: a read-only mapping, names looked up
    /// without regard to case.
    #[getter]
    fn headers(&mut self, py: Python<'_>) -> PyResult<Py<Headers>> {
        if let Some(headers) = &self.headers {
            return Ok(headers.clone_ref(py));
        }
        // Indexed from the response's fields, which stay its own: taken
        // from it, `.encoding` and `.text` forgot a Latin-1 page's charset
        // once `.headers` was read.
        let headers = Py::new(py, Headers::new(self.fields.as_ref()))?;
        self.headers = Some(headers.clone_ref(py));
        Ok(headers)
    }

    /// Raises `gather_fetch.StatusError` for a status of 400 or more, as
    /// `httpx`'s and `aiohttp`'s `raise_for_status()` do; else returns the
    /// response, as httpx's does, so that a call chains
    /// (`client.get(url)` then `.raise_for_status().json()`).
    fn raise_for_status<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, Self>> {
        let py = slf.py();
        let this = slf.borrow();
        if this.status < 400 {
            return Ok(slf.clone());
        }
        let kwargs = PyDict::new(py);
        kwargs.set_item("kind", "status")?;
        kwargs.set_item("index", this.index)?;
        kwargs.set_item("url", &this.url)?;
        kwargs.set_item("id", &this.id)?;
        kwargs.set_item("response", slf)?;
        let class = py.import("gather_fetch")?.getattr("StatusError")?;
        let error = class.call((format!("HTTP status {}", this.status),), Some(&kwargs))?;
        Err(PyErr::from_value(error))
    }

    /// The status's reason phrase (`"Not Found"`), as RFC 9110 names it;
    /// `""` for a status it does not name. (HTTP/2 sends none, and
    /// HTTP/1.1's is free text: httpx reads the standard one too.)
    #[getter]
    fn reason(&self) -> &'static str {
        reason(self.status)
    }

    /// The redirects on the way to this answer, in order (`[]` for an
    /// answer reached directly): each a `Redirect` with its `status` and
    /// the `url` that answered with it. (httpx gives each as a
    /// `Response`; a redirect's body is read and dropped here.)
    #[getter]
    fn history(&self, py: Python<'_>) -> PyResult<Vec<Py<Redirect>>> {
        self.hops
            .iter()
            .map(|hop| {
                Py::new(
                    py,
                    Redirect {
                        status: hop.status,
                        url: hop.url.clone(),
                    },
                )
            })
            .collect()
    }

    fn __repr__(&self) -> String {
        format!("<Response [{}] {}>", self.status, self.url)
    }

    /// Pickles (for `multiprocessing`, `concurrent.futures`, joblib,
    /// caches) as `gather_fetch._restore_response(state)`: the body, the
    /// fields and every attribute, nothing of the engine's.
    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> PyResult<(Bound<'py, PyAny>, (Bound<'py, PyTuple>,))> {
        let py = slf.py();
        let mut this = slf.borrow_mut();
        let content = this.content(py);
        let fields: Vec<(Vec<u8>, Vec<u8>)> = this
            .fields
            .iter()
            .flat_map(Fields::iter)
            .map(|(n, v)| (n.as_bytes().to_vec(), v.to_vec()))
            .collect();
        let elapsed = this.elapsed;
        let hops: Vec<(u16, String)> = this
            .hops
            .iter()
            .map(|h| (h.status, h.url.clone()))
            .collect();
        let state = PyTuple::new(
            py,
            [
                this.index.into_pyobject(py)?.into_any(),
                this.id
                    .as_ref()
                    .map(|id| id.bind(py).clone())
                    .into_pyobject(py)?
                    .into_any(),
                this.status.into_pyobject(py)?.into_any(),
                this.url.as_str().into_pyobject(py)?.into_any(),
                this.retries.into_pyobject(py)?.into_any(),
                this.version.as_str().into_pyobject(py)?.into_any(),
                (elapsed.as_secs(), elapsed.subsec_nanos())
                    .into_pyobject(py)?
                    .into_any(),
                this.saved.as_deref().into_pyobject(py)?.into_any(),
                content.into_bound(py).into_any(),
                fields.into_pyobject(py)?.into_any(),
                hops.into_pyobject(py)?.into_any(),
            ],
        )?;
        let restore = py.import("gather_fetch")?.getattr("_restore_response")?;
        Ok((restore, (state,)))
    }

    /// The response a pickle's `state` (from `__reduce__`) describes.
    #[staticmethod]
    #[allow(clippy::type_complexity)]
    fn _from_state(
        state: (
            usize,
            Option<Py<PyAny>>,
            u16,
            String,
            u32,
            String,
            (u64, u32),
            Option<String>,
            Py<PyBytes>,
            Vec<(Vec<u8>, Vec<u8>)>,
            Vec<(u16, String)>,
        ),
    ) -> PyResult<Response> {
        let (index, id, status, url, retries, version, (secs, nanos), saved, content, fields, hops) =
            state;
        let version = match version.as_str() {
            "1.0" => gather_http::Version::Http10,
            "1.1" => gather_http::Version::Http11,
            "2" => gather_http::Version::Http2,
            other => {
                return Err(PyValueError::new_err(format!(
                    "not an HTTP version: {other:?}"
                )))
            }
        };
        let count = fields.len();
        let map: Fields = fields.into_iter().collect();
        if map.len() != count {
            return Err(PyValueError::new_err(
                "a field name or value no HTTP field can carry",
            ));
        }
        Ok(Response {
            index,
            id,
            status,
            url,
            retries,
            version,
            elapsed: Duration::new(secs, nanos),
            saved,
            body: Body::Given(content),
            headers: None,
            fields: Some(map),
            hops: hops
                .into_iter()
                .map(|(status, url)| gather_http::Hop { status, url })
                .collect(),
        })
    }
}

/// A response's header fields: a read-only mapping whose names are looked
/// up without regard to case. A name sent more than once reads as its
/// values joined by `", "`; [`get_all`](Headers::get_all) gives them apart
/// (as `Set-Cookie` needs).
#[pyclass(frozen, module = "gather_fetch", mapping)]
pub struct Headers {
    /// Each name once, in the order it first came, with its values.
    named: Vec<Named>,
    /// Where each name is in `named`.
    at: HashMap<Box<str>, usize>,
}

/// A name and every value sent for it, in order.
struct Named {
    name: Box<str>,
    values: Vec<String>,
}

impl Headers {
    /// Indexed once, when `.headers` is first read, so that a lookup is a
    /// hash however many fields the server sent: a head may carry 25,000
    /// (300 KiB), and a scan per lookup would make `dict(headers)` take
    /// seconds. A run whose caller never reads `.headers` pays nothing.
    fn new(fields: Option<&Fields>) -> Headers {
        let mut named: Vec<Named> = Vec::new();
        let mut at: HashMap<Box<str>, usize> = HashMap::new();
        for (name, value) in fields.into_iter().flat_map(Fields::iter) {
            let value = String::from_utf8_lossy(value).into_owned();
            match at.get(name) {
                Some(&i) => named[i].values.push(value),
                None => {
                    at.insert(name.into(), named.len());
                    named.push(Named {
                        name: name.into(),
                        values: vec![value],
                    });
                }
            }
        }
        Headers { named, at }
    }

    /// The values sent for `name` (any case).
    fn find(&self, name: &str) -> Option<&Named> {
        let i = match name.bytes().any(|b| b.is_ascii_uppercase()) {
            true => self.at.get(name.to_ascii_lowercase().as_str()),
            false => self.at.get(name),
        };
        i.map(|&i| &self.named[i])
    }

    fn joined(&self, name: &str) -> Option<String> {
        self.find(name).map(|n| n.values.join(", "))
    }

    fn names(&self) -> Vec<&str> {
        self.named.iter().map(|n| &*n.name).collect()
    }

    /// Whether `other` (headers, or any mapping) has the same names and
    /// values; `None` when it is no mapping.
    fn equals(&self, other: &Bound<'_, PyAny>) -> PyResult<Option<bool>> {
        if let Ok(other) = other.cast::<Headers>() {
            let other = other.get();
            return Ok(Some(
                self.named.len() == other.named.len()
                    && self
                        .named
                        .iter()
                        .all(|n| other.find(&n.name).is_some_and(|o| o.values == n.values)),
            ));
        }
        let mapping = other.py().import("collections.abc")?.getattr("Mapping")?;
        if !other.is_instance(&mapping)? {
            return Ok(None);
        }
        if other.len()? != self.named.len() {
            return Ok(Some(false));
        }
        for item in other.call_method0("items")?.try_iter()? {
            let (name, value) = item?.extract::<(Bound<'_, PyAny>, Bound<'_, PyAny>)>()?;
            let same = match (name.extract::<String>(), value.extract::<String>()) {
                (Ok(name), Ok(value)) => self.joined(&name).as_deref() == Some(value.as_str()),
                _ => false,
            };
            if !same {
                return Ok(Some(false));
            }
        }
        Ok(Some(true))
    }
}

#[pymethods]
impl Headers {
    fn __getitem__(&self, name: &str) -> PyResult<String> {
        self.joined(name)
            .ok_or_else(|| PyKeyError::new_err(name.to_owned()))
    }

    fn __contains__(&self, name: &Bound<'_, PyAny>) -> bool {
        name.extract::<String>()
            .is_ok_and(|n| self.find(&n).is_some())
    }

    fn __len__(&self) -> usize {
        self.named.len()
    }

    fn __iter__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(PyList::new(py, self.names())?
            .try_iter()?
            .into_any()
            .unbind())
    }

    /// The field's value (values joined by `", "`), or `default`.
    #[pyo3(signature = (name, default = None))]
    fn get(&self, py: Python<'_>, name: &str, default: Option<Py<PyAny>>) -> PyResult<Py<PyAny>> {
        match self.joined(name) {
            Some(v) => Ok(PyString::new(py, &v).into_any().unbind()),
            None => Ok(default.unwrap_or_else(|| py.None())),
        }
    }

    /// Every value of the field, in order (empty if absent).
    fn get_all(&self, name: &str) -> Vec<String> {
        self.find(name)
            .map(|n| n.values.clone())
            .unwrap_or_default()
    }

    /// The names, in lower case: a `KeysView`, as a `Mapping`'s (and
    /// httpx's and aiohttp's headers') `keys()` is.
    fn keys<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        view(slf, "KeysView")
    }

    /// The values, one per name (joined by `", "`): a `ValuesView`.
    fn values<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        view(slf, "ValuesView")
    }

    /// `(name, value)` pairs, one per name: an `ItemsView`.
    fn items<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        view(slf, "ItemsView")
    }

    /// Equal to a mapping with the same names (in any case) and values,
    /// as httpx's, requests' and aiohttp's headers are: `{"Content-Type":
    /// "text/html"}` equals the headers of an answer with that one field.
    fn __eq__(&self, other: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let py = other.py();
        Ok(match self.equals(other)? {
            Some(same) => PyBool::new(py, same).to_owned().into_any().unbind(),
            None => py.NotImplemented(),
        })
    }

    fn __repr__(&self) -> String {
        let items: Vec<String> = self
            .named
            .iter()
            .map(|n| format!("{:?}: {:?}", n.name, n.values.join(", ")))
            .collect();
        format!("Headers({{{}}})", items.join(", "))
    }
}

/// `collections.abc`'s `kind` view (`KeysView`, ...) of the headers.
fn view<'py>(headers: &Bound<'py, Headers>, kind: &str) -> PyResult<Bound<'py, PyAny>> {
    let py = headers.py();
    py.import("collections.abc")?
        .getattr(kind)?
        .call1((headers,))
}

/// A finished request, with what Python needs to report it.
pub struct Done {
    pub index: usize,
    pub result: Result<Page, FetchError>,
    pub meta: Meta,
}

/// What the request was, for its response or its error.
#[derive(Default)]
pub struct Meta {
    /// The URL as given.
    pub given: String,
    pub id: Option<Py<PyAny>>,
}

impl Done {
    /// Its [`Response`], or its [`Failure`] (whose message names the
    /// setting that governs it as Python's keyword argument).
    pub fn into_python(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let Done {
            index,
            result,
            meta,
        } = self;
        Ok(match result {
            Ok(page) => Py::new(py, Response::new(py, index, meta.id, page))?.into_any(),
            Err(e) => {
                let message = match e.setting {
                    Some(setting) => format!("{} ({})", e.message, options::argument(setting)),
                    None => e.message,
                };
                let id = meta.id;
                let response = match e.answer {
                    Some(page) => {
                        let id = id.as_ref().map(|id| id.clone_ref(py));
                        Some(Py::new(py, Response::new(py, index, id, *page))?)
                    }
                    None => None,
                };
                let failure = Failure {
                    kind: e.kind.as_str(),
                    message,
                    index,
                    url: meta.given,
                    id,
                    elapsed: e.elapsed.as_secs_f64(),
                    retries: e.retries,
                    response,
                };
                Py::new(py, failure)?.into_any()
            }
        })
    }
}

/// A request that got no response, as the engine reports it; the Python
/// layer makes it the matching `FetchError` subclass.
#[pyclass(frozen, module = "gather_fetch._engine", get_all)]
pub struct Failure {
    /// `connect`, `timeout`, `tls`, ... (see `FetchError.kind`).
    pub kind: &'static str,
    pub message: String,
    pub index: usize,
    /// The URL as given.
    pub url: String,
    pub id: Option<Py<PyAny>>,
    /// Seconds it took.
    pub elapsed: f64,
    pub retries: u32,
    /// The answer that is the failure (an error status with
    /// `raise_for_status=True`), else `None`.
    pub response: Option<Py<Response>>,
}
