//! Applies validated events inside a store transaction: loads the records
//! the core needs through [`Book`], asks the pure core what to do, and writes
//! its decisions back. Shared by every backend.

use std::collections::BTreeSet;

use rust_decimal::Decimal;

use crate::core::CoreError;
use crate::core::accounts::{self, AccountData, AccountId, ContactData, Upsert, Versioned};
use crate::core::commissions::Due;
use crate::core::event::{AccountUpsert, Contract, Engagement, EngagementAction, Event};
use crate::core::identity::{self, Candidates, IdentityRules, Resolution};
use crate::core::ledger::{EntryKind, NewEntry};
use crate::core::membership::{self, MembershipStatus};
use crate::core::program::{EngagementKind, Enrollment, Program, ProgramHistory};
use crate::core::purchases::{self, PurchaseRecord};
use crate::core::rules::{self, EarnContext};
use crate::core::tiers::{self, SpendItem, TierChange, TierState};
use crate::store::StoreError;
use crate::store::commissions;

/// The matching forms of an account's identifying fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct AccountKeys {
    /// Tax id key.
    pub tax_key: Option<String>,
    /// Domain key.
    pub domain_key: Option<String>,
}

/// An account's program state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct AccountState {
    /// Membership.
    pub membership: Option<MembershipStatus>,
    /// Segment tags.
    pub tags: BTreeSet<String>,
    /// Tier.
    pub tier: Option<TierState>,
}

/// An engagement as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EngagementRow<'a> {
    /// The account.
    pub account: AccountId,
    /// The contact, when known.
    pub contact: Option<i64>,
    /// The kind's name.
    pub kind: &'a str,
    /// The survey, event or action's name.
    pub name: Option<&'a str>,
    /// An NPS score.
    pub score: Option<u8>,
    /// Points rewarded.
    pub points: i64,
}

/// A referral as applying sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReferralState {
    /// Its id.
    pub id: i64,
    /// Who referred.
    pub referrer: AccountId,
    /// When it qualified.
    pub qualified_at: Option<i64>,
    /// The purchase (`source/id`) that qualified it.
    pub qualified_by: Option<String>,
}

/// A commission to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NewCommission<'a> {
    /// The referral it is for.
    pub referral: i64,
    /// Who is paid.
    pub referrer: AccountId,
    /// The referred account.
    pub referred: AccountId,
    /// The rule's id.
    pub rule: &'a str,
    /// `flat`, `revenue_share` or `goal_bonus`.
    pub kind: &'a str,
    /// What it is for: `purchase:SOURCE/ID` or `goal:PERIOD-START`.
    pub basis: &'a str,
    /// Money (negative: clawed back) and points.
    pub due: Due,
    /// The program currency.
    pub currency: &'a str,
    /// When what it is for happened.
    pub occurred_at: i64,
}

