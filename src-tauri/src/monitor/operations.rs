//! Every operation the UI can ask of the monitor, each declared once: its name, its HTTP route,
//! what it reads and answers, whether it writes, the least role allowed to call it, what the
//! audit log records of it, and the one call on [`Monitor`] that does it. The axum routes
//! (`api/operations.rs`), the desktop window's `operation` command and the typed TypeScript
//! client (`ui/src/lib/operations.ts`) are all made from this table, so a route, a command or a
//! role rule cannot exist without a line here. `tests/operations.rs` holds them to it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::masking::SeenBy;
use super::{
    AssignInput, AuditPage, AuditQuery, BackupReport, BackupRequest, BoardPage, CaseView,
    CaseWorkers, CoreError, DeliveriesPage, DeliveriesQuery, Destinations, Forwarding, MarkInput,
    Monitor, NoteInput, Overview, ProviderOverview, RegisterAnswer, RegisterForm, ReplayAnswer,
    ReplayRequest, RetryAnswer, ReviewPage, ReviewQuery, ReviewSettings, SeenInput, Stats,
    UserDetail, UsersFound, WorkView,
};
pub use crate::access::Caller;
use crate::access::{AuditAction, AuditOutcome, Role};
use crate::alerts::{AlertsView, TestAlertAnswer, TestAlertRequest};
use crate::provider::actions::{DemoStatus, ReconcileReport};
use crate::provider::watch::{WatchAnswer, WatchRequest};

mod dispatch;
mod targets;
pub use dispatch::dispatch;
pub use targets::Audited;
use targets::{
    assign_target, case_target, deliveries_answered, deliveries_target, marker_target, note_target,
    pause_target, replay_answered, watch_target, whose_it_was,
};

/// How an operation is reached over HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Its input comes as the query string.
    Get,
    /// Its input comes as a JSON body.
    Post,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// Whether an operation only reads, or changes something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// An operation's declaration, as the shells and the tests read it.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// The desktop command's and the TypeScript client's name.
    pub name: &'static str,
    pub method: Method,
    /// The axum route, `{name}` for a path parameter.
    pub path: &'static str,
    pub access: Access,
    /// The lowest role allowed to call it.
    pub least: Role,
    /// What the audit log records of a call, if anything.
    pub audit: Option<AuditAction>,
    /// What it does, in a line (the TypeScript client's comment).
    pub doc: &'static str,
}

/// What an operation answers, boxed so that the table can hold every kind.
pub type Running<T> = Pin<Box<dyn Future<Output = Result<T, CoreError>> + Send>>;

/// One declared operation: its types and the call that does it.
pub trait Operation: Send + Sync + 'static {
    const SPEC: Spec;
    /// The route's path parameters ([`NoPath`] where there are none).
    type Path: DeserializeOwned + TS + Send + 'static;
    /// The query (GET) or JSON body (POST) ([`NoInput`] where there is none).
    type Input: DeserializeOwned + TS + Send + 'static;
    type Output: Serialize + TS + Send + 'static;

    /// The audit log's target for this call (empty where the operation is not audited).
    fn target(path: &Self::Path, input: &Self::Input) -> Audited;

    /// The audit entry of a call that answered `output`: by default `audited` as it is, and
    /// ok; an operation whose answer says more (the user a resend changed, a refusal inside an
    /// answer) says it here.
    fn answered(output: &Self::Output, audited: Audited) -> (AuditOutcome, Audited);

    fn run(
        monitor: Arc<Monitor>,
        caller: Caller,
        path: Self::Path,
        input: Self::Input,
    ) -> Running<Self::Output>;
}

/// What visits every declared operation, with its types (the shells and the generator).
pub trait Visitor {
    fn visit<Op: Operation>(&mut self);
}

/// An operation without path parameters.
#[derive(Debug, Clone, Copy, Default, Deserialize, TS)]
pub struct NoPath {}

/// An operation that takes no input.
#[derive(Debug, Clone, Copy, Default, Deserialize, TS)]
pub struct NoInput {}

/// A route's `{id}`: a stored delivery, or a forwarding destination.
#[derive(Debug, Clone, Copy, Deserialize, TS)]
pub struct IdPath {
    pub id: i64,
}

/// A board column's `{status}`.
#[derive(Debug, Clone, Deserialize, TS)]
pub struct StatusPath {
    pub status: String,
}

