//! The load tool's fake upstream answers the Pryv core routes that Pryv's service-mfa (the
//! peer measured beside the daemon) calls: access-info, and the private profile it keeps its
//! MFA data in, written with PUT and read back with GET per user. Black-box, against `mfa-bench
//! fakes` on port 0. Nothing here looks at timings.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
};

use serde_json::{json, Value};

/// `mfa-bench fakes`, killed when dropped.
struct FakesProcess {
    child: Child,
    upstream: String,
}

impl FakesProcess {
    fn start() -> FakesProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mfa-bench"))
            .arg("fakes")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mfa-bench fakes");
        let stdout = child.stdout.take().expect("its stdout");
        let upstream = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find_map(|line| line.strip_prefix("upstream ").map(str::to_string))
            .expect("mfa-bench fakes prints its upstream URL");
        FakesProcess { child, upstream }
    }
}

impl Drop for FakesProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn answer(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.expect("the fake core answers");
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON body"))
}

#[tokio::test]
async fn the_fake_core_keeps_each_users_private_profile_and_says_the_access_is_personal() {
    let fakes = FakesProcess::start();
    let client = reqwest::Client::new();
    let core = &fakes.upstream;

    let (status, access) = answer(
        client
            .get(format!("{core}/alice/access-info"))
            .header("authorization", "personal"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(access["type"], "personal");

    let (status, before) = answer(client.get(format!("{core}/alice/profile/private"))).await;
    assert_eq!(status, 200);
    assert_eq!(before["profile"], json!({}));

    // What service-mfa writes on confirm: {"mfa": {"content", "recoveryCodes"}}.
    let mfa = json!({"content": {"phone": "+41790000001"}, "recoveryCodes": ["r1", "r2"]});
    let (status, put) = answer(
        client
            .put(format!("{core}/alice/profile/private"))
            .header("authorization", "personal")
            .json(&json!({ "mfa": mfa })),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(put["profile"]["mfa"], mfa);

    let (status, after) = answer(client.get(format!("{core}/alice/profile/private"))).await;
    assert_eq!(status, 200);
    assert_eq!(after["profile"]["mfa"], mfa);
    let (_, other) = answer(client.get(format!("{core}/bob/profile/private"))).await;
    assert_eq!(
        other["profile"],
        json!({}),
        "another user's profile is apart"
    );

    // What service-mfa writes on deactivate: {"mfa": null} removes the key.
    let (status, cleared) = answer(
        client
            .put(format!("{core}/alice/profile/private"))
            .json(&json!({ "mfa": null })),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(cleared["profile"], json!({}));

    let (status, login) = answer(
        client
            .post(format!("{core}/alice/auth/login"))
            .json(&json!({"username": "alice", "password": "x", "appId": "t"})),
    )
    .await;
    assert_eq!(status, 200);
    assert!(login["token"].is_string());
}