/// Record access inside one transaction.
pub(crate) trait Book {
    /// The account an external reference points to, with the reference's version.
    fn account_by_ref(
        &mut self,
        source: &str,
        id: &str,
    ) -> Result<Option<(AccountId, u64)>, StoreError>;
    /// The account that claims `(system, id)` as one of its external refs.
    fn account_by_claim(&mut self, system: &str, id: &str)
    -> Result<Option<AccountId>, StoreError>;
    /// Accounts with this tax key, and accounts with this domain key.
    fn accounts_by_keys(
        &mut self,
        keys: &AccountKeys,
    ) -> Result<(Vec<AccountId>, Vec<AccountId>), StoreError>;
    /// Creates an account and its first external reference.
    fn insert_account(
        &mut self,
        source: &str,
        id: &str,
        account: &Versioned<AccountData>,
        keys: &AccountKeys,
        membership: Option<MembershipStatus>,
    ) -> Result<AccountId, StoreError>;
    /// Points another external reference at an account.
    fn add_ref(
        &mut self,
        account: AccountId,
        source: &str,
        id: &str,
        version: u64,
    ) -> Result<(), StoreError>;
    /// Records that `account` claims `(system, id)`; a claim made first stays.
    fn add_claim(&mut self, system: &str, id: &str, account: AccountId) -> Result<(), StoreError>;
    /// Updates an account with the fields the event carries (a field the
    /// event leaves out keeps its value) and its reference's version.
    fn update_account(
        &mut self,
        account: AccountId,
        source: &str,
        id: &str,
        data: &Versioned<AccountData>,
        keys: &AccountKeys,
    ) -> Result<(), StoreError>;
    /// An account's membership, tags and tier.
    fn account_state(&mut self, account: AccountId) -> Result<AccountState, StoreError>;
    /// Sets an account's membership.
    fn set_membership(
        &mut self,
        account: AccountId,
        membership: Option<MembershipStatus>,
    ) -> Result<(), StoreError>;
    /// A contact by external reference, with its internal id.
    fn contact_by_ref(
        &mut self,
        source: &str,
        id: &str,
    ) -> Result<Option<(i64, Versioned<ContactData>)>, StoreError>;
    /// Inserts or overwrites a contact.
    fn save_contact(
        &mut self,
        existing: Option<i64>,
        source: &str,
        id: &str,
        contact: &Versioned<ContactData>,
    ) -> Result<(), StoreError>;
    /// A purchase record and the account it is attributed to.
    fn purchase(
        &mut self,
        source: &str,
        id: &str,
    ) -> Result<Option<(PurchaseRecord, Option<AccountId>)>, StoreError>;
    /// Inserts or overwrites a purchase record.
    fn save_purchase(
        &mut self,
        record: &PurchaseRecord,
        account: Option<AccountId>,
    ) -> Result<(), StoreError>;
    /// The account's purchases placed after `since`, as spend.
    fn spend_items(&mut self, account: AccountId, since: i64)
    -> Result<Vec<SpendItem>, StoreError>;
    /// Points earned from purchases that happened in `[from, to)`.
    fn earned_between(&mut self, account: AccountId, from: i64, to: i64)
    -> Result<i64, StoreError>;
    /// Saves an account's tier, and the change that led to it.
    fn save_tier(
        &mut self,
        account: AccountId,
        state: &TierState,
        change: Option<&TierChange>,
    ) -> Result<(), StoreError>;
    /// Whether an engagement was recorded already.
    fn engagement_exists(&mut self, source: &str, id: &str) -> Result<bool, StoreError>;
    /// How many engagements of a kind were rewarded in `[from, to)`.
    fn rewarded_engagements(
        &mut self,
        account: AccountId,
        kind: &str,
        from: i64,
        to: i64,
    ) -> Result<u32, StoreError>;
    /// Records an engagement.
    fn save_engagement(
        &mut self,
        source: &str,
        event: &Engagement,
        row: &EngagementRow<'_>,
    ) -> Result<(), StoreError>;
    /// A contract's account and version.
    fn contract(&mut self, source: &str, id: &str) -> Result<Option<(AccountId, u64)>, StoreError>;
    /// Inserts or overwrites a contract.
    fn save_contract(
        &mut self,
        source: &str,
        account: AccountId,
        contract: &Contract,
    ) -> Result<(), StoreError>;
    /// Every contract of an account.
    fn contracts_of(&mut self, account: AccountId) -> Result<Vec<Contract>, StoreError>;
    /// The account's balance.
    fn balance(&mut self, account: AccountId) -> Result<i64, StoreError>;
    /// A referral of this account not qualified yet: its id and referrer.
    fn pending_referral(
        &mut self,
        referred: AccountId,
    ) -> Result<Option<(i64, AccountId)>, StoreError>;
    /// Marks a referral qualified by a purchase (`source/id`), with the
    /// bonus paid for it.
    fn qualify_referral(
        &mut self,
        id: i64,
        at: i64,
        points: i64,
        qualified_by: Option<&str>,
    ) -> Result<(), StoreError>;
    /// The referral of an account, qualified or not.
    fn referral_of(&mut self, referred: AccountId) -> Result<Option<ReferralState>, StoreError>;
    /// The account owning a referral code.
    fn referral_code_owner(&mut self, code: &str) -> Result<Option<AccountId>, StoreError>;
    /// Records a referral; returns its id.
    fn insert_referral(
        &mut self,
        referrer: AccountId,
        referred: AccountId,
        source: &str,
        actor: &str,
    ) -> Result<i64, StoreError>;
    /// How many of a referrer's referrals qualified in `[from, to)`.
    fn qualified_between(
        &mut self,
        referrer: AccountId,
        from: i64,
        to: i64,
    ) -> Result<u32, StoreError>;
    /// What a rule accrued so far for a referral and basis.
    fn accrued(&mut self, rule: &str, referral: i64, basis: &str) -> Result<Due, StoreError>;
    /// Whether a rule accrued anything to a referrer for a basis.
    fn accrued_to(
        &mut self,
        rule: &str,
        referrer: AccountId,
        basis: &str,
    ) -> Result<bool, StoreError>;
    /// The highest earn multiplier a sending or finished campaign offers
    /// the account (targeted, not held out) at `at`: its id and factor.
    fn campaign_multiplier(
        &mut self,
        account: AccountId,
        at: i64,
    ) -> Result<Option<(String, Decimal)>, StoreError>;
    /// Appends a commission row; returns its id.
    fn add_commission(&mut self, commission: &NewCommission<'_>) -> Result<i64, StoreError>;
    /// How many of a referrer's referrals earned a bonus in `[from, to)`.
    fn referral_bonuses_between(
        &mut self,
        referrer: AccountId,
        from: i64,
        to: i64,
    ) -> Result<u32, StoreError>;
    /// Appends a ledger entry unless its effect key exists; says whether it did.
    fn append_entry(
        &mut self,
        account: AccountId,
        entry: &NewEntry,
        rule_version: &str,
        now: i64,
    ) -> Result<bool, StoreError>;
}

/// What applying a batch of events did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// Events that changed something.
    pub changed: usize,
    /// Events ignored as stale or repeated.
    pub unchanged: usize,
    /// Ledger entries appended.
    pub entries: usize,
}

