//! Token accounting: the `usage` an API's answers report (OpenAI's
//! `prompt_tokens`/`completion_tokens`/`total_tokens`, Anthropic's
//! `input_tokens`/`output_tokens`), added up for the summary. Read from a
//! page's body by its own light reader (the top-level `usage` only, the
//! rest skipped), so that the record writer only writes.

use gather_http::Page;
use serde::de::{IgnoredAny, MapAccess, Visitor};

use crate::output::is_json;

/// Token counts that answers reported in their `usage` (OpenAI's
/// `prompt_tokens`/`completion_tokens`/`total_tokens`, Anthropic's
/// `input_tokens`/`output_tokens`), added up for the summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Usage {
    /// Answers that carried a `usage` object.
    pub(crate) answers: u64,
    pub(crate) input: u64,
    pub(crate) output: u64,
    pub(crate) total: u64,
}

impl Usage {
    pub(crate) fn add(&mut self, usage: &serde_json::Value) {
        let count = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| usage.get(n).and_then(serde_json::Value::as_u64))
        };
        let input = count(&["prompt_tokens", "input_tokens"]);
        let output = count(&["completion_tokens", "output_tokens"]);
        let total = count(&["total_tokens"]);
        if input.is_none() && output.is_none() && total.is_none() {
            return;
        }
        let (input, output) = (input.unwrap_or(0), output.unwrap_or(0));
        self.answers += 1;
        self.input += input;
        self.output += output;
        self.total += total.unwrap_or(input + output);
    }
}

impl Usage {
    /// Adds what a JSON answer's top-level `usage` reports, if it has one.
    pub(crate) fn add_answer(&mut self, page: &Page) {
        let Some(body) = page.body.as_deref().filter(|_| is_json(page)) else {
            return;
        };
        let mut de = serde_json::Deserializer::from_slice(body);
        if let Ok(Some(usage)) = serde::Deserializer::deserialize_map(&mut de, UsageOnly) {
            self.add(&usage);
        }
    }
}

/// Reads a JSON object's `usage` member, skipping the others unbuilt.
struct UsageOnly;

impl<'de> Visitor<'de> for UsageOnly {
    type Value = Option<serde_json::Value>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        let mut usage = None;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if key == "usage" && usage.is_none() {
                usage = Some(map.next_value::<serde_json::Value>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(usage)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_adds_up_openai_and_anthropic_counts_and_ignores_others() {
        let mut u = Usage::default();
        u.add(
            &serde_json::json!({"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}),
        );
        u.add(&serde_json::json!({"input_tokens": 7, "output_tokens": 3}));
        u.add(&serde_json::json!({"credits": 2}));
        assert_eq!(
            u,
            Usage {
                answers: 2,
                input: 17,
                output: 8,
                total: 25
            }
        );
    }
}
