//! Periodic reward statements, so that members need not log in: for every
//! active member account and each of its contacts with an email, once per
//! period, the balance, what was earned and redeemed in the period, points
//! expiring soon, tier progress, current offers, rewards within reach, the
//! referral code and status, and a signed sign-in link to the portal;
//! rendered as HTML and plain text and written to the outbox. A statement
//! sent is recorded and never sent again; a failed one is retried.

use std::path::PathBuf;
use std::sync::Arc;

use minijinja::{Environment, context};
use tokio::sync::watch;

use crate::config::StatementsConfig;
use crate::config::schema::StatementPeriod;
use crate::core::accounts::AccountId;
use crate::core::analytics::Period;
use crate::core::ledger::EntryKind;
use crate::core::membership::MembershipStatus;
use crate::core::program::Program;
use crate::portal::day;
use crate::portal::tokens::Links;
use crate::runtime::{Clock, SystemClock};
use crate::store::statements::StatementRecord;
use crate::store::{ContactView, Store, StoreError};

/// How often the daemon looks for a period whose statements are due.
const CHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);
/// The lease scheduled statements are sent under: one instance at a time.
pub const LEASE: &str = "statements";
const DAY_MS: i64 = 86_400_000;

const HTML: &str = include_str!("statements/statement.html");
const TEXT: &str = include_str!("statements/statement.txt");

/// One statement's figures, for one recipient.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Statement {
    /// The program's name.
    pub title: String,
    /// The period (`2026-11`).
    pub period: String,
    /// The account.
    pub account_id: AccountId,
    /// Its name.
    pub account: String,
    /// The recipient's first name, if known.
    pub first_name: Option<String>,
    /// The recipient's email.
    pub email: Option<String>,
    /// The balance now.
    pub balance: i64,
    /// Points earned (purchases and bonuses) in the period.
    pub earned: i64,
    /// Points redeemed in the period.
    pub redeemed: i64,
    /// Points expiring within the configured days.
    pub expiring: i64,
    /// When the first of them expires.
    pub expiring_first: Option<String>,
    /// The current tier's name.
    pub tier: Option<String>,
    /// The next tier's name.
    pub next_tier: Option<String>,
    /// Spend still needed for it.
    pub needed: String,
    /// The program currency.
    pub currency: String,
    /// Current campaign offers, in words.
    pub offers: Vec<String>,
    /// Rewards the balance and tier allow: name and points.
    pub rewards: Vec<(String, i64)>,
    /// The account's referral code.
    pub referral_code: Option<String>,
    /// Its referrals qualified in the period.
    pub referrals_qualified: usize,
    /// Its referrals waiting for a first order.
    pub referrals_waiting: usize,
    /// A signed, single-use sign-in link to the portal.
    pub link: Option<String>,
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RunReport {
    /// The period.
    pub period: String,
    /// Member accounts looked at.
    pub accounts: u64,
    /// Statements written now.
    pub sent: u64,
    /// Statements sent before, left alone.
    pub skipped: u64,
    /// Statements that failed (retried at the next run).
    pub failed: u64,
}