/// Why applying failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApplyError {
    /// The core refused an event: the delivery becomes a dead letter.
    #[error("{0}")]
    Core(#[from] CoreError),
    /// The store failed: the transaction is retried later.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Everything applying needs besides the events.
pub(crate) struct Context<'a> {
    /// The program in force now; [`Context::program_at`] picks the version
    /// in force at an event's time.
    pub program: &'a Program,
    /// Every registered version of the program.
    pub history: &'a ProgramHistory,
    /// How accounts are matched across systems.
    pub identity: &'a IdentityRules,
    /// The connector the events came from.
    pub source: &'a str,
    /// Processing time: tiers and milestones are judged as of it.
    pub now: i64,
}

impl Context<'_> {
    /// The version of the program in force at `at`.
    pub(crate) fn program_at(&self, at: i64) -> &Program {
        self.history.at(at).map_or(self.program, |p| p.as_ref())
    }
}

const DAY_MS: i64 = 86_400_000;

fn keys(identity: &IdentityRules, event: &AccountUpsert) -> AccountKeys {
    AccountKeys {
        tax_key: event.tax_id.as_deref().and_then(identity::tax_id_key),
        domain_key: event.domain.as_deref().and_then(|d| identity.domain_key(d)),
    }
}

/// The account a source id names, created as a placeholder if unknown.
fn resolve_account(
    book: &mut impl Book,
    cx: &Context<'_>,
    id: &str,
) -> Result<AccountId, StoreError> {
    match book.account_by_ref(cx.source, id)? {
        Some((account, _)) => Ok(account),
        None => {
            let account = match book.account_by_claim(cx.source, id)? {
                Some(claimed) if cx.identity.uses(identity::MatchKey::ExternalRef) => {
                    book.add_ref(claimed, cx.source, id, accounts::PLACEHOLDER_VERSION)?;
                    claimed
                }
                _ => book.insert_account(
                    cx.source,
                    id,
                    &accounts::placeholder_account(cx.source, id),
                    &AccountKeys::default(),
                    membership::initial_status(cx.program),
                )?,
            };
            Ok(account)
        }
    }
}

