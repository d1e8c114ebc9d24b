//! `[program]` and `[identity]`: from the deserialized tables to the core's
//! [`Program`] and [`IdentityRules`]. The checks across entries live here:
//! unique ids, exactly one target per multiplier, tiers in order, rewards
//! that name existing tiers and connectors, terms in order with their text
//! read from their files.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::Path;

use rust_decimal::Decimal;
use toml::Spanned;

use super::{required, required_table};
use crate::config::document::{Document, KeyPath, Presence};
use crate::config::errors::suggest;
use crate::config::schema::{self, Timestamp};
use crate::config::{program_version, secrets};
use crate::core::event::{Money, TimestampMs};
use crate::core::identity::{IdentityRules, MatchKey};
use crate::core::program::{
    EarningRules, Eligibility, EngagementLimit, EngagementRule, Expiry, Fulfilment, Membership,
    Milestone, Multiplier, MultiplierTarget, PeriodCap, Program, Reward, Terms, Tier, TierRules,
};

/// Checks `[program]`. `connectors` are the names of the configured
/// connectors, which rewards may name for their fulfilment.
mod referrals;

pub(super) fn program(
    document: &mut Document<'_>,
    dir: &Path,
    connectors: &[String],
) -> Option<Program> {
    let key = KeyPath::root().key("program");
    if !required_table(
        document,
        &key,
        "[program] with currency = \"EUR\", points_per_unit = \"1\" and rounding = \"floor\"",
    ) {
        return None;
    }
    let program: schema::Program = document.section(&key)?;
    let currency = required(
        document,
        &key,
        "currency",
        program.currency,
        "set the ISO 4217 code of the currency points are earned in, e.g. currency = \"EUR\"",
    );
    let points_per_unit = required(
        document,
        &key,
        "points_per_unit",
        program.points_per_unit,
        "set the points earned per unit of the currency, as a string, e.g. points_per_unit = \"1\"",
    );
    let rounding = required(
        document,
        &key,
        "rounding",
        program.rounding,
        "choose how fractional points become whole points: \"floor\", \"half_up\" or \"half_even\", e.g. rounding = \"floor\"",
    );
    let mut rates_ok = true;
    if let Some(currency) = &currency
        && program.exchange_rates.contains_key(currency)
    {
        rates_ok = false;
        document.error_at_key(
            &key.key("exchange_rates").key(&currency.0),
            format!(
                "`{}` is the program currency itself, whose rate is always 1: remove this entry",
                currency.0
            ),
        );
    }
    let exchange_rates = program
        .exchange_rates
        .into_iter()
        .map(|(code, rate)| (code.0, exact(rate.0)))
        .collect();

    let earning = earning(document, &key.key("earning"), program.earning);
    let milestones = milestones(document, &key.key("milestones"), program.milestones);
    let engagement = engagement(document, &key.key("engagement"), program.engagement);
    let (tiers, tier_ids) = tiers(document, &key.key("tiers"), program.tiers);
    let rewards = rewards(
        document,
        &key.key("rewards"),
        program.rewards,
        tier_ids.as_deref(),
        connectors,
    );
    let expiry = expiry(document, &key.key("expiry"), program.expiry);
    let terms = terms(document, &key.key("terms"), program.terms, dir);
    let referrals = referrals::referrals(document, &key.key("referrals"), program.referrals);
    let scoring = scoring(document, &key.key("scoring"), program.scoring);
    let analytics = analytics(document, &key.key("analytics"), program.analytics);

    let membership = Membership::default();
    let eligibility = eligibility(document, &key.key("eligibility"), program.eligibility);
    let mut program = Program {
        currency: currency?.0,
        points_per_unit: exact(points_per_unit?.0),
        rounding: rounding?,
        exchange_rates,
        version: String::new(),
        effective_from: program.effective_from.map(|t| t.0),
        earning: earning?,
        milestones: milestones?,
        engagement: engagement?,
        tiers: tiers?,
        rewards: rewards?,
        expiry: expiry?,
        membership: Membership {
            enrollment: program.enrollment.unwrap_or(membership.enrollment),
            allow_negative_balance: program
                .allow_negative_balance
                .unwrap_or(membership.allow_negative_balance),
            eligibility: eligibility?,
        },
        terms: terms?,
        referrals: referrals?,
        scoring: scoring?,
        analytics: analytics?,
    };
    program.version = program_version(&program);
    rates_ok.then_some(program)
}

