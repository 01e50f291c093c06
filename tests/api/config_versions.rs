//! `/api/config/versions` and `configVersion` in `/api/status` on an instance whose
//! configuration is not shared (sled): no versions, and the status says so. (With a shared
//! configuration, the unit tests of `src/snapshot/shared` run two instances on a real
//! PostgreSQL; the three-daemon test runs the whole binaries.)

use crate::helpers::{admin_auth, spawn_app, AppOptions};
use crate::openapi_check::{assert_conforms, description};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_shared_configuration_there_are_no_versions_and_the_status_says_so() {
    let app = spawn_app(AppOptions::standalone_single().with_admin()).await;
    let d = description();

    let status = app.admin("GET", "/api/status", &admin_auth(), None).await;
    status.assert_status(200);
    assert!(status.json["configVersion"].is_null(), "{}", status.text);
    assert_conforms(&d, "/api/status", "GET", &status);

    for (method, path, described) in [
        ("GET", "/api/config/versions", "/api/config/versions"),
        ("GET", "/api/config/versions/1", "/api/config/versions/{n}"),
        (
            "POST",
            "/api/config/versions/1/rollback",
            "/api/config/versions/{n}/rollback",
        ),
    ] {
        let response = app.admin(method, path, &admin_auth(), None).await;
        response.assert_status(409);
        assert_eq!(
            response.json["error"]["id"], "no-shared-configuration",
            "{method} {path}: {}",
            response.text
        );
        assert_conforms(&d, described, method, &response);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_or_limit_that_is_not_a_number_is_a_json_refusal() {
    // What Schemathesis sent: `null` where a number goes.
    let app = spawn_app(AppOptions::standalone_single().with_admin()).await;
    let d = description();
    for (method, path, described) in [
        (
            "GET",
            "/api/config/versions?limit=null&limit=null",
            "/api/config/versions",
        ),
        (
            "GET",
            "/api/config/versions/null%2Cnull",
            "/api/config/versions/{n}",
        ),
        (
            "POST",
            "/api/config/versions/null%2Cnull/rollback",
            "/api/config/versions/{n}/rollback",
        ),
    ] {
        let response = app.admin(method, path, &admin_auth(), None).await;
        response.assert_error(400, "invalid-parameters-format");
        assert_conforms(&d, described, method, &response);
    }
}
