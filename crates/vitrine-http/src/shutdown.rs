//! Graceful shutdown's shared state. On SIGTERM the binary calls [`Draining::start`]:
//! `/readyz` answers 503 from then on (a load balancer stops sending new requests), and the
//! background work (outbox dispatcher, check runner) stops after what it is doing.

use std::sync::Arc;

use tokio::sync::watch;

/// Whether this server is shutting down. Cheap to clone; every clone sees the same state.
#[derive(Clone, Debug)]
pub struct Draining {
    sender: Arc<watch::Sender<bool>>,
}

impl Default for Draining {
    fn default() -> Self {
        Self {
            sender: Arc::new(watch::Sender::new(false)),
        }
    }
}

impl PartialEq for Draining {
    // Two configurations are equal whatever their shutdown handles.
    fn eq(&self, _other: &Self) -> bool {
        true
    }
}

impl Draining {
    /// From now on the server is draining. Idempotent.
    pub fn start(&self) {
        self.sender.send_replace(true);
    }

    pub fn is_draining(&self) -> bool {
        *self.sender.borrow()
    }

    /// Resolves once draining has started (at once if it has).
    pub fn started(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut receiver = self.sender.subscribe();
        async move {
            // The sender lives as long as a clone of this handle does; if every handle is
            // gone nobody can start draining, and waiting for ever is right.
            if receiver.wait_for(|draining| *draining).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_clone_sees_the_start() {
        let draining = Draining::default();
        let waiting = tokio::spawn(draining.started());
        let other = draining.clone();
        assert!(!other.is_draining());
        draining.start();
        assert!(other.is_draining());
        waiting.await.expect("resolved");
        // Already started: resolves at once.
        other.started().await;
    }
}
