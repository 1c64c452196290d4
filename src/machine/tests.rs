use super::*;

#[test]
fn authorization_schemes_split_on_the_first_space() {
    assert_eq!(split_authorization("Bearer abc"), Some(("Bearer", "abc")));
    assert_eq!(split_authorization("bearer  abc "), Some(("bearer", "abc")));
    assert_eq!(split_authorization("Bearer"), None);
    assert_eq!(split_authorization("Bearer   "), None);
}

#[test]
fn basic_credentials_need_a_user_and_a_colon() {
    let enc = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    assert_eq!(
        basic_credentials(&enc("alice:pa:ss")),
        Some(("alice".into(), "pa:ss".into()))
    );
    assert_eq!(
        basic_credentials(&enc("alice:")),
        Some(("alice".into(), String::new()))
    );
    assert_eq!(basic_credentials(&enc(":pw")), None);
    assert_eq!(basic_credentials(&enc("nocolon")), None);
    assert_eq!(basic_credentials("!!!"), None);
}

#[tokio::test]
async fn the_check_pool_runs_at_most_its_permits_and_answers_busy_after_the_wait() {
    use std::time::Duration;
    let pool = Arc::new(CheckPool::new(1, Duration::from_millis(50)));
    let p = Arc::clone(&pool);
    // A slow check holds the only slot...
    let slow = tokio::spawn(async move {
        p.run(|| {
            std::thread::sleep(Duration::from_millis(400));
            true
        })
        .await
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    // ...so the next one gives up after its wait, without running.
    let started = std::time::Instant::now();
    assert_eq!(
        pool.run(|| panic!("ran without a slot")).await,
        Verdict::Busy
    );
    assert!(started.elapsed() < Duration::from_millis(300));
    assert_eq!(slow.await.unwrap(), Verdict::Valid);
    // Free again.
    assert_eq!(pool.run(|| false).await, Verdict::Invalid);
    assert_eq!(pool.run(|| true).await, Verdict::Valid);
    // No wait at all: busy at once while the slot is taken.
    let none = Arc::new(CheckPool::new(1, Duration::ZERO));
    let n = Arc::clone(&none);
    let hold = tokio::spawn(async move {
        n.run(|| {
            std::thread::sleep(Duration::from_millis(200));
            true
        })
        .await
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(none.run(|| true).await, Verdict::Busy);
    assert_eq!(hold.await.unwrap(), Verdict::Valid);
}
