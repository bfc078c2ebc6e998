//! The quick-reply window: a small window over everything else, opened by a
//! notification's Reply action, with the cursor in its text field.

use tauri::{AppHandle, Manager, WebviewUrl, WebviewWindowBuilder};

pub const LABEL: &str = "quick-reply";

pub fn open(app: &AppHandle, conversation_id: &str) {
    // One at a time: a Reply on another notification replaces it.
    close(app);
    let url = format!("index.html#/quick-reply/{conversation_id}");
    let built = WebviewWindowBuilder::new(app, LABEL, WebviewUrl::App(url.into()))
        .title("Reply — Upzento Phone")
        .inner_size(440.0, 360.0)
        .min_inner_size(320.0, 260.0)
        .always_on_top(true)
        .center()
        .focused(true)
        .build();
    match built {
        Ok(window) => {
            crate::rendering::apply(&window);
            let _ = window.set_focus();
        }
        Err(e) => tracing::warn!(error = %e, "the quick-reply window did not open"),
    }
}

pub fn close(app: &AppHandle) {
    if let Some(window) = app.get_webview_window(LABEL) {
        let _ = window.destroy();
    }
}
