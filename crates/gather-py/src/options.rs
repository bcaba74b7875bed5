//! The keyword arguments of `fetch()` and its siblings, checked once into
//! the engine's [`FetchConfig`], each error naming its argument: a
//! `TypeError` for a value of the wrong type, a `ValueError` for one out
//! of range, raised before anything is sent.
//!
//! The defaults are the engine's ([`FetchConfig::default()`]): the Python
//! layer passes only the arguments given, an argument not given leaves
//! the engine's value, and the docstrings show the same values, read from
//! [`defaults`] (`_engine.DEFAULTS`) when the module is imported. `None`
//! means "none" where there can be none (`timeout`, `max_bytes`, a proxy,
//! a rate), and "the default" elsewhere.
//! What the engine refuses names a [`Setting`], which [`argument`] turns
//! into the keyword argument's name.

use std::path::PathBuf;
use std::time::Duration;

use gather_http::{
    ConfigError, FetchConfig, Fetcher, PerHost, Politeness, Proxies, Setting, Versions,
};
use http::header::HeaderMap;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyMapping, PyString};

/// `_engine.DEFAULTS`: the engine's defaults in Python's units (seconds,
/// bytes), for the signatures of `fetch()` and its siblings.
pub fn defaults(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("limit", FetchConfig::LIMIT)?;
    d.set_item("timeout", FetchConfig::TIMEOUT.as_secs_f64())?;
    d.set_item("retry_delay", FetchConfig::RETRY_BASE.as_secs_f64())?;
    d.set_item("max_bytes", FetchConfig::MAX_BYTES)?;
    d.set_item("max_redirects", FetchConfig::MAX_REDIRECTS)?;
    d.set_item("per_host", "auto")?;
    d.set_item("per_host_start", FetchConfig::PER_HOST_START)?;
    d.set_item("per_host_most", FetchConfig::PER_HOST_MOST)?;
    d.set_item("window_per_limit", FetchConfig::WINDOW_PER_LIMIT)?;
    Ok(d)
}

/// Python's word for an engine setting: its keyword argument.
pub fn argument(setting: Setting) -> &'static str {
    match setting {
        Setting::Limit => "limit",
        Setting::Timeout => "timeout",
        Setting::TotalTimeout => "asyncio.timeout()",
        Setting::MaxBytes => "max_bytes",
        Setting::MaxRedirects => "max_redirects",
        Setting::UserAgent => "user_agent",
        Setting::CaFile => "ca_file",
        Setting::SaveDir => "save_dir",
        Setting::Proxy => "proxy",
        Setting::FailOnStatus => "raise_for_status",
        Setting::ClientCert => "cert",
        _ => "an option",
    }
}

/// A configuration the engine refused, as a `ValueError` naming the
/// argument it came from.
pub fn refused(e: ConfigError) -> PyErr {
    PyValueError::new_err(format!("{} {}", argument(e.setting()), e.detail()))
}

/// What a run is asked to do, besides its requests.
pub struct Options {
    pub config: FetchConfig,
    /// How far ahead of the results taken a request may start.
    pub window: usize,
    /// What relative URLs are relative to.
    pub base_url: Option<url::Url>,
    /// `limit` was given: lowered to what the open files hold, it is
    /// warned about (the default lowered is not: the process's limits are
    /// its user's, and the package leaves them alone).
    pub limit_given: bool,
}

/// What a run or a `Client` works with, made from its [`Options`].
pub struct Engine {
    pub fetcher: Fetcher,
    /// How far ahead of the results taken a request may start.
    pub window: usize,
    /// What relative URLs are relative to.
    pub base_url: Option<url::Url>,
}

impl Options {
    /// The engine for these options, in `runtime`'s context; a `limit`
    /// given that the files the process may open cannot hold is lowered
    /// with a `RuntimeWarning`.
    pub fn engine(self, py: Python<'_>, runtime: &tokio::runtime::Runtime) -> PyResult<Engine> {
        let fetcher = {
            let _enter = runtime.enter();
            Fetcher::new(self.config).map_err(refused)?
        };
        if let Some(lowered) = fetcher.limit_lowered().filter(|_| self.limit_given) {
            let message = std::ffi::CString::new(format!("limit={lowered}")).unwrap_or_default();
            let category = py.get_type::<pyo3::exceptions::PyRuntimeWarning>();
            PyErr::warn(py, &category, &message, 1)?;
        }
        Ok(Engine {
            fetcher,
            window: self.window,
            base_url: self.base_url,
        })
    }
}

