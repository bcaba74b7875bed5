//! The flags that say what a request sends: header fields (`-H`, with
//! secrets kept out of the command line), the method and body of URL lines
//! (curl's `-X`, `-d`, `--json`), and how request lines are read
//! (`--base-url`, `--jsonl`).
//!
//! **Secrets.** An API key typed into `-H "Authorization: Bearer sk-..."`
//! lands in the shell's history and in every process list on the machine
//! (`ps` shows arguments to all users). So a field can come from a file,
//! `-H @FILE` (curl's form: one field a line), or from the environment,
//! `--header-env 'Authorization: Bearer $OPENAI_API_KEY'`: quoted so that
//! the shell leaves `$OPENAI_API_KEY` alone, only the variable's name is in
//! the process list, and gather puts its value in. No error message here
//! repeats a value read from a file or the environment.

use std::sync::Arc;

use gather_http::client::{BodyField, Payload};
use http::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT, CONTENT_TYPE};
use url::Url;

use crate::args::FetchArgs;
use crate::input::Rules;

/// `-H` and `--header-env`: the run's own header fields.
pub(crate) fn headers(
    a: &FetchArgs,
    env: impl Fn(&str) -> Option<String>,
) -> Result<HeaderMap, String> {
    let mut headers = HeaderMap::new();
    for h in &a.headers {
        match h.strip_prefix('@') {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| format!("-H @{path}: {e}"))?;
                for (n, line) in text.lines().enumerate() {
                    if line.trim().is_empty() {
                        continue;
                    }
                    let (name, value) =
                        field(line).map_err(|why| format!("-H @{path}: line {}: {why}", n + 1))?;
                    headers.append(name, value);
                }
            }
            None => {
                let (name, value) = field(h).map_err(|why| format!("-H {h:?}: {why}"))?;
                headers.append(name, value);
            }
        }
    }
    for h in &a.header_env {
        let expanded = expand(h, &env).map_err(|why| format!("--header-env {h:?}: {why}"))?;
        let (name, value) = field(&expanded).map_err(|why| format!("--header-env {h:?}: {why}"))?;
        headers.append(name, value);
    }
    Ok(headers)
}

/// `Name: value`, checked. The error does not repeat the value (it may be
/// a secret).
fn field(text: &str) -> Result<(HeaderName, HeaderValue), String> {
    let (name, value) = text
        .split_once(':')
        .ok_or_else(|| "expected \"Name: value\"".to_owned())?;
    gather_http::client::header_field(name, value)
}

/// `text` with each `$NAME` and `${NAME}` replaced by that environment
/// variable; a variable that is unset or empty is an error (a request sent
/// with `Bearer ` and no key fails far from its cause). A `$` before
/// anything else is kept.
fn expand(text: &str, env: &impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut expanded = false;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (name, next) = if let Some(braced) = after.strip_prefix('{') {
            let end = braced
                .find('}')
                .ok_or_else(|| "\"${\" without its \"}\"".to_owned())?;
            (&braced[..end], &braced[end + 1..])
        } else {
            let end = after.find(|c| !is_name(c)).unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        if name.is_empty()
            || !name.chars().all(is_name)
            || name.starts_with(|c: char| c.is_ascii_digit())
        {
            out.push('$');
            rest = after;
            continue;
        }
        match env(name) {
            Some(value) if !value.is_empty() => out.push_str(&value),
            _ => return Err(format!("the environment variable {name} is not set")),
        }
        expanded = true;
        rest = next;
    }
    out.push_str(rest);
    if !expanded {
        return Err(
            "names no environment variable ($NAME or ${NAME}; quote the flag so that the shell leaves it to gather)"
                .to_owned(),
        );
    }
    Ok(out)
}

