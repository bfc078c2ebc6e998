//! Desktop notifications for new inbound SMS, with the actions Reply, Mark done and
//! (a click) Open. XDG notifications have no inline reply, so Reply asks the shell for
//! the quick-reply window (`AppEvent::QuickReply`).
//!
//! The [`Notifier`] is a trait so that the API's tests run without a notification
//! server; the desktop uses [`DesktopNotifier`] (notify-rust over the session bus).

/// One notification about a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub conversation_id: String,
    /// Who wrote: the contact's name, or their number.
    pub title: String,
    pub body: String,
}

/// What the user did with a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeAction {
    Reply,
    Done,
    Open,
}

pub type OnAction = Box<dyn FnOnce(NoticeAction) + Send>;

/// Answer (`true`) or Decline, picked on an incoming-call notification.
pub type OnAnswer = Box<dyn FnOnce(bool) + Send>;

/// What an incoming-call notification becomes when the call was missed: its text ("Missed
/// call from …") and what its "Call back" action does.
pub struct Missed {
    pub text: String,
    pub call_back: Box<dyn FnOnce() + Send>,
}

impl std::fmt::Debug for Missed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Missed")
            .field("text", &self.text)
            .finish_non_exhaustive()
    }
}

/// Takes an incoming-call notification down when the call stops ringing; for a missed
/// call, leaves that instead, with Call back.
pub type CloseRing = Box<dyn FnOnce(Option<Missed>) + Send>;

pub trait Notifier: Send + Sync + std::fmt::Debug {
    /// Shows `notice`; `on_action` runs at most once, when the user picks an action.
    fn show(&self, notice: Notice, on_action: OnAction) -> Result<(), String>;

    /// Announces an incoming call from `caller` with Answer and Decline, so that it can
    /// be taken while the window is hidden.
    fn ring(&self, caller: &str, on_answer: OnAnswer) -> Result<CloseRing, String> {
        let _ = (caller, on_answer);
        Ok(Box::new(|_| {}))
    }
}

/// Shows nothing (no notification server, or notifications turned off).
#[derive(Debug, Default)]
pub struct Silent;

impl Notifier for Silent {
    fn show(&self, _notice: Notice, _on_action: OnAction) -> Result<(), String> {
        Ok(())
    }
}

/// Notifications through the desktop's notification server (notify-rust, D-Bus).
#[derive(Debug, Default)]
pub struct DesktopNotifier;

/// Notification servers may read the body as markup: show the text as text.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

impl Notifier for DesktopNotifier {
    fn show(&self, notice: Notice, on_action: OnAction) -> Result<(), String> {
        // The D-Bus handle is bound to its thread: show and wait on one of our own.
        let (shown_tx, shown) = std::sync::mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("notification".into())
            .spawn(move || {
                let handle = notify_rust::Notification::new()
                    .appname("Upzento Phone")
                    .summary(&notice.title)
                    .body(&escape(&notice.body))
                    .icon("mail-message-new")
                    .hint(notify_rust::Hint::Category("im.received".into()))
                    .action("default", "Open")
                    .action("reply", "Reply")
                    .action("done", "Mark done")
                    .show();
                let handle = match handle {
                    Ok(handle) => {
                        let _ = shown_tx.send(Ok(()));
                        handle
                    }
                    Err(e) => {
                        let _ = shown_tx.send(Err(e.to_string()));
                        return;
                    }
                };
                handle.wait_for_action(|action| {
                    let picked = match action {
                        "reply" => NoticeAction::Reply,
                        "done" => NoticeAction::Done,
                        "default" => NoticeAction::Open,
                        _ => return, // closed or expired
                    };
                    on_action(picked);
                });
            })
            .map_err(|e| e.to_string())?;
        shown
            .recv()
            .map_err(|_| "the notification thread ended".to_owned())?
    }

    fn ring(&self, caller: &str, on_answer: OnAnswer) -> Result<CloseRing, String> {
        Self::ring_now(caller, on_answer)
    }
}

impl DesktopNotifier {
    fn ring_now(caller: &str, on_answer: OnAnswer) -> Result<CloseRing, String> {
        let caller = caller.to_owned();
        let (shown_tx, shown) = std::sync::mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("call-notification".into())
            .spawn(move || {
                let handle = notify_rust::Notification::new()
                    .appname("Upzento Phone")
                    .summary(&format!("Incoming call from {}", escape(&caller)))
                    .icon("call-start")
                    .urgency(notify_rust::Urgency::Critical)
                    .timeout(notify_rust::Timeout::Never)
                    .action("answer", "Answer")
                    .action("decline", "Decline")
                    .show();
                let handle = match handle {
                    Ok(handle) => {
                        let _ = shown_tx.send(Ok(handle.id()));
                        handle
                    }
                    Err(e) => {
                        let _ = shown_tx.send(Err(e.to_string()));
                        return;
                    }
                };
                handle.wait_for_action(|action| match action {
                    "answer" | "default" => on_answer(true),
                    "decline" => on_answer(false),
                    _ => {} // closed: the call stopped ringing
                });
            })
            .map_err(|e| e.to_string())?;
        let id = shown
            .recv()
            .map_err(|_| "the notification thread ended".to_owned())??;
        Ok(Box::new(move |leave: Option<Missed>| {
            // Replacing the notification (same id) drops its actions; then it is closed
            // unless it should stay as a missed call, with Call back.
            let _ = std::thread::Builder::new()
                .name("call-notification-close".into())
                .spawn(move || {
                    let mut replacement = notify_rust::Notification::new();
                    replacement
                        .appname("Upzento Phone")
                        .id(id)
                        .icon("call-missed");
                    match leave {
                        Some(missed) => {
                            let shown = replacement
                                .summary(&escape(&missed.text))
                                .action("call-back", "Call back")
                                .show();
                            if let Ok(handle) = shown {
                                let call_back = missed.call_back;
                                handle.wait_for_action(move |action| {
                                    if action == "call-back" {
                                        call_back();
                                    }
                                });
                            }
                        }
                        None => {
                            if let Ok(handle) = replacement.summary("Call").show() {
                                handle.close();
                            }
                        }
                    }
                });
        }))
    }
}

/// Shortens a message to what a notification shows.
pub fn preview(text: &str) -> String {
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_previews_are_short() {
        assert_eq!(escape("<b>5 & 6</b>"), "&lt;b&gt;5 &amp; 6&lt;/b&gt;");
        assert_eq!(preview("  hello\n\nthere  "), "hello there");
        let long = "x".repeat(500);
        assert_eq!(preview(&long).chars().count(), 201);
    }
}
