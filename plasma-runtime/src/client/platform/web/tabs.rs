//! [`BroadcastTabs`]: the browser's [`TabChannel`], a `BroadcastChannel`
//! shared by the tabs (and workers) of one origin that use one IndexedDB
//! database. It works offline: nothing leaves the browser.
//!
//! Messages are the JSON text of a [`TabMessage`] (the sender's schema
//! version and client id, and the mutation record). A `BroadcastChannel`
//! never delivers a message to the object that posted it; text that does not
//! decode (another app's message, a newer build's) is ignored.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_channel::mpsc::{UnboundedReceiver, unbounded};
use futures_util::{Stream, StreamExt};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

use super::js::JsError;
use crate::client::platform::BoxStream;
use crate::client::tabs::{TabChannel, TabMessage};

/// A `BroadcastChannel` carrying [`TabMessage`]s between tabs. Closed when dropped.
#[derive(Debug)]
pub struct BroadcastTabs {
    channel: web_sys::BroadcastChannel,
    name: String,
}

impl BroadcastTabs {
    /// The channel name of the tabs on IndexedDB database `database`:
    /// `plasma/<database>`.
    pub fn name_for_database(database: &str) -> String {
        format!("plasma/{database}")
    }

    /// Opens the channel of the tabs on IndexedDB database `database`.
    /// Fails if this global scope has no `BroadcastChannel`.
    pub fn for_database(database: &str) -> Result<Self, JsError> {
        Self::open(&Self::name_for_database(database))
    }

    /// Opens the channel called `name`.
    pub fn open(name: &str) -> Result<Self, JsError> {
        let channel = web_sys::BroadcastChannel::new(name).map_err(JsError::from)?;
        Ok(BroadcastTabs { channel, name: name.to_owned() })
    }

    /// The channel's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl TabChannel for BroadcastTabs {
    fn send(&self, message: &TabMessage) {
        // A record always encodes; a closed channel drops the message (best effort).
        if let Ok(text) = serde_json::to_string(message) {
            let _ = self.channel.post_message(&JsValue::from_str(&text));
        }
    }

    fn incoming(&self) -> BoxStream<'static, TabMessage> {
        let (tx, rx) = unbounded();
        let handler = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |event: web_sys::MessageEvent| {
            let decoded = event.data().as_string().and_then(|text| serde_json::from_str::<TabMessage>(&text).ok());
            if let Some(message) = decoded {
                let _ = tx.unbounded_send(message);
            }
        });
        self.channel.set_onmessage(Some(handler.as_ref().unchecked_ref()));
        Box::pin(Incoming { channel: self.channel.clone(), messages: rx, _handler: handler })
    }
}

impl Drop for BroadcastTabs {
    fn drop(&mut self) {
        self.channel.close();
    }
}

/// The messages of the other tabs; dropping it removes the handler.
struct Incoming {
    channel: web_sys::BroadcastChannel,
    messages: UnboundedReceiver<TabMessage>,
    _handler: Closure<dyn FnMut(web_sys::MessageEvent)>,
}

impl Stream for Incoming {
    type Item = TabMessage;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<TabMessage>> {
        self.messages.poll_next_unpin(cx)
    }
}

impl Drop for Incoming {
    fn drop(&mut self) {
        self.channel.set_onmessage(None);
    }
}