/// Reads and checks every argument in `args` (the Python signature's).
pub fn read(args: &Bound<'_, PyDict>) -> PyResult<Options> {
    let limit_given = positive(args, "limit")?;
    let limit = limit_given.unwrap_or(FetchConfig::LIMIT);
    let politeness = politeness(args)?;
    let timeout = match args.get_item("timeout")? {
        None => FetchConfig::TIMEOUT,
        // `None`: no timeout. A year, as good as none and far from the
        // clock's end.
        Some(v) if v.is_none() => Duration::from_secs(365 * 86_400),
        Some(_) => seconds(args, "timeout")?.unwrap_or(FetchConfig::TIMEOUT),
    };
    let retries = match int(args, "retries")? {
        None => 0,
        Some(n) if (0..=1000).contains(&n) => n as u32,
        Some(n) => return Err(value_error("retries", "0 to 1000", n)),
    };
    let retry_base = seconds(args, "retry_delay")?.unwrap_or(FetchConfig::RETRY_BASE);
    let max_bytes = match args.get_item("max_bytes")? {
        // Not given: the engine's rule (10 MiB in memory, none when saved).
        None => None,
        Some(v) if v.is_none() => Some(u64::MAX),
        Some(_) => positive(args, "max_bytes")?.map(|n| n as u64),
    };
    let max_redirects = match int(args, "max_redirects")? {
        None => FetchConfig::MAX_REDIRECTS,
        Some(n) if n >= 0 => n as usize,
        Some(n) => return Err(value_error("max_redirects", "0 or more", n)),
    };
    let versions = match string(args, "http_version")?.as_deref() {
        None | Some("auto") => Versions::Negotiate,
        Some("1.1") => Versions::Http1Only,
        Some("2") => Versions::PriorKnowledge,
        Some(other) => {
            return Err(PyValueError::new_err(format!(
                "http_version must be \"auto\", \"1.1\" or \"2\", not {other:?}"
            )))
        }
    };
    let (proxies, cacert) = (proxies(args)?, ca_file(args)?);
    let save_dir = match path(args, "save_dir")? {
        None => None,
        Some(dir) => Some(FetchConfig::save_dir(&dir).map_err(refused)?),
    };
    let user_agent = string(args, "user_agent")?
        .unwrap_or_else(|| concat!("gather-fetch/", env!("CARGO_PKG_VERSION")).to_owned());
    let window = positive(args, "window")?;
    let base_url =
        match string(args, "base_url")? {
            None => None,
            Some(text) => Some(gather_http::parse_url(&text).map_err(|e| {
                PyValueError::new_err(format!("base_url {text:?}: {}", e.message()))
            })?),
        };
    let config = FetchConfig {
        limit,
        timeout,
        retries,
        retry_base,
        max_bytes,
        max_redirects,
        headers: headers(args)?,
        user_agent,
        cacert,
        insecure: !flag(args, "verify")?.unwrap_or(true),
        identity: client_cert(args)?,
        fail_on_status: flag(args, "raise_for_status")?.unwrap_or(false),
        cookies: flag(args, "cookies")?.unwrap_or(false),
        body: save_dir.is_none(),
        save_dir,
        decode: flag(args, "decompress")?.unwrap_or(true),
        proxies,
        versions,
        politeness,
        headers_kept: true,
        ..FetchConfig::default()
    };
    Ok(Options {
        window: window.unwrap_or_else(|| config.window()),
        config,
        base_url,
        limit_given: limit_given.is_some(),
    })
}

/// A call's `window`, if given (a client's calls take only this).
pub fn window(args: &Bound<'_, PyDict>) -> PyResult<Option<usize>> {
    positive(args, "window")
}

