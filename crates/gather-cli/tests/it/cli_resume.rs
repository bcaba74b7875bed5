//! Interrupt safety: Ctrl-C keeps the ordered prefix and exits 130;
//! `--resume` finishes the run with every line exactly once.

use std::process::Stdio;
use std::time::Duration;

use crate::support::*;
use serde_json::Value;

/// A record without its timings, for comparing runs.
fn stable(r: &Value) -> Value {
    let mut r = r.clone();
    r.as_object_mut().unwrap().remove("elapsed_ms");
    r
}

#[test]
fn resume_skips_the_lines_already_written_and_appends_the_rest() {
    let env = Env::new("resume");
    let urls: Vec<String> = (0..8).map(|i| env.url(&format!("/page/{i}"))).collect();
    let input = env.input("urls.txt", &urls);
    let full = env.path("full.jsonl");
    let out = run(&[
        "fetch",
        "-q",
        input.to_str().unwrap(),
        "-o",
        full.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let expected: Vec<Value> = records(&std::fs::read(&full).unwrap())
        .iter()
        .map(stable)
        .collect();

    // A file with three whole lines and a torn fourth.
    let text = std::fs::read_to_string(&full).unwrap();
    let mut partial: String = text.lines().take(3).map(|l| format!("{l}\n")).collect();
    partial.push_str(&text.lines().nth(3).unwrap()[..10]);
    let resumed = env.path("resumed.jsonl");
    std::fs::write(&resumed, partial).unwrap();

    let out = run(&[
        "fetch",
        input.to_str().unwrap(),
        "-o",
        resumed.to_str().unwrap(),
        "--resume",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("3 of 8 requests already done"),
        "{}",
        stderr(&out)
    );
    let got: Vec<Value> = records(&std::fs::read(&resumed).unwrap())
        .iter()
        .map(stable)
        .collect();
    assert_eq!(got, expected, "same lines as an uninterrupted run");
}

#[test]
fn resume_refuses_an_output_file_from_another_input() {
    let env = Env::new("resume-mismatch");
    let input = env.input("urls.txt", &[env.url("/page/1")]);
    let out_file = env.path("out.jsonl");
    std::fs::write(
        &out_file,
        "{\"index\":0,\"url\":\"http://elsewhere.test/\"}\n",
    )
    .unwrap();
    let out = run(&[
        "fetch",
        input.to_str().unwrap(),
        "-o",
        out_file.to_str().unwrap(),
        "--resume",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("same input"), "{}", stderr(&out));
    // Nothing already there was lost.
    assert!(std::fs::read_to_string(&out_file)
        .unwrap()
        .contains("elsewhere.test"));
}

#[test]
fn ctrl_c_keeps_what_was_done_exits_130_and_resume_finishes_the_run() {
    let env = Env::new("sigint");
    // The first 10 answer at once, then one slow URL holds the rest back.
    let urls: Vec<String> = (0..20)
        .map(|i| {
            if i == 10 {
                env.url("/page/10?delay_ms=3000")
            } else {
                env.url(&format!("/page/{i}"))
            }
        })
        .collect();
    let input = env.input("urls.txt", &urls);
    let out_file = env.path("out.jsonl");
    let mut cmd = gather_cmd();
    cmd.args([
        "fetch",
        input.to_str().unwrap(),
        "-o",
        out_file.to_str().unwrap(),
    ]);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    // Wait (bounded) until the first ten lines are on disk, then interrupt.
    for _ in 0..250 {
        if std::fs::read_to_string(&out_file)
            .map(|t| t.lines().count())
            .unwrap_or(0)
            >= 10
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    interrupt(&child);
    let out = wait_bounded(child, Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("interrupted: finishing the requests in flight"),
        "{err}"
    );
    assert!(err.contains("requests in"), "the summary is printed");
    // The slow one was in flight: it is waited for, and written with the
    // ten before it. Those not started yet are left for --resume (how
    // many had started, the machine's speed decides), and any that
    // finished past a gap are written too: nothing done is lost.
    let written = indexes(&records(&std::fs::read(&out_file).unwrap()));
    assert!(
        written.len() >= 11 && written[..11] == (0..11).collect::<Vec<_>>(),
        "{written:?}"
    );
    assert!(written.windows(2).all(|w| w[0] < w[1]), "{written:?}");

    let out = run(&[
        "fetch",
        "-q",
        input.to_str().unwrap(),
        "-o",
        out_file.to_str().unwrap(),
        "--resume",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let recs = records(&std::fs::read(&out_file).unwrap());
    assert_eq!(
        indexes(&recs),
        (0..20).collect::<Vec<_>>(),
        "every line exactly once"
    );
    for (i, r) in recs.iter().enumerate() {
        assert_eq!(r["url"], urls[i]);
    }
}

/// A second Ctrl-C stops at once, even with a POST still in flight (here
/// one the server never answers), and says that it may have been
/// processed; the POSTs that had finished after it are written all the
/// same, so that `--resume` sends only the one dropped.
#[test]
fn a_second_ctrl_c_drops_the_post_in_flight_and_says_so() {
    let env = Env::new("sigint-twice");
    let urls = [
        env.url("/echo?key=twice-0"),
        env.url("/hang"),
        env.url("/echo?key=twice-2"),
        env.url("/echo?key=twice-3"),
    ];
    let input = env.input("urls.txt", &urls);
    let out_file = env.path("out.jsonl");
    let mut cmd = gather_cmd();
    cmd.args([
        "fetch",
        "-X",
        "POST",
        "-d",
        "{}",
        input.to_str().unwrap(),
        "-o",
    ])
    .arg(&out_file)
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    // Bounded: until all four have arrived (three are answered at once).
    for _ in 0..250 {
        if env.server.arrivals().len() >= 4 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    interrupt(&child);
    std::thread::sleep(Duration::from_millis(300));
    interrupt(&child);
    let out = wait_bounded(child, Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("1 lines written in order, and 2 finished after a request left for --resume")
            && err.contains("1 request in flight was dropped, which the server may have processed"),
        "{err}"
    );
    assert_eq!(
        indexes(&records(&std::fs::read(&out_file).unwrap())),
        [0, 2, 3]
    );
}
