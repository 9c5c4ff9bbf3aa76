//! The one channel to the window. Events sent before the window subscribed
//! (a deep link that started the app) wait for it.

use std::sync::{Arc, Mutex, PoisonError};

use tauri::ipc::Channel;

use crate::views::UiEvent;

#[derive(Clone, Default)]
pub struct Ui {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Default)]
struct Inner {
    channel: Option<Channel<UiEvent>>,
    waiting: Vec<UiEvent>,
}

impl Ui {
    pub fn subscribe(&self, channel: Channel<UiEvent>) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        for ev in inner.waiting.drain(..) {
            let _ = channel.send(ev);
        }
        inner.channel = Some(channel);
    }

    pub fn send(&self, ev: UiEvent) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        match &inner.channel {
            Some(c) => {
                if let Err(e) = c.send(ev) {
                    tracing::debug!(error = %e, "the window did not take an event");
                }
            }
            None => inner.waiting.push(ev),
        }
    }
}
