//! The UI's types (`ui/src/lib/types.ts`), generated from the Rust types that the core and the
//! desktop shell hand to the UI, so that the browser and the window read the same shapes and
//! none is written twice. `tests/ui_types.rs` fails when the file is not what this makes.

use std::collections::BTreeSet;

use ts_rs::{Config, TS};

use super::inspector::*;
use super::operations::{visit_all, Operation, Spec, Visitor, DESKTOP_ONLY, HTTP_ONLY};
use super::review::SubStatusCount;
use super::views::*;
use super::work::{BackupReport, BackupRequest, WorkKind, WorkState, WorkView};
use super::{Assigned, Attention, CaseView, CaseWorkers, Marker, NoteView};
use super::{AuditEntryView, AuditPage, AuditQuery};
use super::{ErrorBody, ErrorCode, ReviewPage, ReviewQuery, ReviewSettings, ReviewSort};
use crate::access::{AuditAction, Role};
use crate::api::{SessionView, UiLink};
use crate::keychain::{self, KeychainStatus};
use crate::kyc::{UserState, KNOWN_STATUSES, OTHER_STATUS_LABEL, STATUS_LABELS};
use crate::provider::actions::{DemoStatus, Learned, ProviderProfile, ReconcileReport};
use crate::provider::watch::{WatchAnswer, WatchRequest};
use crate::provider::{Endpoints, Environment, Summary};
use crate::secret_file::{SecretState, SigningSecretView};
use crate::settings::{DesktopSettings, DesktopStatus, SettingsSaved};
use crate::store::{CountedRefusals, Outcome, RegistrationAttempt, StoreProblem};
use crate::tunnel::TunnelState;

/// Where the generated file lives, from the package root.
pub const TYPES_FILE: &str = "ui/src/lib/types.ts";

/// The whole generated file.
pub fn typescript() -> String {
    // Our integers are counts, ids and Unix milliseconds: JavaScript numbers hold them exactly.
    let config = Config::new().with_large_int("number");
    let mut file = Declarations::new(config);
    file.push(
        "// Generated from the Rust types by `UPDATE_UI_TYPES=1 cargo test --test ui_types`:\n",
    );
    file.push(
        "// edit those (src-tauri/src/monitor/views.rs and the types they name), not this file.\n",
    );
    file.push("// Times are Unix milliseconds.\n\n");
    file.declare::<UserState>();
    file.declare::<Marker>();
    file.declare::<NoteView>();
    file.declare::<CaseView>();
    file.declare::<CaseWorkers>();
    file.declare::<Attention>();
    file.declare::<Assigned>();
    file.declare::<UserView>();
    file.declare::<BodyText>();
    file.declare::<StatusCount>();
    file.declare::<TunnelState>();
    file.declare::<TunnelView>();
    file.declare::<StoreProblem>();
    file.declare::<Overview>();
    file.declare::<crate::team_link::TeamConnection>();
    file.declare::<crate::team_link::TeamPerson>();
    file.declare::<crate::team_link::TeamView>();
    file.declare::<PageCursor>();
    file.declare::<BoardPage>();
    file.declare::<UsersFound>();
    file.declare::<ReviewSettings>();
    file.declare::<ReviewSort>();
    file.declare::<ReviewQuery>();
    file.declare::<SubStatusCount>();
    file.declare::<ReviewPage>();
    file.declare::<Outcome>();
    file.declare::<TimelineEntryView>();
    file.declare::<UserDetail>();
    file.declare::<DeliveryView>();
    file.declare::<CountedRefusals>();
    file.declare::<DeliveriesPage>();
    file.declare::<ReplayAnswer>();
    file.declare::<ReplayRequest>();
    file.declare::<ForwardStateView>();
    file.declare::<Forwarding>();
    file.declare::<DestinationView>();
    file.declare::<Destinations>();
    file.declare::<RetryAnswer>();
    file.declare::<ChangeView>();
    file.declare::<Resync>();
    file.declare::<StoreHealth>();
    file.declare::<WorkKind>();
    file.declare::<WorkState>();
    file.declare::<WorkView>();
    file.declare::<BackupRequest>();
    file.declare::<BackupReport>();
    file.declare::<UiLink>();
    file.declare::<crate::alerts::Rule>();
    file.declare::<crate::alerts::Condition>();
    file.declare::<crate::alerts::ActiveCondition>();
    file.declare::<crate::alerts::AlertEvent>();
    file.declare::<crate::alerts::TargetFailure>();
    file.declare::<crate::alerts::TargetView>();
    file.declare::<crate::alerts::RuleView>();
    file.declare::<crate::alerts::AlertsView>();
    file.declare::<crate::alerts::TestAlertRequest>();
    file.declare::<crate::alerts::TestAlertAnswer>();
    file.declare::<SessionView>();
    file.declare::<AuditEntryView>();
    file.declare::<AuditQuery>();
    file.declare::<AuditPage>();
    file.declare::<LiveEvent>();
    file.declare::<MinuteView>();
    file.declare::<DecisionDayView>();
    file.declare::<StatusReachedView>();
    file.declare::<StatusTimeView>();
    file.declare::<Stats>();
    file.declare::<Environment>();
    file.declare::<Endpoints>();
    file.declare::<EnvironmentView>();
    file.declare::<ProviderProfile>();
    file.declare::<RegistrationAttempt>();
    file.declare::<Summary>();
    file.declare::<DemoStatus>();
    file.declare::<SecretState>();
    file.declare::<SigningSecretView>();
    file.declare::<ProviderOverview>();
    file.declare::<SigningChoice>();
    file.declare::<RegisterForm>();
    file.declare::<RegisterAnswer>();
    file.declare::<Learned>();
    file.declare::<ReconcileReport>();
    file.declare::<WatchRequest>();
    file.declare::<WatchAnswer>();
    file.declare::<ErrorCode>();
    file.declare::<ErrorBody>();
    file.declare::<DesktopSettings>();
    file.declare::<DesktopStatus>();
    file.declare::<SettingsSaved>();
    file.declare::<keychain::Item>();
    file.declare::<KeychainStatus>();
    file.declare::<Role>();
    operations(&mut file);
    file.push("/** The statuses the provider documents, in board order. */\n");
    file.push(&format!(
        "export const KNOWN_STATUSES = {} as const;\n\n",
        json(&KNOWN_STATUSES)
    ));
    file.push("/** How each documented status reads on screen; any other is \"other\". */\n");
    let labels: std::collections::BTreeMap<_, _> = STATUS_LABELS.into_iter().collect();
    file.push(&format!(
        "export const STATUS_LABELS: Record<(typeof KNOWN_STATUSES)[number], string> = {};\n\n",
        json(&labels)
    ));
    file.push(&format!(
        "export const OTHER_STATUS_LABEL = {};\n",
        json(&OTHER_STATUS_LABEL)
    ));
    file.push("\n/** Every action the audit log records, as its entries name them. */\n");
    file.push(&format!(
        "export const AUDIT_ACTIONS = {} as const;\n",
        json(&AuditAction::ALL)
    ));
    file.finish()
}

