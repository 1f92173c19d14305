//! `/api/v1/reports` on the real server: today's figures as JSON and CSV, and bad queries.

use luot_shared::protocol::Role;
use luot_tests::{ADMIN, ServerOptions, TestServer};
use serde_json::Value;

/// Today's served, no-show and rated tickets show in the report by service and by staff, the
/// CSV is spreadsheet-ready, and only an admin may read reports.
#[tokio::test]
async fn todays_report_as_json_and_csv() {
    let server = TestServer::start(
        ServerOptions::new()
            .token("kiosk", Role::Kiosk, None)
            .token("rate-1", Role::Kiosk, Some(1))
            .token("quay-1", Role::Staff, Some(1)),
    );
    let kiosk = server.api_as("kiosk");
    let staff = server.api_as("quay-1");
    let admin = server.api_as(ADMIN);
    let first = kiosk.issue_ticket("tnmt").await;
    kiosk.issue_ticket("tnmt").await;
    kiosk.issue_ticket("tckh").await;
    staff.open_counter(1).await;
    assert_eq!(staff.call_next(1).await.map(|t| t.id), Some(first.id));
    staff.counter_action(1, "finish").await.expect_status(200);
    server
        .api_as("rate-1")
        .rate(first.id, 5)
        .await
        .expect_status(200);
    staff.call_next(1).await.expect("the second tnmt ticket");
    staff.counter_action(1, "no-show").await.expect_status(200);

    let report: Value = admin
        .get("/api/v1/reports?by=service")
        .await
        .expect_status(200)
        .json();
    let rows = report["rows"].as_array().expect("rows");
    assert_eq!(rows[0]["key"], "tnmt", "services in the center's order");
    assert_eq!(rows[0]["label"], "Tài nguyên - Môi trường");
    assert_eq!(rows[0]["issued"], 2);
    assert_eq!(rows[0]["served"], 1);
    assert_eq!(rows[0]["no_show"], 1);
    assert_eq!(rows[0]["called"], 2);
    assert_eq!(rows[0]["ratings"], 1);
    assert_eq!(rows[0]["satisfaction_pct"], 100.0);
    assert_eq!(rows[1]["key"], "tckh");
    assert_eq!(rows[1]["called"], 0);
    assert_eq!(report["total"]["issued"], 3);

    let by_staff: Value = admin
        .get("/api/v1/reports?by=staff")
        .await
        .expect_status(200)
        .json();
    let names: Vec<&str> = by_staff["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|r| r["key"].as_str())
        .collect();
    assert_eq!(names, ["-", "quay-1"]);

    let csv = admin
        .get("/api/v1/reports?by=service&format=csv")
        .await
        .expect_status(200);
    assert!(
        csv.content_type
            .as_deref()
            .is_some_and(|c| c.starts_with("text/csv"))
    );
    let mut lines = csv.body.lines();
    let header = lines.next().expect("header");
    assert!(
        header.starts_with('\u{feff}'),
        "a byte-order mark for spreadsheets"
    );
    assert!(header.contains("Chờ trung bình (phút)"));
    let tnmt = lines.next().expect("first row");
    assert!(
        tnmt.starts_with("tnmt,Tài nguyên - Môi trường,2,1,1,"),
        "{tnmt}"
    );
    assert!(
        csv.body
            .lines()
            .last()
            .is_some_and(|l| l.starts_with("total,Tổng cộng,3,"))
    );

    let quarter: Value = admin
        .get("/api/v1/reports?by=quarter")
        .await
        .expect_status(200)
        .json();
    assert_eq!(quarter["rows"].as_array().map(Vec::len), Some(1));
    assert!(
        quarter["rows"][0]["label"]
            .as_str()
            .is_some_and(|l| l.starts_with("Quý ")),
        "a quarter reads as Quý I–IV"
    );

    for bad in [
        "/api/v1/reports?from=2026-05-02&to=2026-05-01",
        "/api/v1/reports?from=2020-01-01&to=2026-01-01",
        "/api/v1/reports?by=year",
        "/api/v1/reports?from=yesterday",
        "/api/v1/reports?format=xlsx",
        "/api/v1/reports?secret=1",
    ] {
        let status = admin.get(bad).await.status;
        assert!((400..500).contains(&status), "{bad} answered {status}");
        admin.get(bad).await.expect_error(status);
    }
    staff.get("/api/v1/reports").await.expect_error(403);
    kiosk.get("/api/v1/reports").await.expect_error(403);
    server
        .api(None)
        .get("/api/v1/reports")
        .await
        .expect_error(401);
}