/// A user's `{externalId}`.
#[derive(Debug, Clone, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub struct UserPath {
    pub external_id: String,
}

/// What search is asked.
#[derive(Debug, Clone, Deserialize, TS)]
pub struct SearchInput {
    pub q: String,
    #[ts(optional)]
    pub limit: Option<u32>,
}

/// Pauses or resumes a forwarding destination.
#[derive(Debug, Clone, Copy, Deserialize, TS)]
pub struct PauseInput {
    pub paused: bool,
}

/// Refuses `caller` when its role is below the declaration's, recording the refusal in the
/// audit log; `target` is what was asked for.
pub fn check_role(
    monitor: &Monitor,
    caller: &Caller,
    spec: &Spec,
    target: String,
) -> Result<(), CoreError> {
    if caller.actor.role.allows(spec.least) {
        return Ok(());
    }
    monitor.audit(caller.entry(
        AuditAction::RefusedByRole,
        target,
        AuditOutcome::Refused,
        format!("{} needs {}", spec.name, spec.least),
    ));
    Err(CoreError::Forbidden(format!(
        "your role ({}) may not do this: it needs {} or higher",
        caller.actor.role, spec.least
    )))
}

/// Runs a declared operation for `caller`: its role checked, then the call, then (where
/// declared) its audit entry. A change runs on a task of its own: it goes to its end and is
/// audited even when the request that asked for it is gone (the client left, or the UI's
/// deadline passed while a reconcile or backup ran on); stopping the monitor still ends it.
pub fn call<Op: Operation>(
    monitor: Arc<Monitor>,
    caller: Caller,
    path: Op::Path,
    input: Op::Input,
) -> Running<Op::Output> {
    let audited = Op::target(&path, &input);
    let run = async move {
        let asked = if audited.target.is_empty() {
            Op::SPEC.name.to_owned()
        } else {
            audited.target.clone()
        };
        check_role(&monitor, &caller, &Op::SPEC, asked)?;
        let result = Op::run(monitor.clone(), caller.clone(), path, input).await;
        if let Some(action) = audited.action.or(Op::SPEC.audit) {
            let (outcome, audited) = match &result {
                Ok(output) => Op::answered(output, audited),
                Err(error) => (
                    AuditOutcome::Failed,
                    Audited {
                        detail: error.to_string(),
                        ..audited
                    },
                ),
            };
            let action = audited.action.unwrap_or(action);
            monitor.audit(caller.entry(action, audited.target, outcome, audited.detail));
        }
        result
    };
    match Op::SPEC.access {
        Access::Read => Box::pin(run),
        Access::Write => Box::pin(async move {
            tokio::spawn(run).await.unwrap_or_else(|error| {
                Err(CoreError::internal(
                    "the monitor could not finish the change; its log says why",
                    &error,
                ))
            })
        }),
    }
}

