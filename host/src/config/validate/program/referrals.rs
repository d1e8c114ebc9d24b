//! Checks `[program.referrals]`: the code prefix, the landing page and each
//! commission rule, whose keys depend on its kind.

use toml::Spanned;

use super::{Ids, elements, exact, unique_id};
use crate::config::document::{Document, KeyPath};
use crate::config::schema::{self, CommissionKindName};
use crate::config::validate::required;
use crate::core::commissions::{CommissionKind, CommissionRule, PayIn, ReferralRules};

/// The code prefix when the configuration names none.
const DEFAULT_CODE_PREFIX: &str = "REF";

pub(super) fn referrals(
    document: &mut Document<'_>,
    key: &KeyPath,
    referrals: Option<Spanned<schema::Referrals>>,
) -> Option<ReferralRules> {
    let Some(referrals) = referrals.map(Spanned::into_inner) else {
        return Some(ReferralRules {
            code_prefix: DEFAULT_CODE_PREFIX.to_owned(),
            ..ReferralRules::default()
        });
    };
    let mut complete = true;
    let code_prefix = match referrals.code_prefix {
        None => DEFAULT_CODE_PREFIX.to_owned(),
        Some(prefix) => {
            let (span, prefix) = (prefix.span(), prefix.into_inner());
            if (1..=8).contains(&prefix.len())
                && prefix
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
            {
                prefix
            } else {
                complete = false;
                document.error(
                    span,
                    &key.key("code_prefix"),
                    format!(
                        "`{prefix}` is not a code prefix: use 1 to 8 upper-case letters or digits, e.g. code_prefix = \"RW\""
                    ),
                );
                String::new()
            }
        }
    };
    let mut ids = Ids::new("commission");
    let mut commissions = Vec::new();
    for (element, _, mut rule) in elements(document, &key.key("commissions"), referrals.commissions)
    {
        let id = unique_id(document, &element, &mut ids, rule.id.take(), "signup-flat");
        let kind = commission(document, &element, rule);
        match (id, kind) {
            (Some(id), Some(kind)) => commissions.push(CommissionRule { id, kind }),
            _ => complete = false,
        }
    }
    complete.then(|| ReferralRules {
        code_prefix,
        landing_url: referrals
            .landing_url
            .map(|url| url.into_inner().0.to_string()),
        commissions,
        payouts: referrals.payouts.unwrap_or_default(),
    })
}

/// The keys each kind takes, for messages about the others.
fn keys_of(kind: CommissionKindName) -> (&'static str, &'static str) {
    match kind {
        CommissionKindName::Flat => ("flat", "`amount` and/or `points`"),
        CommissionKindName::RevenueShare => ("revenue_share", "`percent`, `months` and `pay_in`"),
        CommissionKindName::GoalBonus => (
            "goal_bonus",
            "`referrals`, `period`, and `amount` and/or `points`",
        ),
    }
}

fn commission(
    document: &mut Document<'_>,
    element: &KeyPath,
    rule: schema::Commission,
) -> Option<CommissionKind> {
    let kind = required(
        document,
        element,
        "kind",
        rule.kind,
        "choose \"flat\", \"revenue_share\" or \"goal_bonus\", e.g. kind = \"flat\"",
    )?
    .into_inner();
    let (name, takes) = keys_of(kind);
    let foreign = |document: &mut Document<'_>,
                   field: &str,
                   span: Option<std::ops::Range<usize>>| {
        if let Some(span) = span {
            document.error(
                span,
                &element.key(field),
                format!("`{field}` does not apply to a {name} commission, which takes {takes}: remove it"),
            );
            true
        } else {
            false
        }
    };
    match kind {
        CommissionKindName::Flat | CommissionKindName::GoalBonus => {
            let mut stray = false;
            stray |= foreign(document, "percent", rule.percent.map(|p| p.span()));
            stray |= foreign(document, "months", rule.months.map(|m| m.span()));
            stray |= foreign(document, "pay_in", rule.pay_in.map(|p| p.span()));
            let amount = rule.amount.map(|a| exact(a.into_inner().0));
            let points = rule.points.map(|p| p.into_inner().0);
            if amount.is_none() && points.is_none() {
                stray = true;
                let span = document.span_of(element).unwrap_or(0..0);
                document.error(
                    span,
                    element,
                    format!(
                        "a {name} commission pays nothing: set `amount` (money in the program currency) and/or `points`, e.g. amount = \"100.00\""
                    ),
                );
            }
            if kind == CommissionKindName::Flat {
                stray |= foreign(document, "referrals", rule.referrals.map(|r| r.span()));
                stray |= foreign(document, "period", rule.period.map(|p| p.span()));
                return (!stray).then_some(CommissionKind::Flat { amount, points });
            }
            let referrals = required(
                document,
                element,
                "referrals",
                rule.referrals,
                "set the qualified referrals needed in one period, e.g. referrals = 3",
            );
            let period = required(
                document,
                element,
                "period",
                rule.period,
                "choose the period referrals are counted in: \"month\", \"quarter\" or \"year\", e.g. period = \"quarter\"",
            );
            match (referrals, period, stray) {
                (Some(referrals), Some(period), false) => Some(CommissionKind::GoalBonus {
                    referrals: referrals.into_inner().0,
                    period: period.into_inner(),
                    amount,
                    points,
                }),
                _ => None,
            }
        }
        CommissionKindName::RevenueShare => {
            let mut stray = false;
            stray |= foreign(document, "amount", rule.amount.map(|a| a.span()));
            stray |= foreign(document, "points", rule.points.map(|p| p.span()));
            stray |= foreign(document, "referrals", rule.referrals.map(|r| r.span()));
            stray |= foreign(document, "period", rule.period.map(|p| p.span()));
            let percent = required(
                document,
                element,
                "percent",
                rule.percent,
                "set the share of each purchase, in percent, e.g. percent = \"5\"",
            );
            let months = required(
                document,
                element,
                "months",
                rule.months,
                "set how many months after the qualification the share runs, e.g. months = 12",
            );
            let percent = percent.and_then(|p| {
                let (span, value) = (p.span(), exact(p.into_inner().0));
                if value.is_zero() {
                    document.error(
                        span,
                        &element.key("percent"),
                        "a share of 0 % pays nothing: use more than 0, e.g. percent = \"5\"",
                    );
                    None
                } else {
                    Some(value)
                }
            });
            match (percent, months, stray) {
                (Some(percent), Some(months), false) => Some(CommissionKind::RevenueShare {
                    percent,
                    months: months.into_inner().0,
                    pay_in: rule.pay_in.map_or(PayIn::Money, Spanned::into_inner),
                }),
                _ => None,
            }
        }
    }
}
