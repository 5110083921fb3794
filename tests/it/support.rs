//! Shared test helpers: service discovery with skip-or-fail semantics.

/// Whether the environment demands every external service (CI sets this).
pub fn services_required() -> bool {
    std::env::var("SALUR_TEST_REQUIRE_SERVICES").is_ok_and(|v| v == "1" || v == "true")
}

/// Checks that a TCP service answers at `addr`. When it does not, the test
/// is skipped with a printed reason, or fails when services are required.
/// Returns `false` when the caller should return early (skip).
pub async fn service_available(what: &str, addr: &str) -> bool {
    let ok = tokio::time::timeout(
        std::time::Duration::from_secs(2),
        tokio::net::TcpStream::connect(addr),
    )
    .await
    .is_ok_and(|r| r.is_ok());
    if ok {
        return true;
    }
    if services_required() {
        panic!("{what} is required (SALUR_TEST_REQUIRE_SERVICES=1) but not reachable at {addr}");
    }
    eprintln!("SKIP: {what} not reachable at {addr}");
    false
}
