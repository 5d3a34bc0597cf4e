//! Ready instances and the janitor threads that refill them and drop used stores.
//!
//! Instantiating CPython costs ~0.9 ms and dropping a used store ~3 ms (the reset copies the
//! memory image back); both are moved off the request path here. One janitor bounded sustained
//! throughput at one store per ~4 ms whatever the number of callers, so there is one per core.
//! Isolation is unchanged: each instance serves one call.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
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
    /// Instances a janitor is making now: counted with `ready` so that two janitors don't both
    /// fill the last place.
    making: AtomicUsize,
}

pub(crate) struct Stock {
    inner: Arc<Inner>,
    dropper: Dropper,
}

/// Where used stores go: to the janitors, or, when they are this far behind, dropped by the
/// caller itself. Bounding the backlog bounds the instances alive at once, hence the pool slots
/// ever warmed, hence resident memory (each warm slot keeps its memory resident): measured, an
/// unbounded backlog under 2 callers warmed all 32 slots, +1.1 GB.
#[derive(Clone)]
pub(crate) struct Dropper {
    tx: Sender<Msg>,
    pending: Arc<AtomicUsize>,
    max_pending: usize,
}

impl Dropper {
    fn send(&self, ready: Ready, slot: OwnedSlot) {
        if self.pending.fetch_add(1, Ordering::SeqCst) >= self.max_pending {
            self.pending.fetch_sub(1, Ordering::SeqCst);
            return retire(ready, slot);
        }
        if let Err(e) = self.tx.send(Msg::Drop(ready, slot)) {
            self.pending.fetch_sub(1, Ordering::SeqCst);
            drop(e.0);
        }
    }
}

/// One instance on loan for one call. Dropping it sends the store to the janitor.
pub(crate) struct Lease {
    ready: Option<(Ready, OwnedSlot)>,
    dropper: Dropper,
}

impl Lease {
    pub(crate) fn new(ready: Ready, slot: OwnedSlot, dropper: Dropper) -> Lease {
        Lease { ready: Some((ready, slot)), dropper }
    }

    pub(crate) fn ready(&mut self) -> &mut Ready {
        &mut self.ready.as_mut().expect("lease holds an instance until dropped").0
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some((ready, slot)) = self.ready.take() {
            self.dropper.send(ready, slot);
        }
    }
}

/// A lease on a new instance made for this call (granted directories, or no stock at hand):
/// waits for a slot, then instantiates.
pub(crate) async fn fresh(shared: &Arc<Shared>, grants: &[Grant], dropper: Dropper) -> Result<Lease, HostError> {
    let slot = OwnedSlot::acquire(shared);
    let ready = shared.instantiate(grants).await?;
    Ok(Lease::new(ready, slot, dropper))
}

impl Stock {
    /// Start `janitors` janitor threads (at least one); they keep `target` instances ready (none
    /// when 0) and drop used stores.
    pub(crate) fn start(shared: Arc<Shared>, target: usize, janitors: usize) -> Stock {
        let inner = Arc::new(Inner {
            ready: Mutex::new(VecDeque::new()),
            full: Condvar::new(),
            target,
            making: AtomicUsize::new(0),
        });
        let (tx, rx) = channel();
        let pending = Arc::new(AtomicUsize::new(0));
        let rx = Arc::new(Mutex::new(rx));
        let mut started = 0;
        for n in 0..janitors.max(1) {
            let (shared, inner, rx, pending) = (shared.clone(), inner.clone(), rx.clone(), pending.clone());
            match std::thread::Builder::new()
                .name(format!("toolsmith-janitor-{n}"))
                .spawn(move || janitor(shared, inner, rx, pending))
            {
                Ok(_) => started += 1,
                Err(e) => tracing::warn!("janitor thread {n} not started: {e}"),
            }
        }
        if started == 0 {
            tracing::warn!("no janitor thread; stores are dropped on the caller's thread");
        }
        for _ in 0..started {
            let _ = tx.send(Msg::Wake);
        }
        // With no janitor, every store is dropped where it was used.
        let dropper = Dropper { tx, pending, max_pending: 2 * started };
        Stock { inner, dropper }
    }

