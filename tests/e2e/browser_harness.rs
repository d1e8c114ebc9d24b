//! The browser harness itself, in a real headless Chromium: axe-core passes
//! an accessible page and names the faults of an inaccessible one, and
//! screenshots are real PNG files. The portal, dashboard and report tests
//! rely on both.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]

use std::collections::BTreeSet;
use std::path::Path;

use loyalty_e2e::browser::Browser;
use url::Url;

/// The eight bytes every PNG file starts with.
const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
/// A small square image, inline so the pages need no other file.
const PIXEL: &str = "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' width='40' \
                     height='40'%3E%3Crect width='40' height='40' fill='%23c90'/%3E%3C/svg%3E";

/// Writes `html` into `dir` and returns its `file://` URL.
fn page(dir: &Path, name: &str, html: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, html).unwrap();
    Url::from_file_path(&path).unwrap().to_string()
}

#[tokio::test]
async fn an_accessible_page_has_no_serious_violations_and_screenshots_as_png() {
    let dir = tempfile::tempdir().unwrap();
    let url = page(
        dir.path(),
        "accessible.html",
        &format!(
            r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Member portal</title></head>
<body>
  <main>
    <h1>Your points</h1>
    <img src="{PIXEL}" alt="Gold tier badge">
    <form>
      <label for="email">Email</label>
      <input id="email" type="email" name="email">
    </form>
  </main>
</body>
</html>"#
        ),
    );
    let browser = Browser::start().await.unwrap();
    browser.open(&url).await.unwrap();

    let report = browser.axe().await.unwrap();
    assert!(report.serious().is_empty(), "{report}");

    let shot = browser
        .screenshot("browser_harness_accessible_page")
        .await
        .unwrap();
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(PNG_SIGNATURE),
        "{} is not a PNG",
        shot.display()
    );
    browser.close().await;
}

#[tokio::test]
async fn a_missing_alt_label_and_lang_are_serious_violations() {
    let dir = tempfile::tempdir().unwrap();
    let url = page(
        dir.path(),
        "inaccessible.html",
        &format!(
            r#"<!doctype html>
<html>
<head><meta charset="utf-8"><title>Member portal</title></head>
<body>
  <main>
    <h1>Your points</h1>
    <img src="{PIXEL}">
    <input id="email" type="email" name="email">
  </main>
</body>
</html>"#
        ),
    );
    let browser = Browser::start().await.unwrap();
    browser.open(&url).await.unwrap();

    let report = browser.axe().await.unwrap();
    let serious: BTreeSet<&str> = report.serious().iter().map(|v| v.id.as_str()).collect();
    assert_eq!(
        serious,
        BTreeSet::from(["html-has-lang", "image-alt", "label"]),
        "{report}"
    );
    let image_alt = report.violations.iter().find(|v| v.id == "image-alt");
    assert_eq!(image_alt.unwrap().nodes, ["img"], "{report}");
    let label = report.violations.iter().find(|v| v.id == "label");
    assert_eq!(label.unwrap().nodes, ["#email"], "{report}");
    browser.close().await;
}