/// Makes and sends statements.
pub struct Statements {
    store: Arc<dyn Store>,
    program: Arc<Program>,
    config: StatementsConfig,
    links: Option<Links>,
    title: String,
    /// Held by a run, so that a run asked through the API and the
    /// scheduled one never write the same statement twice.
    running: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Statements {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Statements")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The statement as HTML and as plain text.
pub fn render(statement: &Statement) -> Result<(String, String), minijinja::Error> {
    let mut env = Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.add_template("statement.html", HTML)?;
    env.add_template("statement.txt", TEXT)?;
    let values = context! { s => minijinja::Value::from_serialize(statement) };
    Ok((
        env.get_template("statement.html")?.render(&values)?,
        env.get_template("statement.txt")?.render(&values)?,
    ))
}

impl Statements {
    /// Statements on `store` under `program` with `config`, carrying
    /// sign-in links made by `links`, under the program's name `title`.
    pub fn new(
        store: Arc<dyn Store>,
        program: Arc<Program>,
        config: StatementsConfig,
        links: Option<Links>,
        title: String,
    ) -> Self {
        Self {
            store,
            program,
            config,
            links,
            title,
            running: tokio::sync::Mutex::new(()),
        }
    }

    /// The statements `config` asks for, on `store`; `None` without
    /// `[statements]`.
    pub fn from_config(
        config: &crate::config::Config,
        store: Arc<dyn Store>,
        program: Arc<Program>,
    ) -> anyhow::Result<Option<Self>> {
        let Some(statements) = config.statements.clone() else {
            return Ok(None);
        };
        let links = config
            .portal
            .as_ref()
            .map(|portal| Links::new(portal, config.server.public_base_url.as_str()))
            .transpose()
            .map_err(|e| anyhow::anyhow!("the portal secret cannot key HMAC: {e}"))?;
        let title = config
            .portal
            .as_ref()
            .map_or_else(|| "Rewards".to_owned(), |p| p.title.clone());
        Ok(Some(Self::new(store, program, statements, links, title)))
    }

    /// The last period that has ended at `now`.
    pub fn due(&self, now: i64) -> Option<Period> {
        let current = match self.config.period {
            StatementPeriod::Monthly => Period::month_of(now),
            StatementPeriod::Quarterly => Period::quarter_of(now),
        };
        current.and_then(|p| p.previous())
    }

    /// `account`'s statement for `period` as of `now`, for `recipient`
    /// (with a sign-in link when `link` and the portal is on); `None` for
    /// an unknown account.
    pub async fn statement(
        &self,
        account: AccountId,
        period: &Period,
        recipient: Option<&ContactView>,
        link: bool,
        now: i64,
    ) -> Result<Option<Statement>, StoreError> {
        let program = &self.program;
        let Some(view) = self.store.member_view(account, program.clone()).await? else {
            return Ok(None);
        };
        let ledger = self.store.ledger(account).await?;
        let in_period = |kinds: &[EntryKind]| -> i64 {
            ledger
                .iter()
                .filter(|e| period.contains(e.occurred_at) && kinds.contains(&e.kind))
                .map(|e| e.points)
                .sum()
        };
        let within = i64::from(self.config.expiring_days) * DAY_MS;
        let expiring = self
            .store
            .expiring(account, program.clone(), within)
            .await?;
        let code = self
            .store
            .referral_code(account, program.referrals.code_prefix.clone())
            .await?;
        let referrals = self.store.referrals(account).await?;
        let tier_name = |id: Option<&String>| {
            id.map(|id| {
                program
                    .tier(id)
                    .map_or_else(|| id.clone(), |t| t.name.clone())
            })
        };
        let rewards = program
            .rewards
            .iter()
            .filter(|r| {
                r.points <= view.balance
                    && (r.tiers.is_empty()
                        || view
                            .tier
                            .current
                            .as_ref()
                            .is_some_and(|t| r.tiers.contains(t)))
            })
            .map(|r| (r.name.clone(), r.points))
            .collect();
        let link = match (&self.links, recipient) {
            (Some(links), Some(contact)) if link => {
                let expires = now.saturating_add(i64::from(self.config.link_days) * DAY_MS);
                Some(links.sign_in_until(account, contact.id, expires))
            }
            _ => None,
        };
        Ok(Some(Statement {
            title: self.title.clone(),
            period: period.label.clone(),
            account_id: account,
            account: view.name.clone(),
            first_name: recipient.and_then(|c| c.first_name.clone()),
            email: recipient.and_then(|c| c.email.clone()),
            balance: view.balance,
            earned: in_period(&[EntryKind::Earn, EntryKind::Bonus]),
            redeemed: -in_period(&[EntryKind::Redeem]),
            expiring: expiring.points,
            expiring_first: expiring.lots.first().map(|l| day(l.expires_at)),
            tier: tier_name(view.tier.current.as_ref()),
            next_tier: tier_name(view.tier.next.as_ref()),
            needed: view.tier.needed.round_dp(2).to_string(),
            currency: program.currency.clone(),
            offers: view
                .offers
                .iter()
                .map(|o| {
                    format!(
                        "{}: {}",
                        o.name,
                        crate::campaigns::describe(&o.offer, program)
                    )
                })
                .collect(),
            rewards,
            referral_code: code,
            referrals_qualified: referrals
                .iter()
                .filter(|r| r.qualified_at.is_some_and(|at| period.contains(at)))
                .count(),
            referrals_waiting: referrals
                .iter()
                .filter(|r| r.qualified_at.is_none())
                .count(),
            link,
        }))
    }

    /// Sends `period`'s statements that were not sent yet.
    pub async fn run(&self, period: &Period, now: i64) -> Result<RunReport, StoreError> {
        let _running = self.running.lock().await;
        let done: std::collections::BTreeSet<(AccountId, i64)> = self
            .store
            .statements(period.label.clone())
            .await?
            .into_iter()
            .filter(|r| r.status == "sent")
            .map(|r| (r.account_id, r.contact_id))
            .collect();
        let mut report = RunReport {
            period: period.label.clone(),
            ..RunReport::default()
        };
        for summary in self.store.accounts().await? {
            if summary.merged_into.is_some() {
                continue;
            }
            let Some(detail) = self.store.account(summary.id).await? else {
                continue;
            };
            if detail.membership.as_deref() != Some(MembershipStatus::Active.as_str()) {
                continue;
            }
            report.accounts += 1;
            for contact in detail.contacts.iter().filter(|c| c.email.is_some()) {
                if done.contains(&(summary.id, contact.id)) {
                    report.skipped += 1;
                    continue;
                }
                let outcome = match self
                    .statement(summary.id, period, Some(contact), true, now)
                    .await?
                {
                    Some(statement) => self.write(&statement, contact.id),
                    None => continue,
                };
                let (status, destination, error) = match outcome {
                    Ok(path) => {
                        report.sent += 1;
                        ("sent", Some(path.display().to_string()), None)
                    }
                    Err(e) => {
                        report.failed += 1;
                        tracing::warn!(account = summary.id, contact = contact.id, error = %e, "statement not written");
                        ("failed", None, Some(e))
                    }
                };
                self.store
                    .record_statement(StatementRecord {
                        account_id: summary.id,
                        period: period.label.clone(),
                        contact_id: contact.id,
                        status: status.to_owned(),
                        destination,
                        error,
                        attempts: 1,
                        at: now,
                    })
                    .await?;
            }
        }
        Ok(report)
    }

    /// Writes one statement into the outbox (`PERIOD/ACCOUNT-CONTACT.html`
    /// and `.txt`, each written whole under a temporary name first).
    fn write(&self, statement: &Statement, contact: i64) -> Result<PathBuf, String> {
        let (html, text) = render(statement).map_err(|e| format!("rendering: {e}"))?;
        let dir = self.config.outbox.join(&statement.period);
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let stem = format!("{}-{contact}", statement.account_id);
        let put = |name: String, body: &str| -> Result<PathBuf, String> {
            let path = dir.join(&name);
            let partial = dir.join(format!(".{name}.partial"));
            std::fs::write(&partial, body)
                .and_then(|()| std::fs::rename(&partial, &path))
                .map_err(|e| format!("writing {}: {e}", path.display()))?;
            Ok(path)
        };
        put(format!("{stem}.txt"), &text)?;
        put(format!("{stem}.html"), &html)
    }

    /// Sends each period's statements once it has ended, checking every
    /// [`CHECK_EVERY`], until shutdown.
    pub async fn run_scheduled(
        self: Arc<Self>,
        leases: Arc<crate::lease::Leases>,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut ticks = tokio::time::interval(CHECK_EVERY);
        loop {
            tokio::select! {
                _ = ticks.tick() => {
                    let now = SystemClock.now_ms();
                    let Some(period) = self.due(now) else { continue };
                    let Some(ran) = leases.exclusive(LEASE, self.run(&period, now)).await else {
                        continue;
                    };
                    match ran {
                        Ok(report) if report.sent + report.failed > 0 => tracing::info!(
                            period = %report.period,
                            sent = report.sent,
                            failed = report.failed,
                            "reward statements"
                        ),
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "reward statements failed; they run again later"),
                    }
                }
                changed = stop.changed() => if changed.is_err() || *stop.borrow() {
                    return;
                },
            }
        }
    }
}
