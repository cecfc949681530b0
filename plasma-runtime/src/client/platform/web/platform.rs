//! [`WebPlatform`]: timers with `setTimeout`, tasks with
//! `wasm_bindgen_futures::spawn_local`, the clock from `Date.now()` and
//! randomness from `crypto.getRandomValues`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_channel::oneshot;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

use super::js::{clear_timeout, global_property, set_timeout};
use crate::client::platform::{BoxFuture, Platform};

/// The browser's timers, task queue, clock and randomness. Works on a page
/// and in a worker.
#[derive(Debug, Clone, Copy, Default)]
pub struct WebPlatform;

impl WebPlatform {
    /// The platform of the current page or worker.
    pub fn new() -> Self {
        WebPlatform
    }
}

impl Platform for WebPlatform {
    fn spawn(&self, task: BoxFuture<'static, ()>) {
        wasm_bindgen_futures::spawn_local(task);
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(Sleep::new(duration))
    }

    fn now_ms(&self) -> i64 {
        js_sys::Date::now() as i64
    }

    fn random_u64(&self) -> u64 {
        let mut bytes = [0u8; 8];
        let filled = global_property("crypto")
            .and_then(|c| c.dyn_into::<web_sys::Crypto>().ok())
            .is_some_and(|crypto| crypto.get_random_values_with_u8_array(&mut bytes).is_ok());
        if filled {
            return u64::from_le_bytes(bytes);
        }
        // No Web Crypto (a very old or unusual host): `Math.random`, whose
        // 52 bits per call are enough for jitter and id entropy.
        let high = (js_sys::Math::random() * 4_294_967_296.0) as u64;
        let low = (js_sys::Math::random() * 4_294_967_296.0) as u64;
        (high << 32) | low
    }
}

/// Completes after a `setTimeout`; dropping it clears the timer.
struct Sleep {
    fired: oneshot::Receiver<()>,
    /// The timer's id, `None` if `setTimeout` failed (then the sleep is over at once).
    timer: Option<JsValue>,
    _handler: Closure<dyn FnMut()>,
}

impl Sleep {
    fn new(duration: Duration) -> Self {
        let (tx, fired) = oneshot::channel();
        let mut tx = Some(tx);
        let handler = Closure::<dyn FnMut()>::new(move || {
            if let Some(tx) = tx.take() {
                let _ = tx.send(());
            }
        });
        // setTimeout takes a 32-bit signed delay (about 24.8 days at most).
        let ms = i32::try_from(duration.as_millis()).unwrap_or(i32::MAX);
        let timer = set_timeout(handler.as_ref().unchecked_ref(), ms).ok();
        Sleep { fired, timer, _handler: handler }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.timer.is_none() {
            return Poll::Ready(());
        }
        // A cancelled sender (never happens while the handler lives) also ends the sleep.
        Pin::new(&mut self.fired).poll(cx).map(|_| ())
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(timer) = self.timer.take() {
            clear_timeout(&timer);
        }
    }
}