pub(crate) fn apply_events(
    book: &mut impl Book,
    cx: &Context<'_>,
    events: &[Event],
) -> Result<Applied, ApplyError> {
    let mut applied = Applied::default();
    for event in events {
        let changed = apply_event(book, cx, event, &mut applied)?;
        if changed {
            applied.changed += 1;
        } else {
            applied.unchanged += 1;
        }
    }
    Ok(applied)
}

fn apply_event(
    book: &mut impl Book,
    cx: &Context<'_>,
    event: &Event,
    applied: &mut Applied,
) -> Result<bool, ApplyError> {
    let source = cx.source;
    match event {
        Event::Account(upsert) => apply_account(book, cx, upsert).map_err(Into::into),
        Event::Contact(upsert) => {
            let stored = book.contact_by_ref(source, &upsert.source_id)?;
            let account = match &upsert.account_id {
                Some(id) => Some(resolve_account(book, cx, id)?),
                None => None,
            };
            match accounts::upsert_contact(stored.as_ref().map(|(_, c)| c), upsert, account) {
                Upsert::Stale => Ok(false),
                Upsert::Write(record) => {
                    book.save_contact(
                        stored.map(|(id, _)| id),
                        source,
                        &upsert.source_id,
                        &record,
                    )?;
                    Ok(true)
                }
            }
        }
        Event::Purchase(purchase) => {
            let stored = book.purchase(source, &purchase.source_id)?;
            let (record, mut account) = match stored {
                Some((record, account)) => (Some(record), account),
                None => (None, None),
            };
            if account.is_none()
                && let Some(id) = &purchase.account_id
            {
                account = Some(resolve_account(book, cx, id)?);
            }
            if let Some(account) = account {
                commissions::attribute(book, cx, account, purchase)?;
            }
            let state = match account {
                Some(account) => Some(book.account_state(account)?),
                None => None,
            };
            let program = cx.program_at(purchase.placed_at);
            let earned_in_period = match (account, program.earning.period_cap) {
                (Some(account), Some(cap)) => {
                    let (from, to) = cap.period.bounds(purchase.placed_at);
                    book.earned_between(account, from, to)?
                }
                _ => 0,
            };
            let tier = state
                .as_ref()
                .and_then(|s| s.tier.as_ref())
                .and_then(|t| t.tier.as_deref())
                .and_then(|id| program.tier(id));
            let campaign = match account {
                Some(account) => book.campaign_multiplier(account, purchase.placed_at)?,
                None => None,
            };
            let context = state
                .as_ref()
                .filter(|s| s.membership == Some(MembershipStatus::Active))
                .map(|s| EarnContext {
                    tier,
                    tags: &s.tags,
                    earned_in_period,
                    campaign: campaign.as_ref().map(|(id, factor)| (id.as_str(), *factor)),
                });
            let outcome =
                purchases::on_purchase(record, source, purchase, context.as_ref(), program)?;
            finish(book, cx, program, outcome, account, state.as_ref(), applied)
        }
        Event::Refund(refund) => {
            let (record, account) = match book.purchase(source, &refund.purchase_id)? {
                Some((record, account)) => (Some(record), account),
                None => (None, None),
            };
            let placed_at = record
                .as_ref()
                .and_then(|r| r.placed_at)
                .unwrap_or(refund.refunded_at);
            let program = cx.program_at(placed_at);
            let outcome = purchases::on_refund(record, source, refund)?;
            let state = match account {
                Some(account) => Some(book.account_state(account)?),
                None => None,
            };
            finish(book, cx, program, outcome, account, state.as_ref(), applied)
        }
        Event::Contract(contract) => apply_contract(book, cx, contract).map_err(Into::into),
        Event::Engagement(engagement) => apply_engagement(book, cx, engagement, applied),
        Event::NotYetHandled { kind, source_id } => {
            tracing::debug!(source, kind, source_id, "event kind not acted on yet");
            Ok(false)
        }
    }
}

