//! Staff accounts and browser sessions: assignment to counters, disabling, password changes,
//! cookie attributes, logout, login rate limiting, and live configuration that survives a
//! restart.

use luot_shared::CenterConfig;
use luot_shared::protocol::{Role, ServerMessage};
use luot_tests::{ADMIN, ServerOptions, TestServer};
use serde_json::json;

/// The session cookie is HttpOnly, SameSite=Strict and expires; a staff account acts only at
/// its assigned counters, and logout ends the session.
#[tokio::test]
async fn staff_session_is_scoped_to_assigned_counters() {
    let server = TestServer::start(ServerOptions::new());
    server.create_staff("lan", "mat-khau-1", &[1]).await;
    let lan = server.login("lan", "mat-khau-1").await;
    assert_eq!(lan.login.role, Role::Staff);
    assert_eq!(lan.login.counters, vec![1]);
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age="] {
        assert!(
            lan.set_cookie.contains(attribute),
            "cookie lacks {attribute}: {}",
            lan.set_cookie
        );
    }

    lan.api.open_counter(1).await;
    let error = lan.api.counter_action(2, "open").await.expect_error(403);
    assert!(error.message.contains("counter 2"), "{}", error.message);
    lan.api.get("/api/v1/admin/users").await.expect_error(403);

    // A staff account with no counter assigned acts nowhere.
    server.create_staff("binh", "mat-khau-2", &[]).await;
    let binh = server.login("binh", "mat-khau-2").await;
    binh.api.counter_action(3, "open").await.expect_error(403);

    lan.api
        .post_empty("/api/v1/logout")
        .await
        .expect_status(204);
    lan.api.get("/api/v1/me").await.expect_error(401);
}

/// Disabling an account ends its sessions at once; a reset password replaces the old one;
/// a user changes their own password only by giving the current one.
#[tokio::test]
async fn disable_reset_and_change_password() {
    let server = TestServer::start(ServerOptions::new());
    let admin = server.api_as(ADMIN);
    server.create_staff("chi", "mat-khau-cu", &[1]).await;
    let chi = server.login("chi", "mat-khau-cu").await;
    chi.api.open_counter(1).await;

    admin
        .patch("/api/v1/admin/users/chi", &json!({ "disabled": true }))
        .await
        .expect_status(200);
    chi.api.get("/api/v1/me").await.expect_error(401);
    server
        .api(None)
        .post(
            "/api/v1/login",
            &json!({ "username": "chi", "password": "mat-khau-cu" }),
        )
        .await
        .expect_error(401);

    admin
        .patch(
            "/api/v1/admin/users/chi",
            &json!({ "disabled": false, "password": "mat-khau-moi" }),
        )
        .await
        .expect_status(200);
    server
        .api(None)
        .post(
            "/api/v1/login",
            &json!({ "username": "chi", "password": "mat-khau-cu" }),
        )
        .await
        .expect_error(401);
    let chi = server.login("chi", "mat-khau-moi").await;

    chi.api
        .post(
            "/api/v1/password",
            &json!({ "old": "khong-dung", "new": "mat-khau-3" }),
        )
        .await
        .expect_error(403);
    chi.api
        .post(
            "/api/v1/password",
            &json!({ "old": "mat-khau-moi", "new": "ngan" }),
        )
        .await
        .expect_error(422);
    chi.api
        .post(
            "/api/v1/password",
            &json!({ "old": "mat-khau-moi", "new": "mat-khau-3" }),
        )
        .await
        .expect_status(204);
    server.login("chi", "mat-khau-3").await;

    // Weak or malformed accounts are refused with a reason.
    for bad in [
        json!({ "username": "x y", "password": "mat-khau-1", "role": "staff" }),
        json!({ "username": "dung", "password": "short", "role": "staff" }),
        json!({ "username": "dung", "password": "mat-khau-1", "role": "kiosk" }),
        json!({ "username": "dung", "password": "mat-khau-1", "role": "staff", "counters": [42] }),
    ] {
        let status = admin.post("/api/v1/admin/users", &bad).await.status;
        assert!((400..500).contains(&status), "{bad} got {status}");
    }
    admin
        .post(
            "/api/v1/admin/users",
            &json!({ "username": "chi", "password": "mat-khau-1", "role": "staff" }),
        )
        .await
        .expect_error(409);
}

/// After five wrong passwords for a user name, even the right one is refused with 429 and
/// a Retry-After, and nothing reveals whether the name exists.
#[tokio::test]
async fn login_is_rate_limited() {
    let server = TestServer::start(ServerOptions::new());
    server.create_staff("dao", "mat-khau-dung", &[1]).await;
    let anyone = server.api(None);
    for _ in 0..5 {
        let error = anyone
            .post(
                "/api/v1/login",
                &json!({ "username": "dao", "password": "sai" }),
            )
            .await
            .expect_error(401);
        let unknown = anyone
            .post(
                "/api/v1/login",
                &json!({ "username": "khong-co", "password": "sai" }),
            )
            .await
            .expect_error(401);
        assert_eq!(error.message, unknown.message);
    }
    let reply = anyone
        .post(
            "/api/v1/login",
            &json!({ "username": "dao", "password": "mat-khau-dung" }),
        )
        .await;
    reply.expect_error(429);
    // Another user is not locked out by dao's failures.
    server.create_staff("em", "mat-khau-em", &[2]).await;
    server.login("em", "mat-khau-em").await;
}

/// A configuration change made live is an event on the stream, is refused with the field at
/// fault when invalid, and survives a restart with the same center file.
#[tokio::test]
async fn live_configuration_is_recorded_and_survives_restart() {
    let center = r#"
[center]
name = "Trung tâm thử"

[[services]]
id = "a"
name = "Lĩnh vực A"
prefix = "1"

[[counters]]
id = 1
services = ["a"]
"#;
    let mut server = TestServer::start(ServerOptions::new().center(center));
    let admin = server.api_as(ADMIN);
    let mut config: CenterConfig = admin
        .get("/api/v1/admin/center")
        .await
        .expect_status(200)
        .json();
    assert_eq!(config.center.name, "Trung tâm thử");
    let mut ws = server.ws(&server.token(ADMIN), None).await;
    let (seq, _) = ws.snapshot().await;

    let mut bad = config.clone();
    bad.center.timezone = "Asia/Atlantis".into();
    let error = admin
        .put("/api/v1/admin/center", &bad)
        .await
        .expect_error(422);
    assert_eq!(error.field.as_deref(), Some("center.timezone"));
    assert_eq!(
        admin.seq().await,
        seq,
        "a refused configuration records nothing"
    );

    config.services.push(luot_shared::domain::ServiceField {
        id: "b".into(),
        name: "Lĩnh vực B".into(),
        prefix: "2".into(),
        start: 1,
        target_wait_min: 10,
        service_min: 5,
    });
    config.counters[0].services.push("b".into());
    admin
        .put("/api/v1/admin/center", &config)
        .await
        .expect_status(200);
    match ws.next_message().await {
        ServerMessage::Event(rec) => {
            assert_eq!(rec.seq, seq + 1);
            assert_eq!(rec.event.kind(), "center_configured");
        }
        other => panic!("expected the configuration event, got {other:?}"),
    }

    server.restart();
    let admin = server.api_as(ADMIN);
    let after: CenterConfig = admin
        .get("/api/v1/admin/center")
        .await
        .expect_status(200)
        .json();
    assert_eq!(
        after, config,
        "a restart with the same center file keeps live changes"
    );
    let ticket = admin.issue_ticket("b").await;
    assert_eq!(ticket.number, "2001");
}
