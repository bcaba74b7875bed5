//! The request format's table of cases (`gather-http`'s
//! `tests/fixtures/request_cases.json`), run through the command line:
//! each case a JSON Lines request, against the page server's `/echo`. The
//! Python package runs the same table through `fetch()` (its
//! `test_requests.py`): the same request is sent, or refused with the same
//! kind and message, whichever front door it came through.

use serde_json::Value;

use crate::support::*;

/// The table, shared with the Python package's tests.
pub(crate) fn cases() -> Vec<Value> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../gather-http/tests/fixtures/request_cases.json"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str::<Vec<Value>>(&text).expect("the table is JSON")
}

#[test]
fn every_case_of_the_request_format_through_the_command_line() {
    let env = Env::new("request-cases");
    let cases = cases();
    // Compact, as serde_json writes: a JSON body is sent as written.
    let lines: Vec<String> = cases.iter().map(|c| c["request"].to_string()).collect();
    let input = env.input("requests.jsonl", &lines);
    let base = env.server.url("");
    let out = run(&[
        "fetch",
        "-q",
        "--body",
        "--base-url",
        &base,
        input.to_str().unwrap(),
    ]);
    let records = records(&out.stdout);
    assert_eq!(records.len(), cases.len(), "{}", stderr(&out));
    for (case, record) in cases.iter().zip(&records) {
        let why = case["why"].as_str().unwrap();
        match (&case["sent"], &case["error"]) {
            (Value::String(sent), _) => {
                assert_eq!(record["status"], 200, "{why}: {record}");
                assert_eq!(record["body"].as_str(), Some(sent.as_str()), "{why}");
            }
            (_, Value::Array(error)) => {
                assert_eq!(record["error"]["kind"], error[0], "{why}: {record}");
                assert_eq!(record["error"]["message"], error[1], "{why}: {record}");
            }
            _ => panic!("{why}: a case has \"sent\" or \"error\""),
        }
        if let Some(id) = case["request"].get("custom_id") {
            assert_eq!(&record["id"], id, "{why}: the id comes back");
        }
    }
}

/// A request's own `timeout` is its time, over the run's `--timeout`: the
/// slow page with 0.2 s is cut, the one beside it with no timeout of its
/// own (the run's 10 s) is answered, and so is a slow one given 5 s
/// where the run allows 0.5 s.
#[test]
fn a_requests_own_timeout_is_its_time_over_the_runs() {
    let env = Env::new("request-timeout");
    let slow = env.url("/page/1?delay_ms=1000");
    let lines = [
        serde_json::json!({"url": slow, "timeout": 0.2}).to_string(),
        serde_json::json!({"url": slow}).to_string(),
    ];
    let input = env.input("requests.jsonl", &lines);
    let out = run(&["fetch", "-q", "--timeout", "10s", input.to_str().unwrap()]);
    let recs = records(&out.stdout);
    assert_eq!(recs[0]["error"]["kind"], "timeout", "{}", recs[0]);
    let message = recs[0]["error"]["message"].as_str().unwrap();
    assert!(message.contains("200ms"), "{message}");
    assert_eq!(recs[1]["status"], 200, "{}", recs[1]);

    let lines = [serde_json::json!({"url": slow, "timeout": 5}).to_string()];
    let input = env.input("requests.jsonl", &lines);
    let out = run(&["fetch", "-q", "--timeout", "500ms", input.to_str().unwrap()]);
    assert_eq!(records(&out.stdout)[0]["status"], 200, "{}", stderr(&out));
}