/// Checks `[program.scoring]`.
fn scoring(
    document: &mut Document<'_>,
    key: &KeyPath,
    scoring: Option<Spanned<schema::Scoring>>,
) -> Option<crate::core::profiles::Settings> {
    let defaults = crate::core::profiles::Settings::default();
    let Some(scoring) = scoring.map(Spanned::into_inner) else {
        return Some(defaults);
    };
    let mut loyalty = defaults.loyalty.clone();
    if let Some(rule) = scoring.loyalty {
        if let Some(classes) = rule.nps_classes {
            loyalty.nps_classes = classes;
        }
        if let Some(top) = rule.clv_top_percent {
            let (span, top) = (top.span(), exact(top.into_inner().0));
            if top.is_zero() {
                document.error(
                    span,
                    &key.key("loyalty").key("clv_top_percent"),
                    "the top 0 % holds no account: use more than 0, e.g. clv_top_percent = \"25\"",
                );
                return None;
            }
            loyalty.clv_top_percent = top;
        }
    }
    Some(crate::core::profiles::Settings {
        nps_window_days: scoring
            .nps_window_days
            .map_or(defaults.nps_window_days, |d| d.0),
        margin_rate: scoring
            .margin_percent
            .map(|p| exact(p.0 / Decimal::ONE_HUNDRED)),
        retention_window_days: scoring
            .retention_window_days
            .map_or(defaults.retention_window_days, |d| d.0),
        lifetime_cap_years: scoring
            .lifetime_cap_years
            .map_or(defaults.lifetime_cap_years, |y| exact(y.0)),
        loyalty,
    })
}

/// Checks `[program.analytics]`.
fn analytics(
    document: &mut Document<'_>,
    key: &KeyPath,
    analytics: Option<Spanned<schema::Analytics>>,
) -> Option<crate::core::analytics::Settings> {
    let defaults = crate::core::analytics::Settings::default();
    let Some(analytics) = analytics.map(Spanned::into_inner) else {
        return Some(defaults);
    };
    let mut fixed_costs = Vec::new();
    let mut complete = true;
    for (element, _, cost) in elements(document, &key.key("fixed_costs"), analytics.fixed_costs) {
        let name = name(document, &element, cost.name, "Platform licence");
        let monthly = required(
            document,
            &element,
            "monthly",
            cost.monthly,
            "set the cost per month in the program currency, e.g. monthly = \"1200\"",
        );
        match (name, monthly) {
            (Some(name), Some(monthly)) => fixed_costs.push(crate::core::analytics::FixedCost {
                name,
                monthly: exact(monthly.0),
            }),
            _ => complete = false,
        }
    }
    complete.then(|| crate::core::analytics::Settings {
        point_cost: analytics
            .point_cost
            .map_or(defaults.point_cost, |c| exact(c.0)),
        baseline_days: analytics
            .baseline_days
            .map_or(defaults.baseline_days, |d| d.0),
        fixed_costs,
    })
}

/// Checks `[program.eligibility]`.
fn eligibility(
    document: &mut Document<'_>,
    key: &KeyPath,
    rules: schema::Eligibility,
) -> Option<Eligibility> {
    let mut countries = Vec::new();
    let mut complete = true;
    for (element, span, country) in elements(document, &key.key("countries"), rules.countries) {
        let code = country.trim().to_ascii_uppercase();
        if code.len() == 2 && code.chars().all(|c| c.is_ascii_uppercase()) {
            countries.push(code);
        } else {
            complete = false;
            document.error(
                span,
                &element,
                format!("`{country}` is not an ISO 3166-1 alpha-2 country code, e.g. \"DE\""),
            );
        }
    }
    complete.then(|| Eligibility {
        min_spend: rules.min_spend.map(|m| exact(m.0)),
        window_days: rules
            .window_days
            .map_or(schema::DEFAULT_WINDOW_DAYS, |d| d.0),
        countries,
        industries: rules.industries,
        min_employees: rules.min_employees,
        loyal: rules.loyal.unwrap_or(false),
    })
}

