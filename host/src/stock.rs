//! Ready instances and the janitor thread that refills them and drops used stores.
//!
//! Instantiating CPython costs ~0.5 ms and dropping a store with resident memory ~0.4 ms; both are
//! moved off the request path here. Isolation is unchanged: each instance serves one call.

use std::collections::VecDeque;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::{Grant, HostError, Ready, Shared, driver};

/// A counting semaphore over the pooling allocator's instance slots, so that a burst of calls
/// waits for a slot instead of failing with "pool exhausted".
pub(crate) struct Slots {
    free: Mutex<usize>,
    cv: Condvar,
}

/// A slot held past the borrow (by the stock or a lease); released on drop.
pub(crate) struct OwnedSlot(Arc<Shared>);

impl Slots {
    pub(crate) fn new(n: usize) -> Slots {
        Slots { free: Mutex::new(n), cv: Condvar::new() }
    }

    fn acquire(&self) {
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        while *free == 0 {
            free = self.cv.wait(free).unwrap_or_else(|p| p.into_inner());
        }
        *free -= 1;
    }

    fn try_acquire(&self) -> bool {
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        if *free == 0 {
            return false;
        }
        *free -= 1;
        true
    }

    fn release(&self) {
        *self.free.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        self.cv.notify_one();
    }
}

impl OwnedSlot {
    /// Wait for a free slot.
    pub(crate) fn acquire(shared: &Arc<Shared>) -> OwnedSlot {
        shared.slots.acquire();
        OwnedSlot(shared.clone())
    }
}

impl Drop for OwnedSlot {
    fn drop(&mut self) {
        self.0.slots.release();
    }
}

pub(crate) enum Msg {
    /// A used store to drop, with its slot.
    Drop(Ready, OwnedSlot),
    /// The stock went down: refill.
    Wake,
}

struct Inner {
    ready: Mutex<VecDeque<(Ready, OwnedSlot)>>,
    full: Condvar,
    target: usize,
}

pub(crate) struct Stock {
    inner: Arc<Inner>,
    tx: Sender<Msg>,
}

/// One instance on loan for one call. Dropping it sends the store to the janitor.
pub(crate) struct Lease {
    ready: Option<(Ready, OwnedSlot)>,
    tx: Sender<Msg>,
}

impl Lease {
    pub(crate) fn new(ready: Ready, slot: OwnedSlot, tx: Sender<Msg>) -> Lease {
        Lease { ready: Some((ready, slot)), tx }
    }

    pub(crate) fn ready(&mut self) -> &mut Ready {
        &mut self.ready.as_mut().expect("lease holds an instance until dropped").0
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some((ready, slot)) = self.ready.take()
            && let Err(e) = self.tx.send(Msg::Drop(ready, slot))
        {
            drop(e.0);
        }
    }
}

/// A lease on a new instance made for this call (granted directories, or no stock at hand):
/// waits for a slot, then instantiates.
pub(crate) async fn fresh(shared: &Arc<Shared>, grants: &[Grant], dropper: Sender<Msg>) -> Result<Lease, HostError> {
    let slot = OwnedSlot::acquire(shared);
    let ready = shared.instantiate(grants).await?;
    Ok(Lease::new(ready, slot, dropper))
}

impl Stock {
    /// Start the janitor; it keeps `target` instances ready (none when 0) and drops used stores.
    pub(crate) fn start(shared: Arc<Shared>, target: usize) -> Stock {
        let inner = Arc::new(Inner { ready: Mutex::new(VecDeque::new()), full: Condvar::new(), target });
        let (tx, rx) = channel();
        let janitor_inner = inner.clone();
        let spawned = std::thread::Builder::new()
            .name("toolsmith-janitor".into())
            .spawn(move || janitor(shared, janitor_inner, rx));
        if let Err(e) = spawned {
            tracing::warn!("no janitor thread ({e}); stores are dropped on the caller's thread");
        }
        let _ = tx.send(Msg::Wake);
        Stock { inner, tx }
    }

    pub(crate) fn dropper(&self) -> Sender<Msg> {
        self.tx.clone()
    }

    pub(crate) fn take(&self) -> Option<Lease> {
        let got = self.inner.ready.lock().unwrap_or_else(|p| p.into_inner()).pop_front();
        let _ = self.tx.send(Msg::Wake);
        got.map(|r| Lease { ready: Some(r), tx: self.tx.clone() })
    }

    pub(crate) fn wait_full(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut q = self.inner.ready.lock().unwrap_or_else(|p| p.into_inner());
        while q.len() < self.inner.target {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            q = self.inner.full.wait_timeout(q, deadline - now).unwrap_or_else(|p| p.into_inner()).0;
        }
        true
    }
}

fn janitor(shared: Arc<Shared>, inner: Arc<Inner>, rx: Receiver<Msg>) {
    let mut failing = false;
    loop {
        // Drops first: they free slots the refill may need.
        match rx.try_recv() {
            Ok(Msg::Drop(ready, slot)) => {
                retire(ready, slot);
                continue;
            }
            Ok(Msg::Wake) => {}
            Err(std::sync::mpsc::TryRecvError::Empty) => {}
            Err(std::sync::mpsc::TryRecvError::Disconnected) => return,
        }
        let short = inner.ready.lock().unwrap_or_else(|p| p.into_inner()).len() < inner.target;
        if short && !failing && shared.slots.try_acquire() {
            let slot = OwnedSlot(shared.clone());
            let t = Instant::now();
            let made = driver::block_on(shared.instantiate(&[])).and_then(|r| r);
            tracing::debug!(us = t.elapsed().as_micros() as u64, "stocked an instance");
            match made {
                Ok(ready) => {
                    let mut q = inner.ready.lock().unwrap_or_else(|p| p.into_inner());
                    q.push_back((ready, slot));
                    if q.len() >= inner.target {
                        inner.full.notify_all();
                    }
                    continue;
                }
                Err(e) => {
                    // Callers instantiate themselves and see the error; don't spin on it here.
                    tracing::warn!("cannot stock instances: {e}");
                    failing = true;
                }
            }
        }
        match rx.recv() {
            Ok(Msg::Drop(ready, slot)) => retire(ready, slot),
            Ok(Msg::Wake) => {}
            Err(_) => return,
        }
    }
}

/// Drop a used store (the memory reset happens here), then free its slot.
fn retire(ready: Ready, slot: OwnedSlot) {
    let t = Instant::now();
    drop(ready);
    tracing::debug!(us = t.elapsed().as_micros() as u64, "dropped a used store");
    drop(slot);
}