/// `--base-url`, `--jsonl`, and what URL lines send (`-X`, `-d`,
/// `--json`). `run` is the run's `-H` fields: as in curl, a
/// `Content-Type` or `Accept` given there wins over the one `-d` or
/// `--json` implies.
pub(crate) fn rules(a: &FetchArgs, run: &HeaderMap) -> Result<Rules, String> {
    let base = a
        .base_url
        .as_deref()
        .map(|text| {
            let url = Url::parse(text).map_err(|e| format!("--base-url {text:?}: {e}"))?;
            match url.scheme() {
                "http" | "https" if url.has_host() => Ok(url),
                _ => Err(format!("--base-url {text:?}: not an http or https URL")),
            }
        })
        .transpose()?;
    let mut headers = HeaderMap::new();
    let body = match (&a.data, &a.json) {
        (Some(data), None) => {
            // curl's -d: @FILE is read with its newlines taken out, and the
            // body is a form unless -H says otherwise.
            let text = match data.strip_prefix('@') {
                Some(path) => std::fs::read_to_string(path)
                    .map_err(|e| format!("-d @{path}: {e}"))?
                    .replace(['\r', '\n'], ""),
                None => data.clone(),
            };
            headers.insert(
                CONTENT_TYPE,
                run.get(CONTENT_TYPE)
                    .cloned()
                    .unwrap_or(HeaderValue::from_static(
                        "application/x-www-form-urlencoded",
                    )),
            );
            Some(BodyField::Raw(text.into_bytes()))
        }
        (None, Some(json)) => {
            // curl's --json: the body as it is, with JSON's Content-Type and
            // Accept; checked here, since a body that is not JSON would be
            // refused by every line's server.
            let (text, shown): (Vec<u8>, String) = match json.strip_prefix('@') {
                Some(path) => (
                    std::fs::read(path).map_err(|e| format!("--json @{path}: {e}"))?,
                    format!("--json @{path}"),
                ),
                None => (json.clone().into_bytes(), "--json".to_owned()),
            };
            serde_json::from_slice::<serde_json::Value>(&text)
                .map_err(|e| format!("{shown}: not JSON: {e}"))?;
            headers.insert(
                ACCEPT,
                run.get(ACCEPT)
                    .cloned()
                    .unwrap_or(HeaderValue::from_static("application/json")),
            );
            if let Some(given) = run.get(CONTENT_TYPE) {
                headers.insert(CONTENT_TYPE, given.clone());
            }
            Some(BodyField::Json(text))
        }
        (None, None) => None,
        (Some(_), Some(_)) => return Err("-d and --json: give one body".to_owned()),
    };
    let json = match &body {
        Some(BodyField::Json(text)) => std::str::from_utf8(text).ok().map(str::to_owned),
        _ => None,
    };
    let url_lines = Payload::from_fields(a.method.as_deref(), headers, body)
        .map_err(|e| format!("-X: {e}"))?
        .map(|p| Arc::new(p.with_tokens_asked_in(json.as_deref().unwrap_or(""))));
    Ok(Rules {
        base,
        jsonl: a.jsonl,
        url_lines,
    })
}

/// `--keep-header`: the answer's fields each record keeps.
pub(crate) fn kept(a: &FetchArgs) -> Result<Vec<HeaderName>, String> {
    a.keep_header
        .iter()
        .map(|name| {
            HeaderName::from_bytes(name.trim().as_bytes())
                .map_err(|_| format!("--keep-header {name:?}: not a header name"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "KEY" => Some("sk-secret".to_owned()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn environment_variables_are_expanded_and_a_missing_one_is_named() {
        assert_eq!(
            expand("Authorization: Bearer $KEY", &env).unwrap(),
            "Authorization: Bearer sk-secret"
        );
        assert_eq!(expand("X-Key: ${KEY}!", &env).unwrap(), "X-Key: sk-secret!");
        assert_eq!(
            expand("X: $5 and $KEY", &env).unwrap(),
            "X: $5 and sk-secret"
        );
        let e = expand("Authorization: Bearer $OPENAI_API_KEY", &env).unwrap_err();
        assert!(e.contains("OPENAI_API_KEY is not set"), "{e}");
        assert!(expand("X: $EMPTY", &env).unwrap_err().contains("EMPTY"));
        assert!(expand("X: plain", &env)
            .unwrap_err()
            .contains("names no environment variable"));
        assert!(expand("X: ${KEY", &env).is_err());
    }

    #[test]
    fn a_bad_value_is_refused_without_repeating_it() {
        let e = field("Authorization: Bearer sk-1\u{7}").unwrap_err();
        assert!(!e.contains("sk-1"), "{e}");
        assert!(e.contains("authorization"), "{e}");
    }
}