/// Checks `[identity]`.
pub(super) fn identity(document: &mut Document<'_>) -> Option<IdentityRules> {
    let key = KeyPath::root().key("identity");
    match document.table(&key) {
        Presence::Missing => return Some(IdentityRules::default()),
        Presence::NotATable => return None,
        Presence::Table => {}
    }
    let identity: schema::Identity = document.section(&key)?;
    let mut complete = true;
    let match_on = match identity.match_on {
        None => IdentityRules::default().match_on,
        Some(keys) => {
            let mut seen: Vec<MatchKey> = Vec::new();
            for (element, span, match_key) in elements(document, &key.key("match_on"), keys) {
                if seen.contains(&match_key) {
                    complete = false;
                    document.error(
                        span,
                        &element,
                        format!(
                            "`{}` is listed twice: list each key once, strongest first",
                            match_key.as_str()
                        ),
                    );
                } else {
                    seen.push(match_key);
                }
            }
            seen
        }
    };
    let mut free_mail_domains = BTreeSet::new();
    for (element, span, domain) in elements(
        document,
        &key.key("free_mail_domains"),
        identity.free_mail_domains,
    ) {
        let lower = domain.trim().to_ascii_lowercase();
        if domain_ok(&lower) {
            free_mail_domains.insert(lower);
        } else {
            complete = false;
            document.error(
                span,
                &element,
                format!(
                    "`{domain}` is not a domain: write the domain alone, without `@`, scheme or path, e.g. \"mailbox.example\""
                ),
            );
        }
    }
    complete.then_some(IdentityRules {
        match_on,
        free_mail_domains,
    })
}

