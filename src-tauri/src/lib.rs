//! The desktop shell: windows, tray, single instance, logging, and one IPC
//! command per `upzento_api::Api` method. Nothing else lives here.

mod commands;
pub mod logging;
mod quick_reply;
pub mod rendering;
mod tray;

use std::sync::Arc;

use tauri::Manager;
use upzento_api::{Api, AppEvent, Paths};
use upzento_client::credentials::KeyringStore;

pub use commands::specta_builder;

pub const MAIN_WINDOW: &str = "main";

/// When the process started, for the start-up time logged by `ui_ready`.
pub(crate) static STARTED: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

pub fn run() {
    STARTED.get_or_init(std::time::Instant::now);
    let specta = specta_builder();
    let result = tauri::Builder::default()
        // Registered first, as its docs ask: a second launch focuses the running window.
        .plugin(tauri_plugin_single_instance::init(|app, args, _cwd| {
            tracing::info!("second launch: focusing the running instance");
            // A tel:/sip: link clicked elsewhere starts the app again with it.
            let api = app.state::<Api>();
            for arg in args.iter().skip(1) {
                api.open_link(arg);
            }
            show_main_window(app);
        }))
        .plugin(tauri_plugin_window_state::Builder::default().build())
        .invoke_handler(specta.invoke_handler())
        .setup(move |app| {
            specta.mount_events(app);
            if let Some(window) = app.get_webview_window(MAIN_WINDOW) {
                rendering::apply(&window);
            }
            let paths = app_paths(app.handle())?;
            let guard = logging::init(&paths.log_dir)?;
            app.manage(guard);
            tracing::info!(version = env!("CARGO_PKG_VERSION"), ?paths, "starting");
            let mut api = Api::new(&paths, Arc::new(KeyringStore))
                .with_notifier(Arc::new(upzento_api::notify::DesktopNotifier));
            // The XDG Downloads folder; where none is configured, ~/Downloads, as file
            // managers and browsers do.
            let downloads = app
                .path()
                .download_dir()
                .or_else(|_| app.path().home_dir().map(|h| h.join("Downloads")));
            if let Ok(downloads) = downloads {
                api = api.with_downloads(downloads);
            }
            forward_events(app.handle(), &api);
            for arg in std::env::args().skip(1) {
                api.open_link(&arg);
            }
            // SIP accounts register at start, not when the UI first asks.
            let phone = api.clone();
            tauri::async_runtime::spawn(async move {
                phone.phone_start().await;
            });
            app.manage(api);
            tray::create(app.handle())?;
            Ok(())
        })
        .run(tauri::generate_context!("../tauri.conf.json"));
    if let Err(err) = result {
        tracing::error!(%err, "the app failed");
        eprintln!("upzento-phone: {err}");
        std::process::exit(1);
    }
}

/// Passes the API's events to the UI as the `AppEventPayload` Tauri event.
fn forward_events(app: &tauri::AppHandle, api: &Api) {
    use tauri_specta::Event as _;
    let mut events = api.subscribe();
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        loop {
            match events.recv().await {
                Ok(event) => {
                    match &event {
                        AppEvent::QuickReply { conversation_id } => {
                            quick_reply::open(&app, conversation_id);
                        }
                        AppEvent::OpenConversation { .. }
                        | AppEvent::ShowCall { .. }
                        | AppEvent::Dial { .. } => {
                            show_main_window(&app);
                        }
                        AppEvent::Changed { .. } | AppEvent::Sync { .. } => {
                            tray::unread_changed(&app);
                        }
                        _ => {}
                    }
                    if let Err(e) = commands::AppEventPayload(event).emit(&app) {
                        tracing::warn!(error = %e, "event not delivered to the UI");
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "the UI fell behind on events");
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    });
}

fn app_paths(app: &tauri::AppHandle) -> tauri::Result<Paths> {
    let path = app.path();
    Ok(Paths {
        config_dir: path.app_config_dir()?,
        data_dir: path.app_data_dir()?,
        log_dir: path.app_log_dir()?,
    })
}

pub(crate) fn show_main_window(app: &tauri::AppHandle) {
    if let Some(window) = app.get_webview_window(MAIN_WINDOW) {
        // Each step may fail on an exotic window manager; none of them is fatal.
        let _ = window.unminimize();
        let _ = window.show();
        let _ = window.set_focus();
    }
}