fn apply_account(
    book: &mut impl Book,
    cx: &Context<'_>,
    upsert: &AccountUpsert,
) -> Result<bool, StoreError> {
    let source = cx.source;
    let stored = book.account_by_ref(source, &upsert.source_id)?;
    let current = stored.map(|(_, version)| Versioned {
        data: AccountData::default(),
        version,
    });
    let Upsert::Write(record) = accounts::upsert_account(current.as_ref(), upsert) else {
        return Ok(false);
    };
    let keys = keys(cx.identity, upsert);
    let account = match stored {
        Some((account, _)) => account,
        None => {
            let mut candidates = Candidates {
                by_external_ref: book.account_by_claim(source, &upsert.source_id)?,
                ..Candidates::default()
            };
            for (system, id) in &upsert.external_refs {
                if candidates.by_external_ref.is_none() {
                    candidates.by_external_ref = book.account_by_ref(system, id)?.map(|(a, _)| a);
                }
            }
            if cx.identity.uses(identity::MatchKey::TaxId)
                || cx.identity.uses(identity::MatchKey::Domain)
            {
                let (by_tax_id, by_domain) = book.accounts_by_keys(&keys)?;
                candidates.by_tax_id = by_tax_id;
                candidates.by_domain = by_domain;
            }
            match identity::resolve(cx.identity, &candidates) {
                Resolution::Existing(account, key) => {
                    tracing::info!(
                        source,
                        id = upsert.source_id,
                        account,
                        key = key.as_str(),
                        "matched to an existing account"
                    );
                    book.add_ref(account, source, &upsert.source_id, upsert.version)?;
                    account
                }
                Resolution::New => {
                    let account = book.insert_account(
                        source,
                        &upsert.source_id,
                        &record,
                        &keys,
                        membership::initial_status(cx.program),
                    )?;
                    for (system, id) in &upsert.external_refs {
                        book.add_claim(system, id, account)?;
                    }
                    return Ok(true);
                }
            }
        }
    };
    book.update_account(account, source, &upsert.source_id, &record, &keys)?;
    for (system, id) in &upsert.external_refs {
        match book.account_by_ref(system, id)? {
            Some((other, _)) if other != account => tracing::warn!(
                source,
                id = upsert.source_id,
                account,
                other,
                "names another account's record as its own; merge them if they are one company"
            ),
            _ => book.add_claim(system, id, account)?,
        }
    }
    Ok(true)
}

fn apply_contract(
    book: &mut impl Book,
    cx: &Context<'_>,
    contract: &Contract,
) -> Result<bool, StoreError> {
    let account = match book.contract(cx.source, &contract.source_id)? {
        Some((_, version)) if version > contract.version => return Ok(false),
        Some((account, _)) => account,
        None => resolve_account(book, cx, &contract.account_id)?,
    };
    book.save_contract(cx.source, account, contract)?;
    if cx.program.membership.enrollment == Enrollment::Contract {
        let state = book.account_state(account)?;
        let contracts = book.contracts_of(account)?;
        let membership = membership::by_contracts(state.membership, &contracts, cx.now);
        if membership != state.membership {
            book.set_membership(account, membership)?;
        }
    }
    Ok(true)
}

fn engagement_kind(action: &EngagementAction) -> Option<(EngagementKind, Option<&str>)> {
    match action {
        EngagementAction::NpsResponse(_) => Some((EngagementKind::NpsResponse, None)),
        EngagementAction::SurveyAnswered(name) => {
            Some((EngagementKind::SurveyAnswered, Some(name)))
        }
        EngagementAction::EventAttended(name) => Some((EngagementKind::EventAttended, Some(name))),
        EngagementAction::SocialAction(name) => Some((EngagementKind::SocialAction, Some(name))),
        EngagementAction::FormSubmitted(name) => Some((EngagementKind::FormSubmitted, Some(name))),
        EngagementAction::Other(_) => None,
    }
}

