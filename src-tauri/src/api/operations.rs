//! The declared operations (`monitor/operations.rs`) as axum routes: one generic handler reads
//! an operation's path parameters, its query (GET) or JSON body (POST) into its declared types,
//! and a layer per route lets through only the roles the declaration allows, recording a refusal
//! in the audit log. No route is written here by hand.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::{Extension, Json, Router};

use super::client::ClientAddress;
use crate::access::Actor;
use crate::monitor::operations::{self, Caller, Method, Operation, Spec, Visitor};
use crate::monitor::{CoreError, Monitor};

/// Every operation of the table as a route, each behind its role.
pub(super) fn router(monitor: &Arc<Monitor>) -> Router<Arc<Monitor>> {
    struct Routes<'a>(Router<Arc<Monitor>>, &'a Arc<Monitor>);
    impl Visitor for Routes<'_> {
        fn visit<Op: Operation>(&mut self) {
            let route = on_method(Op::SPEC.method, handle::<Op>);
            let routes = std::mem::take(&mut self.0);
            self.0 = routes.route(Op::SPEC.path, declared(Op::SPEC, self.1, route));
        }
    }
    let mut routes = Routes(Router::new(), monitor);
    operations::visit_all(&mut routes);
    routes.0
}

/// An HTTP-only operation's handler, behind the role its declaration (in
/// [`operations::HTTP_ONLY`]) names.
pub(super) fn http_only<H, T>(
    monitor: &Arc<Monitor>,
    name: &str,
    handler: H,
) -> (&'static str, MethodRouter<Arc<Monitor>>)
where
    H: axum::handler::Handler<T, Arc<Monitor>>,
    T: 'static,
{
    let spec = *operations::HTTP_ONLY
        .iter()
        .find(|spec| spec.name == name)
        .unwrap_or_else(|| panic!("`{name}` is not declared in operations::HTTP_ONLY"));
    (
        spec.path,
        declared(spec, monitor, on_method(spec.method, handler)),
    )
}

fn on_method<H, T>(method: Method, handler: H) -> MethodRouter<Arc<Monitor>>
where
    H: axum::handler::Handler<T, Arc<Monitor>>,
    T: 'static,
{
    let filter = match method {
        Method::Get => MethodFilter::GET,
        Method::Post => MethodFilter::POST,
    };
    on(filter, handler)
}

/// The route behind its declaration's role.
fn declared(
    spec: Spec,
    monitor: &Arc<Monitor>,
    route: MethodRouter<Arc<Monitor>>,
) -> MethodRouter<Arc<Monitor>> {
    route.route_layer(middleware::from_fn_with_state(
        (spec, monitor.clone()),
        allowed,
    ))
}

/// Lets the request through when the caller's role is the declaration's or higher, with the
/// [`Caller`] for the handler; otherwise 403, and an audit entry.
async fn allowed(
    State((spec, monitor)): State<(Spec, Arc<Monitor>)>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(actor) = request.extensions().get::<Actor>().cloned() else {
        // The guard puts the actor there for every request it lets in.
        tracing::error!(
            route = spec.path,
            "a request reached a route without an actor"
        );
        return CoreError::Unauthorized("sign in first".into()).into_response();
    };
    let ClientAddress(remote_addr) = ClientAddress::of_request(request.extensions());
    let caller = Caller { actor, remote_addr };
    let asked = format!("{} {}", spec.method.as_str(), request.uri().path());
    if let Err(refused) = operations::check_role(&monitor, &caller, &spec, asked) {
        return refused.into_response();
    }
    request.extensions_mut().insert(caller);
    next.run(request).await
}

/// One declared operation: its path parameters, then its query or body, then the call.
async fn handle<Op: Operation>(
    State(monitor): State<Arc<Monitor>>,
    Extension(caller): Extension<Caller>,
    params: axum::extract::RawPathParams,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Op::Output>, CoreError> {
    let pairs: Vec<(&str, &str)> = params.iter().collect();
    let path: Op::Path = form(
        &serde_urlencoded::to_string(pairs).unwrap_or_default(),
        "path",
    )?;
    let input: Op::Input = match Op::SPEC.method {
        Method::Get => form(uri.query().unwrap_or(""), "query")?,
        Method::Post => json(&headers, &body)?,
    };
    operations::call::<Op>(monitor, caller, path, input)
        .await
        .map(Json)
}

fn form<T: serde::de::DeserializeOwned>(text: &str, part: &str) -> Result<T, CoreError> {
    serde_urlencoded::from_str(text).map_err(|error| {
        CoreError::Invalid(format!(
            "the request is not what this route takes: its {part} has {error}"
        ))
    })
}

/// A POST's body: JSON (an empty body stands for `{}`, an operation that takes nothing).
fn json<T: serde::de::DeserializeOwned>(headers: &HeaderMap, body: &[u8]) -> Result<T, CoreError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return serde_json::from_slice(b"{}").map_err(|_| {
            CoreError::Invalid(
                "the request is not what this route takes: it needs a JSON body".into(),
            )
        });
    }
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|value| value.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(CoreError::Invalid(
            "the request is not what this route takes: send its body as `content-type: application/json`"
                .into(),
        ));
    }
    serde_json::from_slice(body).map_err(|error| {
        CoreError::Invalid(format!(
            "the request is not what this route takes: its JSON body has {error}"
        ))
    })
}
