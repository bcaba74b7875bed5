//! `gather fetch` through HTTP proxies (#16): `--proxy`, the environment
//! as curl reads it, `NO_PROXY`/`--noproxy`, absolute-form requests for
//! http, `CONNECT` tunnels for https (in `cli_https.rs`), credentials sent
//! to the proxy only. Against an in-process proxy that records what it
//! gets, and against a real one (tinyproxy, which `.ci/run` installs).

use std::time::Duration;

use crate::support::*;

#[test]
fn an_http_url_goes_to_the_proxy_in_absolute_form_with_its_credentials_only() {
    let env = Env::new("proxy-http");
    let proxy = crate::support::proxy::start(&env.rt, Some("user:pass"));
    let url = env.url("/headers");
    let input = env.input("urls.txt", std::slice::from_ref(&url));
    let with_auth = format!("http://user:pass@127.0.0.1:{}", proxy.port);
    let out = run(&[
        "fetch",
        "-q",
        "--body",
        "--proxy",
        &with_auth,
        input.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let rec = &records(&out.stdout)[0];
    assert_eq!(rec["status"], 200, "{rec}");
    assert_eq!(proxy.request_lines(), [format!("GET {url} HTTP/1.1")]);
    let head = proxy.seen.lock().unwrap()[0].to_ascii_lowercase();
    assert!(
        head.contains("proxy-authorization: basic dxnlcjpwyxnz"),
        "{head}"
    );
    // The origin never sees the proxy's credentials.
    let origin_saw = rec["body"].as_str().unwrap().to_ascii_lowercase();
    assert!(!origin_saw.contains("proxy-authorization"), "{origin_saw}");
    assert!(
        origin_saw.contains(&format!("host: 127.0.0.1:{}", env.server.addr().port())),
        "{origin_saw}"
    );
}

#[test]
fn a_proxy_that_wants_credentials_is_a_proxy_error_or_a_407_page() {
    let env = Env::new("proxy-407");
    let proxy = crate::support::proxy::start(&env.rt, Some("user:pass"));
    let input = env.input("urls.txt", &[env.url("/page/0")]);
    let out = run(&[
        "fetch",
        "-q",
        "--proxy",
        &proxy.url(),
        input.to_str().unwrap(),
    ]);
    // For a plain request the proxy's 407 is the answer (curl does the same).
    assert_eq!(records(&out.stdout)[0]["status"], 407, "{}", stderr(&out));
}

#[test]
fn the_environment_is_used_and_no_proxy_and_noproxy_go_direct() {
    let env = Env::new("proxy-env");
    let proxy = crate::support::proxy::start(&env.rt, None);
    let input = env.input("urls.txt", &[env.url("/page/0")]);
    let fetch = |extra: &[&str], vars: &[(&str, &str)]| {
        let mut cmd = gather_cmd();
        cmd.args(["fetch", "-q"]).args(extra).arg(&input);
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let out = run_with(cmd, "", Duration::from_secs(60));
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    };
    let proxied = || proxy.request_lines().len();

    fetch(&[], &[("http_proxy", &proxy.url())]);
    assert_eq!(proxied(), 1, "http_proxy is used");
    fetch(&[], &[("HTTP_PROXY", &proxy.url())]);
    assert_eq!(proxied(), 1, "HTTP_PROXY is not (httpoxy)");
    fetch(&[], &[("ALL_PROXY", &proxy.url())]);
    assert_eq!(proxied(), 2, "ALL_PROXY is");
    fetch(
        &[],
        &[("http_proxy", &proxy.url()), ("NO_PROXY", "127.0.0.0/8")],
    );
    assert_eq!(proxied(), 2, "NO_PROXY's network goes direct");
    fetch(&["--noproxy", "127.0.0.1"], &[("http_proxy", &proxy.url())]);
    assert_eq!(proxied(), 2, "--noproxy goes direct");
    fetch(&["--proxy", ""], &[("http_proxy", &proxy.url())]);
    assert_eq!(proxied(), 2, "--proxy \"\" turns the environment off");
}

#[test]
fn a_bad_proxy_is_a_usage_error_naming_where_it_came_from() {
    let env = Env::new("proxy-bad");
    let input = env.input("urls.txt", &[env.url("/page/0")]);
    let out = run(&[
        "fetch",
        "-q",
        "--proxy",
        "socks5://127.0.0.1:1",
        input.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--proxy") && stderr(&out).contains("only http://"),
        "{}",
        stderr(&out)
    );

    let mut cmd = gather_cmd();
    cmd.args(["fetch", "-q"])
        .arg(&input)
        .env("https_proxy", "ftp://x");
    let out = run_with(cmd, "", Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("https_proxy="), "{}", stderr(&out));

    // A proxy that is not there: a connect error naming the proxy.
    let out = run(&[
        "fetch",
        "-q",
        "--proxy",
        &env.refused_url(),
        input.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let rec = &records(&out.stdout)[0];
    assert_eq!(rec["error"]["kind"], "connect", "{rec}");
    assert!(
        rec["error"]["message"].as_str().unwrap().contains("proxy"),
        "{rec}"
    );
}

#[test]
#[ignore = "needs tinyproxy (/usr/bin/tinyproxy)"]
fn through_a_real_proxy_tinyproxy_with_and_without_credentials() {
    let env = Env::new("tinyproxy");
    let (_stop, port) = crate::support::proxy::tinyproxy(&env, Some(("user", "s3cret")));
    let urls: Vec<String> = (0..20).map(|i| env.url(&format!("/page/{i}"))).collect();
    let input = env.input("urls.txt", &urls);
    let with_auth = format!("http://user:s3cret@127.0.0.1:{port}");
    let out = run(&[
        "fetch",
        "-q",
        "--proxy",
        &with_auth,
        input.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let recs = records(&out.stdout);
    assert_eq!(indexes(&recs), (0..20).collect::<Vec<u64>>());
    assert!(recs.iter().all(|r| r["status"] == 200), "{recs:?}");
    // Without credentials, tinyproxy answers 407.
    let out = run(&[
        "fetch",
        "-q",
        "--proxy",
        &format!("127.0.0.1:{port}"),
        input.to_str().unwrap(),
    ]);
    assert_eq!(records(&out.stdout)[0]["status"], 407, "{}", stderr(&out));
}