/// `per_host`, `rate`, `rate_per_host`, `tokens_per_minute` and
/// `server_limits`: the engine's politeness.
fn politeness(args: &Bound<'_, PyDict>) -> PyResult<Politeness> {
    let per_host = match given(args, "per_host")? {
        None => PerHost::Auto,
        Some(v) if v.is_instance_of::<PyString>() => match v.to_string().as_str() {
            "auto" => PerHost::Auto,
            other => {
                return Err(value_error(
                    "per_host",
                    "\"auto\", 0 (no limit) or more",
                    format!("{other:?}"),
                ))
            }
        },
        Some(_) => match int(args, "per_host")? {
            Some(0) => PerHost::Unlimited,
            Some(n) if n > 0 => PerHost::Fixed(n as usize),
            Some(n) => return Err(value_error("per_host", "\"auto\", 0 (no limit) or more", n)),
            None => PerHost::Auto,
        },
    };
    Ok(Politeness {
        per_host,
        overall_interval: rate(args, "rate")?,
        host_interval: rate(args, "rate_per_host")?,
        tokens_per_second: match number(args, "tokens_per_minute", "tokens per minute (a number)")?
        {
            None => None,
            Some(t) if t.is_finite() && t >= 1.0 => Some(t / 60.0),
            Some(t) => return Err(value_error("tokens_per_minute", "1 or more", t)),
        },
        // As the command line: what a server announces is honoured.
        server_limits: flag(args, "server_limits")?.unwrap_or(true),
    })
}

/// `proxy`, `no_proxy` and `trust_env` (the environment's proxies, as curl
/// and httpx read them): the engine's proxies.
fn proxies(args: &Bound<'_, PyDict>) -> PyResult<Proxies> {
    let trust_env = flag(args, "trust_env")?.unwrap_or(true);
    let (proxy, no_proxy) = (string(args, "proxy")?, string(args, "no_proxy")?);
    Proxies::configure(proxy.as_deref(), no_proxy.as_deref(), |name| {
        trust_env.then(|| std::env::var(name).ok()).flatten()
    })
    .map_err(refused)
}

/// `ca_file`, read and checked by the engine.
fn ca_file(args: &Bound<'_, PyDict>) -> PyResult<Option<Vec<u8>>> {
    path(args, "ca_file")?
        .map(|path| FetchConfig::ca_file(&path).map_err(refused))
        .transpose()
}

/// `cert`: a client certificate and its key, as httpx takes them: one
/// PEM file holding both, or a `(certificate, key)` pair of paths.
fn client_cert(args: &Bound<'_, PyDict>) -> PyResult<Option<gather_http::ClientIdentity>> {
    let Some(value) = given(args, "cert")? else {
        return Ok(None);
    };
    let (cert, key) = match value.extract::<(PathBuf, PathBuf)>() {
        Ok(pair) => pair,
        Err(_) => match value.extract::<PathBuf>() {
            Ok(both) => (both.clone(), both),
            Err(_) => {
                return Err(type_error(
                    "cert",
                    "a path, or a (certificate, key) pair of paths",
                    &value,
                ))
            }
        },
    };
    FetchConfig::client_identity(&cert, &key)
        .map(Some)
        .map_err(refused)
}

/// The argument `name`, unless absent or `None`.
fn given<'py>(args: &Bound<'py, PyDict>, name: &str) -> PyResult<Option<Bound<'py, PyAny>>> {
    Ok(args.get_item(name)?.filter(|v| !v.is_none()))
}

fn type_error(name: &str, expected: &str, value: &Bound<'_, PyAny>) -> PyErr {
    let got = value
        .get_type()
        .name()
        .map_or_else(|_| "?".to_owned(), |n| n.to_string());
    PyTypeError::new_err(format!("{name} must be {expected}, not {got}"))
}

fn value_error(name: &str, expected: &str, value: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(format!("{name} must be {expected}, not {value}"))
}

/// An `int` (not a `bool`, which Python counts as one).
fn int(args: &Bound<'_, PyDict>, name: &str) -> PyResult<Option<i64>> {
    let Some(value) = given(args, name)? else {
        return Ok(None);
    };
    if value.is_instance_of::<PyBool>() {
        return Err(type_error(name, "an int", &value));
    }
    value
        .extract::<i64>()
        .map(Some)
        .map_err(|_| type_error(name, "an int", &value))
}