    pub(crate) fn dropper(&self) -> Dropper {
        self.dropper.clone()
    }

    pub(crate) fn take(&self) -> Option<Lease> {
        let got = self.inner.ready.lock().unwrap_or_else(|p| p.into_inner()).pop_front();
        let _ = self.dropper.tx.send(Msg::Wake);
        got.map(|r| Lease { ready: Some(r), dropper: self.dropper.clone() })
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

/// The next message. `block`ing waits for one, holding the lock (the other blocking janitors
/// queue behind it); not blocking, a lock held means the queue was empty when its holder looked.
fn next(rx: &Mutex<Receiver<Msg>>, block: bool) -> Result<Option<Msg>, ()> {
    if block {
        let rx = rx.lock().unwrap_or_else(|p| p.into_inner());
        return rx.recv().map(Some).map_err(|_| ());
    }
    let rx = match rx.try_lock() {
        Ok(rx) => rx,
        Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
        Err(std::sync::TryLockError::WouldBlock) => return Ok(None),
    };
    match rx.try_recv() {
        Ok(m) => Ok(Some(m)),
        Err(std::sync::mpsc::TryRecvError::Empty) => Ok(None),
        Err(std::sync::mpsc::TryRecvError::Disconnected) => Err(()),
    }
}

/// Janitors yield to the threads serving calls: measured through the MCP server, a janitor
/// resetting a store on the other core while the client and server threads of the next call
/// wait for it added ~1 ms to a 2 ms round trip. Under sustained load the stock then runs dry
/// and callers instantiate, and drop (see [`Dropper`]), for themselves: nothing waits on a
/// starved janitor.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: plain syscalls on this thread's own id. On Linux the nice value is per thread.
        let r = unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, 10) };
        if r != 0 {
            tracing::debug!("janitor priority unchanged: {}", std::io::Error::last_os_error());
        }
    }
}

fn janitor(shared: Arc<Shared>, inner: Arc<Inner>, rx: Arc<Mutex<Receiver<Msg>>>, pending: Arc<AtomicUsize>) {
    lower_priority();
    let mut failing = false;
    loop {
        // Drops first: they free slots the refill may need.
        match next(&rx, false) {
            Ok(Some(Msg::Drop(ready, slot))) => {
                retire_queued(ready, slot, &pending);
                continue;
            }
            Ok(Some(Msg::Wake) | None) => {}
            Err(()) => return,
        }
        if !failing && reserve_place(&inner) {
            if !shared.slots.try_acquire() {
                inner.making.fetch_sub(1, Ordering::SeqCst);
            } else {
                let slot = OwnedSlot(shared.clone());
                let t = Instant::now();
                let made = driver::block_on(shared.instantiate(&[])).and_then(|r| r);
                tracing::debug!(us = t.elapsed().as_micros() as u64, "stocked an instance");
                let mut q = inner.ready.lock().unwrap_or_else(|p| p.into_inner());
                inner.making.fetch_sub(1, Ordering::SeqCst);
                match made {
                    Ok(ready) => {
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
        }
        match next(&rx, true) {
            Ok(Some(Msg::Drop(ready, slot))) => retire_queued(ready, slot, &pending),
            Ok(_) => {}
            Err(()) => return,
        }
    }
}

/// Claim one of the stock's empty places for this janitor to fill; `false` when it is full.
fn reserve_place(inner: &Inner) -> bool {
    let q = inner.ready.lock().unwrap_or_else(|p| p.into_inner());
    if q.len() + inner.making.load(Ordering::SeqCst) >= inner.target {
        return false;
    }
    inner.making.fetch_add(1, Ordering::SeqCst);
    true
}

/// [`retire`] a store the [`Dropper`] queued, and count it off the backlog.
fn retire_queued(ready: Ready, slot: OwnedSlot, pending: &AtomicUsize) {
    retire(ready, slot);
    pending.fetch_sub(1, Ordering::SeqCst);
}

/// Drop a used store (the memory reset happens here), then free its slot.
fn retire(ready: Ready, slot: OwnedSlot) {
    let t = Instant::now();
    drop(ready);
    tracing::debug!(us = t.elapsed().as_micros() as u64, "dropped a used store");
    drop(slot);
}