/// The operations' table as the TypeScript client reads it: `OPERATIONS` (each one's route and
/// least role) and `Operations` (each one's path parameters, input and answer).
fn operations(file: &mut Declarations) {
    struct Table<'a> {
        file: &'a mut Declarations,
        routes: String,
        types: String,
    }
    impl Visitor for Table<'_> {
        fn visit<Op: Operation>(&mut self) {
            let spec = Op::SPEC;
            self.file.declare_once::<Op::Path>();
            self.file.declare_once::<Op::Input>();
            self.file.uses::<Op::Output>();
            let doc = spec.doc.trim();
            self.routes.push_str(&route(&spec));
            self.types.push_str(&format!(
                "  /** {doc} */\n  {}: {{ path: {}; input: {}; output: {} }};\n",
                spec.name,
                self.file.name::<Op::Path>(),
                self.file.name::<Op::Input>(),
                self.file.name::<Op::Output>()
            ));
        }
    }
    let mut table = Table {
        file,
        routes: String::new(),
        types: String::new(),
    };
    visit_all(&mut table);
    let Table {
        file,
        mut routes,
        types,
    } = table;
    // The HTTP-only ones (the feed, the CSV, the session...) too: the UI decides what to show
    // from every operation's least role.
    for spec in HTTP_ONLY {
        routes.push_str(&route(spec));
    }
    file.push("/** Every operation of the monitor (src-tauri/src/monitor/operations.rs): its HTTP route and the\n * least role allowed. The desktop window runs the same by name (all but the HTTP-only ones at the\n * end, which `Operations` does not list). */\n");
    file.push(&format!(
        "export const OPERATIONS = {{\n{routes}}} as const;\n\n"
    ));
    file.push("/** Each operation's path parameters, input (query or JSON body) and answer. */\n");
    file.push(&format!("export type Operations = {{\n{types}}};\n\n"));
    let commands: Vec<String> = DESKTOP_ONLY
        .iter()
        .map(|(name, _)| format!("'{name}'"))
        .collect();
    file.push("/** The desktop window's commands. */\n");
    file.push(&format!(
        "export type DesktopCommand = {};\n\n",
        commands.join(" | ")
    ));
}

/// One line of `OPERATIONS`.
fn route(spec: &Spec) -> String {
    format!(
        "  {}: {{ method: '{}', path: '{}', least: '{}' }},\n",
        spec.name,
        spec.method.as_str(),
        spec.path,
        spec.least
    )
}

fn json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).expect("constants serialise")
}

/// The declarations so far, and the names they use, to check that none is missing.
struct Declarations {
    config: Config,
    text: String,
    declared: BTreeSet<String>,
    used: BTreeSet<String>,
}

impl Declarations {
    fn new(config: Config) -> Declarations {
        Declarations {
            config,
            text: String::new(),
            declared: BTreeSet::new(),
            used: BTreeSet::new(),
        }
    }

    fn push(&mut self, text: &str) {
        self.text.push_str(text);
    }

    fn declare<T: TS + 'static>(&mut self) {
        self.text.push_str("export ");
        self.text.push_str(&T::decl(&self.config));
        self.text.push_str("\n\n");
        self.declared.insert(T::name(&self.config));
        self.used.extend(
            T::dependencies(&self.config)
                .into_iter()
                .map(|dependency| dependency.ts_name),
        );
    }

    /// Declares `T` unless it already is.
    fn declare_once<T: TS + 'static>(&mut self) {
        if !self.declared.contains(&T::name(&self.config)) {
            self.declare::<T>();
        }
    }

    /// Notes that `T` (and what it names) must be declared.
    fn uses<T: TS + 'static>(&mut self) {
        // A type of ours (not a list or a primitive) is declared under its own name.
        if T::output_path().is_some() {
            self.used.insert(T::name(&self.config));
        }
        self.used.extend(
            T::dependencies(&self.config)
                .into_iter()
                .map(|dependency| dependency.ts_name),
        );
    }

    fn name<T: TS + 'static>(&self) -> String {
        T::name(&self.config)
    }

    fn finish(self) -> String {
        let missing: Vec<_> = self.used.difference(&self.declared).collect();
        assert!(
            missing.is_empty(),
            "the UI's types use {missing:?}, which are not declared: add them to typescript()"
        );
        self.text
    }
}
