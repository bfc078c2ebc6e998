//! An empty WebKit window of the app's size and nothing else: the floor that
//! `cargo xtask bench app` measures the app's idle memory against (the shell's
//! GTK and WebKitGTK processes, and the GL stack they load, which no app code can
//! shed). An example, so that it is never bundled.

/// The page: one word, served by the window's own scheme. The app's asset protocol
/// answers unknown paths with the app itself, and about:blank would not even start
/// WebKit's web process.
const PAGE: &[u8] = b"<!doctype html><title>floor</title><p>floor</p>";

fn main() {
    let mut context = tauri::generate_context!("../tauri.conf.json");
    let size = context
        .config()
        .app
        .windows
        .first()
        .map(|w| (w.width, w.height));
    // No app window from the configuration: only the empty one below.
    context.config_mut().app.windows.clear();
    let result = tauri::Builder::default()
        .register_uri_scheme_protocol("floor", |_, _| {
            tauri::http::Response::builder()
                .header("Content-Type", "text/html")
                .body(PAGE.to_vec())
                .unwrap_or_else(|_| tauri::http::Response::new(PAGE.to_vec()))
        })
        .setup(move |app| {
            let page = tauri::WebviewUrl::CustomProtocol("floor://localhost/".parse()?);
            let mut window = tauri::WebviewWindowBuilder::new(app, "floor", page);
            if let Some((width, height)) = size {
                window = window.inner_size(width, height);
            }
            // Drawn the way the app draws its windows.
            upzento_phone::rendering::apply(&window.build()?);
            println!("floor window ready");
            Ok(())
        })
        .run(context);
    if let Err(err) = result {
        eprintln!("upzento-floor: {err}");
        std::process::exit(1);
    }
}