/// Declares each operation: `name: METHOD "path", least role, access, audit?, answered?,
/// |monitor, caller, path: Path, input: Input| -> Output { the call }`.
macro_rules! operations {
    ($(
        $(#[doc = $doc:literal])*
        $name:ident: $method:ident $route:literal, $least:ident, $access:ident,
        audit($($action:ident |$tp:pat_param, $ti:pat_param| $target:expr)?),
        $(answered(|$ao:pat_param, $aa:pat_param| $answered:expr),)?
        |$monitor:ident, $caller:ident, $path:ident: $path_type:ty, $input:ident: $input_type:ty|
            -> $output:ty $body:block
    )*) => {
        /// The operations' types, one per declaration, named as the operation.
        #[allow(non_camel_case_types)]
        pub mod op {
            $( $(#[doc = $doc])* pub struct $name; )*
        }

        $(
            impl Operation for op::$name {
                const SPEC: Spec = Spec {
                    name: stringify!($name),
                    method: Method::$method,
                    path: $route,
                    access: Access::$access,
                    least: Role::$least,
                    audit: operations!(@action $($action)?),
                    doc: concat!($($doc),*),
                };
                type Path = $path_type;
                type Input = $input_type;
                type Output = $output;

                #[allow(unused_variables)]
                fn target(path: &$path_type, input: &$input_type) -> Audited {
                    $( let $tp = path; let $ti = input; return Audited::from($target); )?
                    #[allow(unreachable_code)]
                    Audited::from(String::new())
                }

                #[allow(unused_variables)]
                fn answered(output: &$output, audited: Audited) -> (AuditOutcome, Audited) {
                    $( let $ao = output; let $aa = audited; return $answered; )?
                    #[allow(unreachable_code)]
                    (AuditOutcome::Ok, audited)
                }

                fn run(
                    $monitor: Arc<Monitor>,
                    $caller: Caller,
                    $path: $path_type,
                    $input: $input_type,
                ) -> Running<$output> {
                    Box::pin(async move $body)
                }
            }
        )*

        /// Visits every declared operation, in the table's order.
        pub fn visit_all(visitor: &mut impl Visitor) {
            $( visitor.visit::<op::$name>(); )*
        }
    };
    (@action $action:ident) => { Some(AuditAction::$action) };
    (@action) => { None };
}

operations! {
    /// The top bar and the board's counts.
    overview: Get "/api/overview", Viewer, Read, audit(),
    |monitor, caller, _path: NoPath, _input: NoInput| -> Overview {
        Ok(monitor.overview().await?.seen_by(caller.actor.role))
    }

    /// Counts and times over all users.
    stats: Get "/api/stats", Viewer, Read, audit(),
    |monitor, _caller, _path: NoPath, _input: NoInput| -> Stats { monitor.stats().await }

    /// One page of a board column, under the review queue's filters.
    board: Get "/api/board/{status}", Viewer, Read, audit(),
    |monitor, caller, path: StatusPath, query: ReviewQuery| -> BoardPage {
        let page = monitor.board(path.status, query, &caller.actor.id).await?;
        Ok(page.seen_by(caller.actor.role))
    }

    /// Users whose `externalId` (or participant, or account) matches the text typed.
    search: Get "/api/search", Support, Read,
    audit(Search |_, input| input.q.clone()),
    |monitor, caller, _path: NoPath, input: SearchInput| -> UsersFound {
        let role = caller.actor.role;
        let found = monitor.search(input.q.clone(), input.limit).await?;
        Ok(found.searched_by(&input.q, role).seen_by(role))
    }

    /// One user's state and whole timeline.
    user: Get "/api/users/{externalId}", Support, Read,
    audit(UserViewed |path, _| path.external_id.clone()),
    |monitor, caller, path: UserPath, _input: NoInput| -> UserDetail {
        let detail = monitor.user(path.external_id).await?;
        Ok(detail.seen_by(caller.actor.role))
    }

    /// The inspector: every request to the webhook, newest first, with raw headers and bodies.
    deliveries: Get "/api/deliveries", Compliance, Read,
    audit(BodyViewed |_, query| deliveries_target(query)),
    answered(|page, audited| deliveries_answered(page, audited)),
    |monitor, _caller, _path: NoPath, query: DeliveriesQuery| -> DeliveriesPage {
        monitor.deliveries(query).await
    }

    /// Without a body, the stored bytes again; with `{"body": ...}`, an edited one.
    replay: Post "/api/deliveries/{id}/replay", Compliance, Write,
    audit(Replay |path, request| match request.body {
        Some(_) => (AuditAction::Resend, path.id.to_string()),
        None => (AuditAction::Replay, path.id.to_string()),
    }),
    answered(|answer, audited| replay_answered(answer, audited)),
    |monitor, _caller, path: IdPath, request: ReplayRequest| -> ReplayAnswer {
        monitor.replay_with(path.id, request).await
    }

    /// Where a delivery was forwarded, and how each attempt went.
    forwarding: Get "/api/deliveries/{id}/forwards", Compliance, Read, audit(),
    |monitor, _caller, path: IdPath, _input: NoInput| -> Forwarding { monitor.forwarding(path.id).await }

    /// Sends a delivery that failed to forward once more.
    retry_forward: Post "/api/deliveries/{id}/retry", Admin, Write,
    audit(ForwardRetried |path, _| format!("delivery {}", path.id)),
    answered(|answer, audited| (AuditOutcome::Ok, Audited {
        detail: format!("sent again to {} destinations", answer.destinations),
        ..audited
    })),
    |monitor, _caller, path: IdPath, _input: NoInput| -> RetryAnswer { monitor.retry_forward(path.id).await }

    /// The forwarding destinations and how far each is.
    destinations: Get "/api/destinations", Compliance, Read, audit(),
    |monitor, _caller, _path: NoPath, _input: NoInput| -> Destinations { monitor.destinations().await }

    /// Pauses or resumes forwarding to one destination.
    pause_destination: Post "/api/destinations/{id}/pause", Admin, Write,
    audit(SettingsChanged |path, input| pause_target(path, input)),
    |monitor, _caller, path: IdPath, input: PauseInput| -> Destinations {
        monitor.pause_destination(path.id, input.paused).await
    }

    /// The review queue, filtered and sorted.
    review: Get "/api/review", Compliance, Read, audit(),
    |monitor, caller, _path: NoPath, query: ReviewQuery| -> ReviewPage {
        monitor.review(query, &caller.actor.id).await
    }

    /// The review queue's kept filters.
    review_settings: Get "/api/review/settings", Compliance, Read, audit(),
    |monitor, _caller, _path: NoPath, _input: NoInput| -> ReviewSettings { monitor.review_settings().await }

    /// Keeps the review queue's filters.
    save_review_settings: Post "/api/review/settings", Compliance, Write,
    audit(SettingsChanged |_, _| "review queue".to_owned()),
    |monitor, _caller, _path: NoPath, settings: ReviewSettings| -> ReviewSettings {
        monitor.save_review_settings(settings).await
    }

    /// A user's case: assignee, marker, SLA clock and notes.
    case: Get "/api/cases/{externalId}", Compliance, Read,
    audit(UserViewed |path, _| Audited::viewed(path, "the case and its notes")),
    |monitor, _caller, path: UserPath, _input: NoInput| -> CaseView {
        monitor.case(path.external_id).await
    }

    /// The people who work cases, for the assign box (any name may still be assigned).
    case_workers: Get "/api/case-workers", Compliance, Read, audit(),
    |monitor, _caller, _path: NoPath, _input: NoInput| -> CaseWorkers { monitor.case_workers().await }

    /// Assigns a case to the caller, or to the person named; names the version seen.
    assign_case: Post "/api/cases/{externalId}/assign", Compliance, Write,
    audit(CaseAssign |path, input| assign_target(path, input)),
    answered(|case, audited| whose_it_was(case, audited)),
    |monitor, caller, path: UserPath, input: AssignInput| -> CaseView {
        monitor.assign_case(&caller, path.external_id, input).await
    }

    /// Leaves a case to nobody; names the version seen.
    unassign_case: Post "/api/cases/{externalId}/unassign", Compliance, Write,
    audit(CaseUnassign |path, input| {
        case_target(AuditAction::CaseUnassign, path, "unassigned".into(), input.version)
    }),
    answered(|case, audited| whose_it_was(case, audited)),
    |monitor, caller, path: UserPath, input: SeenInput| -> CaseView {
        monitor.unassign_case(&caller, path.external_id, input).await
    }

    /// Appends a note to a case (notes are never edited or removed).
    note_case: Post "/api/cases/{externalId}/notes", Compliance, Write,
    audit(CaseNote |path, input| note_target(path, input)),
    |monitor, caller, path: UserPath, input: NoteInput| -> CaseView {
        monitor.note_case(&caller, path.external_id, input).await
    }

    /// Marks a case waiting-on-customer (its SLA clock pauses) or escalated, or clears it.
    mark_case: Post "/api/cases/{externalId}/marker", Compliance, Write,
    audit(CaseMarker |path, input| marker_target(path, input)),
    |monitor, caller, path: UserPath, input: MarkInput| -> CaseView {
        monitor.mark_case(&caller, path.external_id, input).await
    }

    /// The Register view: environments, the profile, the last attempts.
    provider_overview: Get "/api/provider", Admin, Read, audit(),
    |monitor, _caller, _path: NoPath, _input: NoInput| -> ProviderOverview { monitor.provider_overview().await }

    /// Registers the webhook with the provider.
    register: Post "/api/register", Admin, Write,
    audit(Register |_, form| form.webhook_url.clone()),
    |monitor, _caller, _path: NoPath, form: RegisterForm| -> RegisterAnswer { monitor.register(form).await }

    /// Asks the provider for every known user's state and records what differs.
    reconcile: Post "/api/reconcile", Admin, Write,
    audit(Reconcile |_, _| "all users".to_owned()),
    |monitor, _caller, _path: NoPath, _input: NoInput| -> ReconcileReport { monitor.reconcile().await }

    /// Adds users to watch: each unknown one shows at once as NOT_STARTED.
    watch: Post "/api/watch", Compliance, Write,
    audit(Watch |_, request| watch_target(request)),
    |monitor, _caller, _path: NoPath, request: WatchRequest| -> WatchAnswer {
        monitor.watch(request.external_ids).await
    }

    /// Starts the built-in provider emulator's demo.
    start_demo: Post "/api/demo", Admin, Write, audit(),
    |monitor, _caller, _path: NoPath, _input: NoInput| -> DemoStatus { monitor.start_demo().await }

    /// A page of the audit log, newest first, filtered.
    audit_log: Get "/api/audit", Admin, Read, audit(),
    |monitor, _caller, _path: NoPath, query: AuditQuery| -> AuditPage {
        monitor.audit_log(query).await
    }

    /// Reconcile's, backup's and polling's progress, running or last finished (each to the
    /// roles that may start it; polling to everyone).
    work: Get "/api/work", Viewer, Read, audit(),
    |monitor, caller, _path: NoPath, _input: NoInput| -> Vec<WorkView> {
        Ok(monitor.work().into_values().collect::<Vec<_>>().seen_by(caller.actor.role))
    }

    /// Copies the database to a new file on the monitor's machine.
    backup: Post "/api/backup", Admin, Write,
    audit(Backup |_, request| request.path.clone()),
    |monitor, _caller, _path: NoPath, request: BackupRequest| -> BackupReport {
        monitor.backup(request).await
    }

    /// The alert targets (masked) with their last failures, the rules, and what needs attention.
    alerts: Get "/api/alerts", Admin, Read, audit(),
    |monitor, _caller, _path: NoPath, _input: NoInput| -> AlertsView { monitor.alerts_view().await }

    /// Sends a test alert to one target now and says what came of it.
    send_test_alert: Post "/api/alerts/test", Admin, Write, audit(),
    |monitor, _caller, _path: NoPath, request: TestAlertRequest| -> TestAlertAnswer {
        monitor.send_test_alert(request).await
    }
}

/// The operations that answer over HTTP only, with a response of their own kind (a stream),
/// declared here for their role; `api/` serves each.
pub const HTTP_ONLY: &[Spec] = &[
    Spec {
        name: "feed",
        method: Method::Get,
        path: "/api/feed",
        access: Access::Read,
        least: Role::Viewer,
        audit: None,
        doc: "The live feed (Server-Sent Events).",
    },
    Spec {
        name: "review_csv",
        method: Method::Get,
        path: "/api/review.csv",
        access: Access::Read,
        least: Role::Compliance,
        audit: Some(AuditAction::Export),
        doc: "Every user the review queue's filters let through, as CSV.",
    },
    Spec {
        name: "ui_link",
        method: Method::Post,
        path: "/api/ui-link",
        access: Access::Write,
        least: Role::Admin,
        audit: None,
        doc: "Replaces the UI's token (single-person mode).",
    },
    Spec {
        name: "session",
        method: Method::Get,
        path: "/api/session",
        access: Access::Read,
        least: Role::Viewer,
        audit: None,
        doc: "Who is signed in, with which role, and their CSRF token.",
    },
    Spec {
        name: "end_sessions",
        method: Method::Post,
        path: "/api/sessions/end",
        access: Access::Write,
        least: Role::Admin,
        audit: Some(AuditAction::SessionsEnded),
        doc: "Ends every session of a person (team mode).",
    },
];

/// The desktop window's own commands (the app's settings, the keychain, files), for the local
/// user only; the window's `operation` command runs everything in the table above.
pub const DESKTOP_ONLY: &[(&str, Access)] = &[
    ("operation", Access::Write),
    ("desktop_status", Access::Read),
    ("save_settings", Access::Write),
    ("restart", Access::Write),
    ("window_ready", Access::Read),
    ("keychain_status", Access::Read),
    ("keychain_set", Access::Write),
    ("keychain_delete", Access::Write),
    ("save_review_csv", Access::Read),
    ("team_status", Access::Read),
    ("team_connect", Access::Write),
    ("team_disconnect", Access::Write),
];

/// Every declaration, HTTP-only ones included, with its types erased.
pub fn specs() -> Vec<Spec> {
    struct Collect(Vec<Spec>);
    impl Visitor for Collect {
        fn visit<Op: Operation>(&mut self) {
            self.0.push(Op::SPEC);
        }
    }
    let mut all = Collect(Vec::new());
    visit_all(&mut all);
    all.0.extend_from_slice(HTTP_ONLY);
    all.0
}