fn apply_engagement(
    book: &mut impl Book,
    cx: &Context<'_>,
    engagement: &Engagement,
    applied: &mut Applied,
) -> Result<bool, ApplyError> {
    if book.engagement_exists(cx.source, &engagement.source_id)? {
        return Ok(false);
    }
    let contact = match &engagement.contact_id {
        Some(id) => book.contact_by_ref(cx.source, id)?,
        None => None,
    };
    let account = match &engagement.account_id {
        Some(id) => resolve_account(book, cx, id)?,
        None => match contact.as_ref().and_then(|(_, c)| c.data.account) {
            Some(account) => account,
            None => {
                return Err(CoreError::UnattributedEngagement(engagement.source_id.clone()).into());
            }
        },
    };
    let (kind_name, name) = match &engagement.action {
        EngagementAction::Other(name) => ("other", Some(name.as_str())),
        action => engagement_kind(action)
            .map(|(kind, name)| (kind.as_str(), name))
            .unwrap_or(("other", None)),
    };
    let state = book.account_state(account)?;
    let program = cx.program_at(engagement.occurred_at);
    let mut points = 0;
    if state.membership == Some(MembershipStatus::Active)
        && let Some((kind, _)) = engagement_kind(&engagement.action)
        && let Some(rule) = rules::engagement_rule(program, kind)
    {
        let rewarded = match rule.limit {
            Some(limit) => {
                let (from, to) = limit.period.bounds(engagement.occurred_at);
                book.rewarded_engagements(account, kind.as_str(), from, to)?
            }
            None => 0,
        };
        if let Some(earned) = rules::engagement_points(program, kind, rewarded) {
            points = earned;
            let entry = NewEntry {
                kind: EntryKind::Bonus,
                points,
                effect_key: format!("engage/{}/{}", cx.source, engagement.source_id),
                source: cx.source.to_owned(),
                reference: engagement.source_id.clone(),
                amount: None,
                rate: None,
                reason: Some(format!("engagement: {}", kind.as_str())),
                occurred_at: engagement.occurred_at,
            };
            if book.append_entry(account, &entry, &program.version, cx.now)? {
                applied.entries += 1;
            }
        }
    }
    let score = match engagement.action {
        EngagementAction::NpsResponse(score) => Some(score),
        _ => None,
    };
    book.save_engagement(
        cx.source,
        engagement,
        &EngagementRow {
            account,
            contact: contact.map(|(id, _)| id),
            kind: kind_name,
            name,
            score,
            points,
        },
    )?;
    Ok(true)
}

fn finish(
    book: &mut impl Book,
    cx: &Context<'_>,
    program: &Program,
    outcome: purchases::Outcome,
    account: Option<AccountId>,
    state: Option<&AccountState>,
    applied: &mut Applied,
) -> Result<bool, ApplyError> {
    if !outcome.changed {
        return Ok(false);
    }
    book.save_purchase(&outcome.record, account)?;
    let (Some(account), Some(state)) = (account, state) else {
        return Ok(true);
    };
    for entry in &outcome.entries {
        if book.append_entry(account, entry, &program.version, cx.now)? {
            applied.entries += 1;
            if entry.kind == EntryKind::Reverse && !cx.program.membership.allow_negative_balance {
                applied.entries += write_off(book, cx, account, entry)?;
            }
            if entry.kind == EntryKind::Earn {
                let by = format!("{}/{}", outcome.record.source, outcome.record.id);
                applied.entries +=
                    qualify_referral(book, cx, account, entry.occurred_at, Some(&by))?;
            }
        }
    }
    applied.entries += commissions::after_purchase(book, cx, program, &outcome.record, account)?;
    applied.entries += after_spend_change(book, cx, account, state)?;
    Ok(true)
}

