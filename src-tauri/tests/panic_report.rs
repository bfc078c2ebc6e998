//! A panic anywhere in the app leaves a report file in the log directory.

use std::time::Duration;

#[test]
fn a_panic_writes_a_report_beside_the_logs() {
    let dir = tempfile::tempdir().unwrap();
    let _guard = upzento_phone::logging::init(dir.path()).unwrap();
    let joined = std::thread::Builder::new()
        .name("worker".into())
        .spawn(|| panic!("deliberate test panic"))
        .unwrap()
        .join();
    assert!(joined.is_err());

    let mut reports = Vec::new();
    for _ in 0..50 {
        reports = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("panic-")
            })
            .collect();
        if !reports.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(reports.len(), 1, "one panic report expected");
    let report = std::fs::read_to_string(&reports[0]).unwrap();
    assert!(report.contains("deliberate test panic"), "{report}");
    assert!(report.contains("thread \"worker\""), "{report}");
    assert!(report.contains("Backtrace:"), "{report}");
}
