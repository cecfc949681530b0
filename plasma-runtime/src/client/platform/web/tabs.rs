//! [`BroadcastTabs`]: the browser's [`TabChannel`], a `BroadcastChannel`
//! shared by the tabs (and workers) of one origin that use one IndexedDB
//! database. It works offline: nothing leaves the browser.
//!
//! A message is the JSON text of an array of [`TabMessage`]s (the sender's
//! schema version and client id, and the mutation record): mutations queued
//! in one task go out as one message from a zero-delay timer, so an app that
//! queues a thousand pays one `postMessage`, not a thousand (a lone object is
//! accepted too). A `BroadcastChannel` never delivers a message to the object
//! that posted it; text that does not decode (another app's message, a newer
//! build's) is ignored.

use std::cell::{Cell, RefCell};
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll};

use futures_channel::mpsc::{UnboundedReceiver, unbounded};
use futures_util::{Stream, StreamExt};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

use super::js::{JsError, set_timeout};
use crate::client::platform::BoxStream;
use crate::client::tabs::{TabChannel, TabMessage};

/// A `BroadcastChannel` carrying [`TabMessage`]s between tabs. Closed when
/// dropped (after posting what it still holds).
#[derive(Debug)]
pub struct BroadcastTabs {
    channel: web_sys::BroadcastChannel,
    name: String,
    outbox: Rc<Outbox>,
}

/// Messages waiting for this task's batch, encoded.
#[derive(Debug, Default)]
struct Outbox {
    texts: RefCell<Vec<String>>,
    scheduled: Cell<bool>,
}

impl Outbox {
    /// Posts every waiting message as one JSON array.
    fn post(&self, channel: &web_sys::BroadcastChannel) {
        self.scheduled.set(false);
        let texts = std::mem::take(&mut *self.texts.borrow_mut());
        if texts.is_empty() {
            return;
        }
        let mut batch = String::with_capacity(texts.iter().map(|t| t.len() + 1).sum::<usize>() + 1);
        batch.push('[');
        batch.push_str(&texts.join(","));
        batch.push(']');
        // A closed channel drops the batch (best effort, as documented).
        let _ = channel.post_message(&JsValue::from_str(&batch));
    }
}

/// The messages in one posted text: an array, or a lone message.
fn decode_batch(text: &str) -> Vec<TabMessage> {
    if text.starts_with('[') {
        serde_json::from_str(text).unwrap_or_default()
    } else {
        serde_json::from_str(text).map(|m| vec![m]).unwrap_or_default()
    }
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
        Ok(BroadcastTabs { channel, name: name.to_owned(), outbox: Rc::default() })
    }

    /// The channel's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl TabChannel for BroadcastTabs {
    fn send(&self, message: &TabMessage) {
        // A record always encodes.
        let Ok(text) = serde_json::to_string(message) else { return };
        self.outbox.texts.borrow_mut().push(text);
        if self.outbox.scheduled.replace(true) {
            return;
        }
        let outbox: Weak<Outbox> = Rc::downgrade(&self.outbox);
        let channel = self.channel.clone();
        let tick = js_sys::Promise::new(&mut |resolve, _reject| {
            // Without a timer the batch goes out when the channel is dropped.
            let _ = set_timeout(&resolve, 0);
        });
        wasm_bindgen_futures::spawn_local(async move {
            let _ = wasm_bindgen_futures::JsFuture::from(tick).await;
            if let Some(outbox) = outbox.upgrade() {
                outbox.post(&channel);
            }
        });
    }

    fn incoming(&self) -> BoxStream<'static, TabMessage> {
        let (tx, rx) = unbounded();
        let handler = Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |event: web_sys::MessageEvent| {
            let decoded = event.data().as_string().map(|text| decode_batch(&text)).unwrap_or_default();
            for message in decoded {
                let _ = tx.unbounded_send(message);
            }
        });
        self.channel.set_onmessage(Some(handler.as_ref().unchecked_ref()));
        Box::pin(Incoming { channel: self.channel.clone(), messages: rx, _handler: handler })
    }
}

impl Drop for BroadcastTabs {
    fn drop(&mut self) {
        self.outbox.post(&self.channel);
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
