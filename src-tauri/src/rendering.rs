//! How WebKitGTK draws the app's windows.
//!
//! In software: WebKit's default composites every page through OpenGL and hands
//! frames to the window as DMA-BUF buffers, which costs about 75 MiB more at idle
//! (measured by `cargo xtask bench app`) for a UI of lists and forms that has nothing
//! to accelerate, and GPU compositing is where WebKitGTK's blank-window bugs live.
//! `UPZENTO_GPU=1` keeps WebKit's own choice, for a machine where that is better.

/// Applies the app's rendering choice to one of its windows. Settings are per web
/// view, so every window the app opens goes through here.
pub fn apply(window: &tauri::WebviewWindow) {
    if std::env::var_os("UPZENTO_GPU").is_some_and(|v| v == "1") {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        let applied = window.with_webview(|webview| {
            use webkit2gtk::{HardwareAccelerationPolicy, SettingsExt, WebViewExt};
            if let Some(settings) = WebViewExt::settings(&webview.inner()) {
                settings.set_hardware_acceleration_policy(HardwareAccelerationPolicy::Never);
                // Nothing in the app draws WebGL.
                settings.set_enable_webgl(false);
            }
        });
        if let Err(e) = applied {
            tracing::warn!(error = %e, "the window keeps WebKit's default rendering");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = window;
}
