//! The tray icon: shows the window, quits, and carries the unread count (in its
//! tooltip, and as its title where the panel shows one).

use std::sync::atomic::{AtomicBool, Ordering};

use tauri::menu::{Menu, MenuItem};
use tauri::tray::{MouseButton, MouseButtonState, TrayIconBuilder, TrayIconEvent};
use tauri::{AppHandle, Manager};

pub fn create(app: &AppHandle) -> tauri::Result<()> {
    let show = MenuItem::with_id(app, "show", "Show Upzento Phone", true, None::<&str>)?;
    let quit = MenuItem::with_id(app, "quit", "Quit", true, None::<&str>)?;
    let menu = Menu::with_items(app, &[&show, &quit])?;
    let mut builder = TrayIconBuilder::with_id("main")
        .tooltip("Upzento Phone")
        .menu(&menu)
        .show_menu_on_left_click(false)
        .on_menu_event(|app, event| match event.id().as_ref() {
            "show" => crate::show_main_window(app),
            "quit" => app.exit(0),
            _ => {}
        })
        .on_tray_icon_event(|tray, event| {
            if let TrayIconEvent::Click {
                button: MouseButton::Left,
                button_state: MouseButtonState::Up,
                ..
            } = event
            {
                crate::show_main_window(tray.app_handle());
            }
        });
    if let Some(icon) = app.default_window_icon() {
        builder = builder.icon(icon.clone());
    }
    builder.build(app)?;
    Ok(())
}

/// Recomputes the unread count, at most about once a second however many changes arrive.
pub fn unread_changed(app: &AppHandle) {
    static PENDING: AtomicBool = AtomicBool::new(false);
    if PENDING.swap(true, Ordering::AcqRel) {
        return;
    }
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        PENDING.store(false, Ordering::Release);
        let unread = app.state::<upzento_api::Api>().unread_conversations().await;
        if let Some(tray) = app.tray_by_id("main") {
            let (tooltip, title) = match unread {
                0 => ("Upzento Phone".to_owned(), None),
                1 => (
                    "Upzento Phone: 1 unread conversation".to_owned(),
                    Some("1".to_owned()),
                ),
                n => (
                    format!("Upzento Phone: {n} unread conversations"),
                    Some(n.to_string()),
                ),
            };
            let _ = tray.set_tooltip(Some(tooltip));
            let _ = tray.set_title(title);
        }
    });
}