/// Labels of letters, digits and `-`, at least two.
fn domain_ok(domain: &str) -> bool {
    domain.contains('.')
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

/// The canonical form of a decimal, without trailing zeros, so that `"2"`
/// and `"2.00"` make the same program and the same version.
pub(super) fn exact(value: Decimal) -> Decimal {
    value.normalize()
}

/// Each element of the array at `key`, with its key in the file. An element
/// that could not be deserialized was reported and dropped, so an element's
/// position among the rest may differ from its index in the file; its span
/// finds it.
pub(super) fn elements<T>(
    document: &Document<'_>,
    key: &KeyPath,
    items: Vec<Spanned<T>>,
) -> Vec<(KeyPath, Range<usize>, T)> {
    items
        .into_iter()
        .enumerate()
        .map(|(position, item)| {
            let span = item.span();
            let index = document.element_index(key, &span).unwrap_or(position);
            (key.index(index), span, item.into_inner())
        })
        .collect()
}

/// The ids seen so far in one list, to report a second use of one.
pub(super) struct Ids {
    /// "tier", "reward": what the ids name.
    what: &'static str,
    seen: BTreeMap<String, KeyPath>,
}

impl Ids {
    pub(super) fn new(what: &'static str) -> Self {
        Self {
            what,
            seen: BTreeMap::new(),
        }
    }

    /// Whether `id` is new; reports it at `id`'s position otherwise.
    fn insert(
        &mut self,
        document: &mut Document<'_>,
        element: &KeyPath,
        id: &Spanned<String>,
    ) -> bool {
        let text = id.get_ref();
        if let Some(first) = self.seen.get(text) {
            document.error(
                id.span(),
                &element.key("id"),
                format!(
                    "duplicate {} id `{text}`: {first} has it already; give each {} its own id",
                    self.what, self.what
                ),
            );
            return false;
        }
        self.seen.insert(text.clone(), element.clone());
        true
    }
}

/// A required id, and whether it is unique (a second use is reported).
fn id(
    document: &mut Document<'_>,
    element: &KeyPath,
    ids: &mut Ids,
    id: Option<Spanned<schema::Id>>,
    example: &str,
) -> Option<(String, bool)> {
    let hint = format!(
        "name the {} with a stable id, e.g. id = \"{example}\"",
        ids.what
    );
    let id = required(document, element, "id", id, &hint)?;
    let id = Spanned::new(id.span(), id.into_inner().0);
    let unique = ids.insert(document, element, &id);
    Some((id.into_inner(), unique))
}

/// A required id that must be unique.
pub(super) fn unique_id(
    document: &mut Document<'_>,
    element: &KeyPath,
    ids: &mut Ids,
    given: Option<Spanned<schema::Id>>,
    example: &str,
) -> Option<String> {
    id(document, element, ids, given, example).and_then(|(id, unique)| unique.then_some(id))
}

/// A required display name, not blank.
pub(super) fn name(
    document: &mut Document<'_>,
    element: &KeyPath,
    name: Option<Spanned<String>>,
    example: &str,
) -> Option<String> {
    let hint = format!("set the name members see, e.g. name = \"{example}\"");
    let name = required(document, element, "name", name, &hint)?;
    if name.get_ref().trim().is_empty() {
        document.error(
            name.span(),
            &element.key("name"),
            format!("`name` is empty: {hint}"),
        );
        return None;
    }
    Some(name.into_inner())
}

fn earning(
    document: &mut Document<'_>,
    key: &KeyPath,
    earning: schema::Earning,
) -> Option<EarningRules> {
    let period_cap = earning.period_cap.map(|cap| {
        let cap_key = key.key("period_cap");
        let cap = cap.into_inner();
        let example = "e.g. period_cap = { points = 120000, period = \"year\" }";
        let points = required(
            document,
            &cap_key,
            "points",
            cap.points,
            &format!("set the most points per period, {example}"),
        );
        let period = required(
            document,
            &cap_key,
            "period",
            cap.period,
            &format!("choose the period, \"month\", \"quarter\" or \"year\", {example}"),
        );
        Some(PeriodCap {
            points: points?.0,
            period: period?,
        })
    });

    let multipliers_key = key.key("multipliers");
    let mut multipliers = Vec::new();
    let mut complete = true;
    let mut targets: Vec<(MultiplierTarget, KeyPath)> = Vec::new();
    for (element, span, multiplier) in elements(document, &multipliers_key, earning.multipliers) {
        let given: Vec<(&str, Spanned<String>)> = [
            ("sku", multiplier.sku),
            ("category", multiplier.category),
            ("tag", multiplier.tag),
        ]
        .into_iter()
        .filter_map(|(field, value)| value.map(|value| (field, value)))
        .collect();
        let target = match given.as_slice() {
            [] => {
                let reported = ["sku", "category", "tag"]
                    .iter()
                    .any(|field| document.was_reported(&element.key(field)));
                if !reported {
                    document.error(
                        span.clone(),
                        &element,
                        "no target: set exactly one of sku = \"...\", category = \"...\" or tag = \"...\"",
                    );
                }
                None
            }
            [(field, value)] => {
                let text = value.get_ref();
                if text.trim().is_empty() {
                    document.error(
                        value.span(),
                        &element.key(field),
                        format!(
                            "`{field}` is empty: name the {} the multiplier applies to",
                            match *field {
                                "sku" => "SKU",
                                "category" => "category",
                                _ => "segment tag",
                            }
                        ),
                    );
                    None
                } else {
                    let target = match *field {
                        "sku" => MultiplierTarget::Sku(text.clone()),
                        "category" => MultiplierTarget::Category(text.clone()),
                        _ => MultiplierTarget::Tag(text.clone()),
                    };
                    if let Some((_, first)) = targets.iter().find(|(t, _)| *t == target) {
                        document.error(
                            value.span(),
                            &element.key(field),
                            format!(
                                "duplicate multiplier for {field} `{text}`: {first} has it already; combine them into one factor"
                            ),
                        );
                        None
                    } else {
                        targets.push((target.clone(), element.clone()));
                        Some(target)
                    }
                }
            }
            several => {
                let names: Vec<String> = several.iter().map(|(f, _)| format!("`{f}`")).collect();
                let set = match names.as_slice() {
                    [a, b] => format!("{a} and {b} are both set"),
                    _ => format!("{} are all set", names.join(", ")),
                };
                document.error(
                    span.clone(),
                    &element,
                    format!(
                        "{set}: a multiplier applies to exactly one of sku, category and tag; write one [[program.earning.multipliers]] entry per target"
                    ),
                );
                None
            }
        };
        let factor = required(
            document,
            &element,
            "factor",
            multiplier.factor,
            "set the factor as a decimal string, e.g. factor = \"2\"",
        );
        match (target, factor) {
            (Some(target), Some(factor)) => multipliers.push(Multiplier {
                target,
                factor: exact(factor.0),
            }),
            _ => complete = false,
        }
    }

    let period_cap = match period_cap {
        None => None,
        Some(cap) => Some(cap?),
    };
    complete.then_some(EarningRules {
        min_order: earning.min_order.map(|m| exact(m.0)),
        order_cap: earning.order_cap.map(|c| c.0),
        period_cap,
        multipliers,
    })
}

fn milestones(
    document: &mut Document<'_>,
    key: &KeyPath,
    items: Vec<Spanned<schema::Milestone>>,
) -> Option<Vec<Milestone>> {
    let mut ids = Ids::new("milestone");
    let mut milestones = Vec::new();
    let mut complete = true;
    for (element, _, milestone) in elements(document, key, items) {
        let id = unique_id(document, &element, &mut ids, milestone.id, "spend-50k");
        let spend = required(
            document,
            &element,
            "spend",
            milestone.spend,
            "set the qualifying spend to reach, as a decimal string in the program currency, e.g. spend = \"50000\"",
        );
        let points = required(
            document,
            &element,
            "points",
            milestone.points,
            "set the bonus in points, e.g. points = 5000",
        );
        match (id, spend, points) {
            (Some(id), Some(spend), Some(points)) => milestones.push(Milestone {
                id,
                spend: exact(spend.0),
                window_days: milestone
                    .window_days
                    .map_or(schema::DEFAULT_WINDOW_DAYS, |d| d.0),
                points: points.0,
            }),
            _ => complete = false,
        }
    }
    complete.then_some(milestones)
}

fn engagement(
    document: &mut Document<'_>,
    key: &KeyPath,
    items: Vec<Spanned<schema::Engagement>>,
) -> Option<Vec<EngagementRule>> {
    let mut rules = Vec::new();
    let mut complete = true;
    let mut kinds = BTreeMap::new();
    for (element, _, rule) in elements(document, key, items) {
        let kind = required(
            document,
            &element,
            "kind",
            rule.kind,
            "choose what is rewarded: \"nps_response\", \"survey_answered\", \"event_attended\", \"social_action\", \"form_submitted\" or \"referral\", e.g. kind = \"nps_response\"",
        )
        .and_then(|kind| {
            let (span, kind) = (kind.span(), kind.into_inner());
            if let Some(first) = kinds.get(&kind) {
                document.error(
                    span,
                    &element.key("kind"),
                    format!(
                        "duplicate rule for `{}`: {first} has it already; each kind has one rule, so remove one or merge them",
                        kind.as_str()
                    ),
                );
                return None;
            }
            kinds.insert(kind, element.clone());
            Some(kind)
        });
        let points = required(
            document,
            &element,
            "points",
            rule.points,
            "set the points per engagement, e.g. points = 50",
        );
        let limit = rule.limit.map(|limit| {
            let limit_key = element.key("limit");
            let limit = limit.into_inner();
            let example = "e.g. limit = { count = 1, period = \"quarter\" }";
            let count = required(
                document,
                &limit_key,
                "count",
                limit.count,
                &format!("set how many engagements are rewarded per period, {example}"),
            );
            let period = required(
                document,
                &limit_key,
                "period",
                limit.period,
                &format!("choose the period, \"month\", \"quarter\" or \"year\", {example}"),
            );
            Some(EngagementLimit {
                count: count?.0,
                period: period?,
            })
        });
        let limit = match limit {
            None => Some(None),
            Some(limit) => limit.map(Some),
        };
        match (kind, points, limit) {
            (Some(kind), Some(points), Some(limit)) => rules.push(EngagementRule {
                kind,
                points: points.0,
                limit,
            }),
            _ => complete = false,
        }
    }
    complete.then_some(rules)
}

/// The tiers, and the ids of the tiers unless one of them had none (a
/// reward naming it would be reported again as naming an unknown tier).
fn tiers(
    document: &mut Document<'_>,
    key: &KeyPath,
    tiers: schema::Tiers,
) -> (Option<TierRules>, Option<Vec<String>>) {
    let mut ids = Ids::new("tier");
    let mut levels = Vec::new();
    let mut complete = true;
    let mut tier_ids = Some(Vec::new());
    // The highest min_spend so far, and the tier it belongs to.
    let mut below: Option<(Decimal, String)> = None;
    for (element, _, tier) in elements(document, &key.key("levels"), tiers.levels) {
        let id = id(document, &element, &mut ids, tier.id, "gold");
        match (&id, tier_ids.as_mut()) {
            (Some((id, true)), Some(known)) => known.push(id.clone()),
            (Some((_, false)), _) | (_, None) => {}
            (None, Some(_)) => tier_ids = None,
        }
        let id = id.and_then(|(id, unique)| unique.then_some(id));
        let name = name(document, &element, tier.name, "Gold");
        let min_spend = required(
            document,
            &element,
            "min_spend",
            tier.min_spend,
            "set the qualifying spend the tier needs, as a decimal string in the program currency, e.g. min_spend = \"10000\"",
        )
        .and_then(|min_spend| {
            let (span, value) = (min_spend.span(), exact(min_spend.into_inner().0));
            let label = id.clone().unwrap_or_else(|| element.to_string());
            if let Some((previous, previous_label)) = &below
                && value <= *previous
            {
                document.error(
                    span,
                    &element.key("min_spend"),
                    format!(
                        "`{value}` is not above the min_spend of the tier before it (`{previous_label}`: {previous}): list tiers lowest first, each needing more spend than the one before"
                    ),
                );
                return None;
            }
            below = Some((value, label));
            Some(value)
        });
        match (id, name, min_spend) {
            (Some(id), Some(name), Some(min_spend)) => levels.push(Tier {
                id,
                name,
                min_spend,
                discount_percent: tier.discount_percent.map_or(Decimal::ZERO, |d| exact(d.0)),
                earn_multiplier: tier.earn_multiplier.map_or(Decimal::ONE, |m| exact(m.0)),
                perks: tier.perks,
            }),
            _ => complete = false,
        }
    }
    let rules = complete.then_some(TierRules {
        window_days: tiers
            .window_days
            .map_or(schema::DEFAULT_WINDOW_DAYS, |d| d.0),
        grace_days: tiers.grace_days.unwrap_or(schema::DEFAULT_GRACE_DAYS),
        tiers: levels,
    });
    (rules, tier_ids)
}

/// `tier_ids`: the tiers' ids, `None` when a tier was malformed (its id
/// would be reported again as unknown).
fn rewards(
    document: &mut Document<'_>,
    key: &KeyPath,
    items: Vec<Spanned<schema::Reward>>,
    tier_ids: Option<&[String]>,
    connectors: &[String],
) -> Option<Vec<Reward>> {
    let mut ids = Ids::new("reward");
    let mut rewards = Vec::new();
    let mut complete = true;
    for (element, _, reward) in elements(document, key, items) {
        let id = unique_id(document, &element, &mut ids, reward.id, "gift-card-100");
        let name = name(document, &element, reward.name, "EUR 100 gift card");
        let kind = required(
            document,
            &element,
            "kind",
            reward.kind,
            "choose what it is: \"discount\", \"gift_card\", \"exclusive_product\", \"service\" or \"vip_event\", e.g. kind = \"gift_card\"",
        );
        let points = required(
            document,
            &element,
            "points",
            reward.points,
            "set its price in points, e.g. points = 10000",
        );
        let value = reward.value.map(|value| {
            let value_key = element.key("value");
            let value = value.into_inner();
            let example = "e.g. value = { amount = \"100.00\", currency = \"EUR\" }";
            let amount = required(
                document,
                &value_key,
                "amount",
                value.amount,
                &format!("set the amount as a decimal string, {example}"),
            );
            let currency = required(
                document,
                &value_key,
                "currency",
                value.currency,
                &format!("set the amount's ISO 4217 currency code, {example}"),
            );
            Some(Money {
                amount: exact(amount?.0),
                currency: currency?.0,
            })
        });
        let value = match value {
            None => Some(None),
            Some(value) => value.map(Some),
        };
        let tiers = reward_tiers(document, &element.key("tiers"), reward.tiers, tier_ids);
        let fulfilment = match reward.connector {
            None => Some(Fulfilment::Manual),
            Some(connector) => {
                let (span, connector) = (connector.span(), connector.into_inner());
                if connectors.contains(&connector) {
                    Some(Fulfilment::Connector(connector))
                } else {
                    document.error(
                        span,
                        &element.key("connector"),
                        unknown_connector(&connector, connectors),
                    );
                    None
                }
            }
        };
        match (id, name, kind, points, value, tiers, fulfilment) {
            (
                Some(id),
                Some(name),
                Some(kind),
                Some(points),
                Some(value),
                Some(tiers),
                Some(fulfilment),
            ) => rewards.push(Reward {
                id,
                name,
                kind,
                points: points.0,
                value,
                stock: reward.stock,
                tiers,
                fulfilment,
                description: reward.description,
            }),
            _ => complete = false,
        }
    }
    complete.then_some(rewards)
}

fn reward_tiers(
    document: &mut Document<'_>,
    key: &KeyPath,
    given: Vec<Spanned<String>>,
    tier_ids: Option<&[String]>,
) -> Option<Vec<String>> {
    let mut tiers: Vec<String> = Vec::new();
    let mut complete = true;
    for (element, span, tier) in elements(document, key, given) {
        if tiers.contains(&tier) {
            document.error(
                span,
                &element,
                format!("`{tier}` is listed twice: list each tier once"),
            );
            complete = false;
            continue;
        }
        if let Some(known) = tier_ids
            && !known.contains(&tier)
        {
            document.error(span, &element, unknown_tier(&tier, known));
            complete = false;
            continue;
        }
        tiers.push(tier);
    }
    complete.then_some(tiers)
}

fn backticked(names: &[String]) -> String {
    names
        .iter()
        .map(|name| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn unknown_tier(tier: &str, known: &[String]) -> String {
    if known.is_empty() {
        return format!(
            "unknown tier `{tier}`: no tiers are defined; add it to [[program.tiers.levels]], or remove `tiers` so every member may redeem this reward"
        );
    }
    let list = backticked(known);
    match suggest(tier, known.iter().map(String::as_str)) {
        Some(close) => format!(
            "unknown tier `{tier}`: did you mean `{close}`? (the tiers in [[program.tiers.levels]] are {list})"
        ),
        None => format!(
            "unknown tier `{tier}`: the tiers in [[program.tiers.levels]] are {list}; add it there, or remove it from `tiers`"
        ),
    }
}

fn unknown_connector(connector: &str, known: &[String]) -> String {
    let fix = format!(
        "there is no [connectors.{connector}]; configure it, or remove `connector` so a person fulfils this reward through the admin API"
    );
    if known.is_empty() {
        return format!("unknown connector `{connector}`: {fix}");
    }
    let list = backticked(known);
    match suggest(connector, known.iter().map(String::as_str)) {
        Some(close) => format!(
            "unknown connector `{connector}`: did you mean `{close}`? (the configured connectors are {list})"
        ),
        None => {
            format!("unknown connector `{connector}`: {fix} (the configured connectors are {list})")
        }
    }
}

fn expiry(
    document: &mut Document<'_>,
    key: &KeyPath,
    expiry: Option<Spanned<schema::Expiry>>,
) -> Option<Option<Expiry>> {
    let Some(expiry) = expiry else {
        return Some(None);
    };
    let after_days = required(
        document,
        key,
        "after_days",
        expiry.into_inner().after_days,
        "set after how many days unspent points expire, e.g. after_days = 730, or remove [program.expiry] so points never expire",
    )?;
    Some(Some(Expiry {
        after_days: after_days.0,
    }))
}

fn terms(
    document: &mut Document<'_>,
    key: &KeyPath,
    items: Vec<Spanned<schema::Terms>>,
    dir: &Path,
) -> Option<Vec<Terms>> {
    let mut versions: BTreeMap<String, KeyPath> = BTreeMap::new();
    let mut terms = Vec::new();
    let mut complete = true;
    // The latest effective_from so far, and the version it belongs to.
    let mut before: Option<(TimestampMs, String)> = None;
    for (element, span, entry) in elements(document, key, items) {
        let hint = "name this version of the terms, e.g. version = \"2026-01\"";
        let version = required(document, &element, "version", entry.version, hint).and_then(
            |version| {
                let (version_span, version) = (version.span(), version.into_inner());
                if version.trim().is_empty() {
                    document.error(
                        version_span,
                        &element.key("version"),
                        format!("`version` is empty: {hint}"),
                    );
                    return None;
                }
                if let Some(first) = versions.get(&version) {
                    document.error(
                        version_span,
                        &element.key("version"),
                        format!(
                            "duplicate terms version `{version}`: {first} has it already; give each version its own name"
                        ),
                    );
                    return None;
                }
                versions.insert(version.clone(), element.clone());
                Some(version)
            },
        );
        let effective_from = required(
            document,
            &element,
            "effective_from",
            entry.effective_from,
            "set when this version applies from, e.g. effective_from = 2026-01-01T00:00:00Z",
        )
        .and_then(|at| {
            let (at_span, Timestamp(at)) = (at.span(), at.into_inner());
            let label = version.clone().unwrap_or_else(|| element.to_string());
            if let Some((previous, previous_label)) = &before
                && at <= *previous
            {
                document.error(
                    at_span,
                    &element.key("effective_from"),
                    format!(
                        "`{}` is not after the effective_from of the terms before it (`{previous_label}`: {}): list terms oldest first, each applying from a later moment",
                        show(at),
                        show(*previous)
                    ),
                );
                return None;
            }
            before = Some((at, label));
            Some(at)
        });
        let text = match (entry.file, entry.text) {
            (Some(_), Some(_)) => {
                document.error(
                    span,
                    &element,
                    "both `file` and `text` are set: keep exactly one, the file the terms are read from or the text itself",
                );
                None
            }
            (None, None) => {
                if !document.was_reported(&element.key("file"))
                    && !document.was_reported(&element.key("text"))
                {
                    document.error(
                        span,
                        &element,
                        "no text: set exactly one of file = \"terms/2026-01.md\" (read when the configuration is loaded) or text = \"...\"",
                    );
                }
                None
            }
            (Some(file), None) => {
                let resolved = dir.join(file.get_ref());
                match read_terms(file.get_ref(), &resolved) {
                    Ok(text) => Some(text),
                    Err(message) => {
                        document.error(file.span(), &element.key("file"), message);
                        None
                    }
                }
            }
            (None, Some(text)) => {
                if text.get_ref().trim().is_empty() {
                    document.error(
                        text.span(),
                        &element.key("text"),
                        "`text` is empty: write the terms, or read them from a file with file = \"terms/2026-01.md\"",
                    );
                    None
                } else {
                    Some(text.into_inner())
                }
            }
        };
        match (version, effective_from, text) {
            (Some(version), Some(effective_from), Some(text)) => terms.push(Terms {
                version,
                effective_from,
                text,
            }),
            _ => complete = false,
        }
    }
    complete.then_some(terms)
}

/// The text of a terms file: UTF-8, not blank.
fn read_terms(path: &Path, resolved: &Path) -> Result<String, String> {
    let file = secrets::describe(path, resolved);
    let bytes = std::fs::read(resolved).map_err(|e| {
        format!(
            "cannot read {file}: {e}: create it or correct the path; relative paths start at the configuration file's directory"
        )
    })?;
    let text = String::from_utf8(bytes)
        .map_err(|_| format!("{file} is not UTF-8 text: save it as UTF-8"))?;
    if text.trim().is_empty() {
        return Err(format!("{file} is empty: write the terms into it"));
    }
    Ok(text)
}

/// A timestamp as the configuration writes it, e.g. `2026-01-01T00:00:00Z`.
fn show(at: TimestampMs) -> String {
    jiff::Timestamp::from_millisecond(at).map_or_else(|_| format!("{at} ms"), |t| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_labels_joined_by_dots() {
        for good in ["mailbox.example", "mail-1.example.co.uk"] {
            assert!(domain_ok(good), "{good}");
        }
        for bad in [
            "localhost",
            "@mailbox.example",
            "mailbox..example",
            "https://x.example",
            "",
        ] {
            assert!(!domain_ok(bad), "{bad}");
        }
    }

    #[test]
    fn unknown_references_suggest_the_close_name() {
        let tiers = ["silver".to_owned(), "gold".to_owned()];
        assert!(unknown_tier("silvr", &tiers).contains("did you mean `silver`?"));
        assert!(unknown_tier("diamond", &tiers).contains("add it there"));
        assert!(unknown_tier("gold", &[]).contains("no tiers are defined"));
        let connectors = ["shopify".to_owned()];
        assert!(unknown_connector("shopfy", &connectors).contains("did you mean `shopify`?"));
        assert!(unknown_connector("erp", &[]).contains("there is no [connectors.erp]"));
    }
}