fn positive(args: &Bound<'_, PyDict>, name: &str) -> PyResult<Option<usize>> {
    match int(args, name)? {
        Some(n) if n < 1 => Err(value_error(name, "1 or more", n)),
        n => Ok(n.map(|n| n as usize)),
    }
}

/// An `int` or `float` (not a `bool`), described as `expected` in errors.
fn number(args: &Bound<'_, PyDict>, name: &str, expected: &str) -> PyResult<Option<f64>> {
    let Some(value) = given(args, name)? else {
        return Ok(None);
    };
    if value.is_instance_of::<PyBool>() {
        return Err(type_error(name, expected, &value));
    }
    value
        .extract()
        .map(Some)
        .map_err(|_| type_error(name, expected, &value))
}

/// A number of seconds, more than 0.
fn seconds(args: &Bound<'_, PyDict>, name: &str) -> PyResult<Option<Duration>> {
    let Some(secs) = number(args, name, "a number of seconds")? else {
        return Ok(None);
    };
    match Duration::try_from_secs_f64(secs) {
        Ok(d) if secs > 0.0 && d < Duration::from_secs(365 * 86_400) => Ok(Some(d)),
        _ => Err(value_error(
            name,
            "more than 0 seconds (and under a year)",
            secs,
        )),
    }
}

/// Requests per second, as the least time between two.
fn rate(args: &Bound<'_, PyDict>, name: &str) -> PyResult<Option<Duration>> {
    let Some(per_second) = number(args, name, "requests per second (a number)")? else {
        return Ok(None);
    };
    if !(per_second.is_finite() && per_second > 0.0 && per_second <= 1e9) {
        return Err(value_error(
            name,
            "more than 0 requests per second",
            per_second,
        ));
    }
    Ok(Some(Duration::from_secs_f64(1.0 / per_second)))
}

fn flag(args: &Bound<'_, PyDict>, name: &str) -> PyResult<Option<bool>> {
    let Some(value) = given(args, name)? else {
        return Ok(None);
    };
    match value.cast::<PyBool>() {
        Ok(b) => Ok(Some(b.is_true())),
        Err(_) => Err(type_error(name, "True or False", &value)),
    }
}

fn string(args: &Bound<'_, PyDict>, name: &str) -> PyResult<Option<String>> {
    let Some(value) = given(args, name)? else {
        return Ok(None);
    };
    match value.cast::<PyString>() {
        Ok(s) => Ok(Some(s.to_cow()?.into_owned())),
        Err(_) => Err(type_error(name, "a str", &value)),
    }
}

/// A `str` or an `os.PathLike`.
fn path(args: &Bound<'_, PyDict>, name: &str) -> PyResult<Option<PathBuf>> {
    let Some(value) = given(args, name)? else {
        return Ok(None);
    };
    value
        .extract::<PathBuf>()
        .map(Some)
        .map_err(|_| type_error(name, "a path (str or os.PathLike)", &value))
}

/// `headers`: a mapping of names to values, or an iterable of pairs (for
/// a name given twice), sent with every request.
fn headers(args: &Bound<'_, PyDict>) -> PyResult<HeaderMap> {
    let mut map = HeaderMap::new();
    let Some(value) = given(args, "headers")? else {
        return Ok(map);
    };
    let pairs = match value.cast::<PyMapping>() {
        Ok(mapping) => mapping.items()?.into_any(),
        Err(_) if value.is_instance_of::<PyString>() => {
            return Err(type_error(
                "headers",
                "a mapping of names to values",
                &value,
            ))
        }
        Err(_) => value.clone(),
    };
    let iter = pairs
        .try_iter()
        .map_err(|_| type_error("headers", "a mapping of names to values", &value))?;
    for pair in iter {
        let pair = pair?;
        let (name, field) = pair
            .extract::<(String, String)>()
            .map_err(|_| type_error("headers", "a mapping of str names to str values", &pair))?;
        let (name, value) = gather_http::client::header_field(&name, &field)
            .map_err(|e| PyValueError::new_err(format!("headers: {e}")))?;
        map.append(name, value);
    }
    Ok(map)
}