/// Qualifies the referral of `referred`, if one waits: its first earning
/// purchase pays the referrer the program's referral bonus (an engagement
/// rule of kind `referral`), within the rule's limit, once. Returns the
/// number of entries appended.
pub(crate) fn qualify_referral(
    book: &mut impl Book,
    cx: &Context<'_>,
    referred: AccountId,
    at: i64,
    qualified_by: Option<&str>,
) -> Result<usize, StoreError> {
    let Some((referral, referrer)) = book.pending_referral(referred)? else {
        return Ok(0);
    };
    let program = cx.program_at(at);
    let member = book.account_state(referrer)?.membership == Some(MembershipStatus::Active);
    let points = match rules::engagement_rule(program, EngagementKind::Referral) {
        Some(rule) if member => {
            let rewarded = match rule.limit {
                Some(limit) => {
                    let (from, to) = limit.period.bounds(at);
                    book.referral_bonuses_between(referrer, from, to)?
                }
                None => 0,
            };
            rules::engagement_points(program, EngagementKind::Referral, rewarded).unwrap_or(0)
        }
        _ => 0,
    };
    book.qualify_referral(referral, at, points, qualified_by)?;
    let goals = commissions::after_qualification(book, cx, referral, referrer, referred, at)?;
    if points == 0 {
        return Ok(goals);
    }
    let entry = NewEntry {
        kind: EntryKind::Bonus,
        points,
        effect_key: format!("referral/{referred}"),
        source: "program".to_owned(),
        reference: referred.to_string(),
        amount: None,
        rate: None,
        reason: Some(format!(
            "referral: account {referred} placed its first qualifying order"
        )),
        occurred_at: at,
    };
    Ok(goals + usize::from(book.append_entry(referrer, &entry, &program.version, cx.now)?))
}

/// Brings a balance a reversal took below zero back to zero with an
/// explicit entry, for programs that do not carry negative balances.
fn write_off(
    book: &mut impl Book,
    cx: &Context<'_>,
    account: AccountId,
    reversal: &NewEntry,
) -> Result<usize, StoreError> {
    let balance = book.balance(account)?;
    if balance >= 0 {
        return Ok(0);
    }
    let entry = NewEntry {
        kind: EntryKind::Adjust,
        points: -balance,
        effect_key: format!("writeoff/{}", reversal.effect_key),
        source: "program".to_owned(),
        reference: reversal.reference.clone(),
        amount: None,
        rate: None,
        reason: Some(format!(
            "negative balance of {balance} written off (allow_negative_balance = false)"
        )),
        occurred_at: reversal.occurred_at,
    };
    Ok(usize::from(book.append_entry(
        account,
        &entry,
        &cx.program.version,
        cx.now,
    )?))
}

/// Re-evaluates an account's tier and milestones after its spend changed;
/// returns the number of entries appended.
pub(crate) fn after_spend_change(
    book: &mut impl Book,
    cx: &Context<'_>,
    account: AccountId,
    state: &AccountState,
) -> Result<usize, StoreError> {
    let program = cx.program;
    let longest = program
        .milestones
        .iter()
        .map(|m| m.window_days)
        .chain([program.tiers.window_days])
        .max()
        .unwrap_or(0);
    if longest == 0 || (program.tiers.tiers.is_empty() && program.milestones.is_empty()) {
        return Ok(0);
    }
    let since = cx
        .now
        .saturating_sub(i64::from(longest).saturating_mul(DAY_MS));
    let items = book.spend_items(account, since)?;
    if !program.tiers.tiers.is_empty() {
        let spend = tiers::qualifying_spend(&items, program.tiers.window_days, cx.now);
        let decision = tiers::evaluate(&program.tiers, state.tier.as_ref(), spend, cx.now);
        if state.tier.as_ref() != Some(&decision.state) {
            book.save_tier(account, &decision.state, decision.change.as_ref())?;
        }
    }
    let mut appended = 0;
    if state.membership == Some(MembershipStatus::Active) {
        let mut spend =
            |window_days: u32| -> Decimal { tiers::qualifying_spend(&items, window_days, cx.now) };
        for entry in rules::milestones_reached(program, account, &mut spend, cx.now) {
            if book.append_entry(account, &entry, &program.version, cx.now)? {
                appended += 1;
            }
        }
    }
    Ok(appended)
}
