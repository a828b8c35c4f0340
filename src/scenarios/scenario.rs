//! A declaration with its body attached: what the runner runs. The plan layer never sees a
//! body; a scenario file attaches one to each declaration with [`Attach::body`].

use std::future::Future;
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::FutureExt;

use crate::ctx::Ctx;
use crate::plan::Declaration;

/// The async body of an automated scenario.
pub type Body = Arc<dyn Fn(Ctx) -> BoxFuture<'static, anyhow::Result<()>> + Send + Sync>;

#[derive(Clone)]
pub struct Scenario {
    pub decl: Declaration,
    /// None while the declaration is pending.
    pub body: Option<Body>,
}

/// Turns a declaration into a runnable scenario.
pub trait Attach {
    /// The declaration with `body` as its scenario body.
    fn body<F, Fut>(self, body: F) -> Scenario
    where
        F: Fn(Ctx) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static;

    /// The declaration without a body yet: reported as pending with `reason`.
    fn not_yet(self, reason: &'static str) -> Scenario;
}

impl Attach for Declaration {
    fn body<F, Fut>(self, body: F) -> Scenario
    where
        F: Fn(Ctx) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        Scenario {
            decl: Declaration {
                pending: None,
                ..self
            },
            body: Some(Arc::new(move |ctx| body(ctx).boxed())),
        }
    }

    fn not_yet(self, reason: &'static str) -> Scenario {
        Scenario {
            decl: self.pending(reason),
            body: None,
        }
    }
}
