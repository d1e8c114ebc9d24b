//! The configuration's messages, through the real `loyaltyd` binary: each
//! `tests/ui/invalid/NAME.toml` must make `loyaltyd validate` fail and print
//! exactly `NAME.err`; each `tests/ui/valid/*.toml` must pass.
//!
//! `BLESS=1 cargo test --release -p loyalty-e2e --test config_ui` rewrites
//! the `.err` files from the actual output. Read them before committing: the
//! messages are the product.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use loyalty_e2e::{loyaltyd_binary, official_plugin, repo_root, test_component};
use loyaltyd::config::Config;
use loyaltyd::config::TokenScope;
use loyaltyd::core::event::Money;
use loyaltyd::core::identity::{IdentityRules, MatchKey};
use loyaltyd::core::program::{
    EarningRules, Eligibility, EngagementKind, EngagementLimit, Enrollment, Expiry, Fulfilment,
    Membership, MultiplierTarget, Period, PeriodCap, RewardKind, Rounding,
};
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};

/// Environment variables the fixtures read their secrets from.
const FIXTURE_ENV: &[(&str, &str)] = &[
    ("LOYALTY_UI_SHOPIFY_WEBHOOK", "ui-shopify-webhook-secret"),
    ("LOYALTY_UI_SHOPIFY_TOKEN", "ui-shopify-admin-token"),
    ("LOYALTY_UI_HUBSPOT_TOKEN", "ui-hubspot-token"),
];

/// The variable the fixtures name when they need one that is not set.
const UNSET_VAR: &str = "LOYALTY_UI_UNSET";

/// Runs `loyaltyd ARGS` from the repository root, so that the paths it
/// prints are the fixtures' paths relative to the root.
fn loyaltyd(args: &[&str]) -> Output {
    let mut command = Command::new(loyaltyd_binary());
    command
        .current_dir(repo_root())
        .args(args)
        .env_remove(UNSET_VAR);
    for (name, value) in FIXTURE_ENV {
        command.env(name, value);
    }
    command.output().expect("running loyaltyd")
}

/// The `.toml` files of a fixture directory, relative to the repository
/// root, sorted.
fn fixtures(dir: &str) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(repo_root().join(dir))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".toml"))
        .map(|name| format!("{dir}/{name}"))
        .collect();
    files.sort();
    files
}

/// Git keeps only the executable bit, so the fixtures' secret files get
/// their modes here: the valid ones private, the invalid ones readable by
/// everyone.
fn set_secret_file_modes() {
    #[cfg(unix)]
    for (dir, mode) in [
        ("tests/ui/valid/secrets", 0o600),
        ("tests/ui/invalid/secrets", 0o644),
    ] {
        use std::os::unix::fs::PermissionsExt;
        for entry in std::fs::read_dir(repo_root().join(dir)).unwrap() {
            let permissions = std::fs::Permissions::from_mode(mode);
            std::fs::set_permissions(entry.unwrap().path(), permissions).unwrap();
        }
    }
}

fn blessing() -> bool {
    std::env::var_os("BLESS").is_some_and(|v| !v.is_empty() && v != "0")
}

#[test]
fn invalid_configs_fail_with_exactly_their_snapshot() {
    set_secret_file_modes();
    let configs = fixtures("tests/ui/invalid");
    assert!(configs.len() >= 8, "fixtures went missing: {configs:?}");
    let mut failures = Vec::new();
    for config in &configs {
        let output = loyaltyd(&["validate", "--config", config]);
        let stderr = String::from_utf8(output.stderr).unwrap();
        if output.status.code() != Some(1) {
            failures.push(format!(
                "{config}: exit status {}, expected 1",
                output.status
            ));
        }
        if !output.stdout.is_empty() {
            let stdout = String::from_utf8_lossy(&output.stdout);
            failures.push(format!("{config}: printed to stdout:\n{stdout}"));
        }
        for (_, value) in FIXTURE_ENV {
            if stderr.contains(value) {
                failures.push(format!("{config}: a secret value was printed:\n{stderr}"));
            }
        }
        let snapshot = repo_root().join(Path::new(config).with_extension("err"));
        if blessing() {
            std::fs::write(&snapshot, &stderr).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&snapshot).unwrap_or_default();
        if stderr != expected {
            failures.push(format!(
                "{config}: stderr differs from {}\n--- expected\n{expected}--- actual\n{stderr}",
                snapshot.display()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{}\n\nIf the new output is right, rerun with BLESS=1 and read the .err files.",
        failures.join("\n\n")
    );
}

#[test]
fn every_snapshot_has_its_config() {
    let dir = repo_root().join("tests/ui/invalid");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "err") {
            assert!(
                path.with_extension("toml").is_file(),
                "{} has no .toml beside it",
                path.display()
            );
        }
    }
}

#[test]
fn valid_configs_pass() {
    set_secret_file_modes();
    let configs = fixtures("tests/ui/valid");
    assert!(!configs.is_empty());
    for config in &configs {
        let output = loyaltyd(&["validate", "--config", config]);
        let stdout = String::from_utf8(output.stdout).unwrap();
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(output.status.success(), "{config}:\n{stderr}");
        assert!(stderr.is_empty(), "{config}:\n{stderr}");
        assert!(stdout.starts_with(&format!("{config}: ok (")), "{stdout}");
    }
    let output = loyaltyd(&["validate", "--config", "tests/ui/valid/full.toml"]);
    let version = load_fixture("tests/ui/valid/full.toml").program.version;
    let stdout = String::from_utf8(output.stdout).unwrap();
    let mut lines = stdout.lines();
    assert_eq!(
        lines.next(),
        Some(
            format!("tests/ui/valid/full.toml: ok (4 connectors, program version {version})")
                .as_str()
        )
    );
    // The fixtures' components are empty files: said, not hidden.
    let unchecked: Vec<_> = lines.collect();
    assert_eq!(unchecked.len(), 4, "{stdout}");
    for line in unchecked {
        assert!(line.starts_with("connector "), "{line}");
        assert!(line.contains(": capabilities not checked: "), "{line}");
    }
}

/// The environment the fixtures' secrets are read from, as a lookup.
fn fixture_env(name: &str) -> Option<OsString> {
    FIXTURE_ENV
        .iter()
        .find(|(var, _)| *var == name)
        .map(|(_, value)| OsString::from(value))
}

/// Loads a fixture in this process, with [`FIXTURE_ENV`] as its
/// environment.
fn load_fixture(config: &str) -> Config {
    set_secret_file_modes();
    loyaltyd::config::load_with_env(&repo_root().join(config), &fixture_env)
        .unwrap_or_else(|errors| panic!("{config}:\n{errors}"))
}

#[test]
fn full_config_resolves_every_program_rule() {
    let config = load_fixture("tests/ui/valid/full.toml");
    let tokens: Vec<(&str, TokenScope)> = config
        .server
        .tokens
        .iter()
        .map(|t| (t.name.as_str(), t.scope))
        .collect();
    assert_eq!(
        tokens,
        [
            ("bi-dashboard", TokenScope::Analyst),
            ("erp", TokenScope::Integration)
        ]
    );
    let program = &config.program;
    assert_eq!(program.currency, "EUR");
    assert_eq!(program.points_per_unit, Decimal::new(15, 1));
    assert_eq!(program.rounding, Rounding::HalfEven);
    assert_eq!(program.exchange_rates["CHF"], Decimal::ONE);
    // 2026-01-01T09:00:00+01:00
    assert_eq!(program.effective_from, Some(1_767_254_400_000));
    assert_eq!(
        program.membership,
        Membership {
            enrollment: Enrollment::Contract,
            allow_negative_balance: false,
            eligibility: Eligibility {
                min_spend: Some(Decimal::from(5000)),
                window_days: 180,
                countries: vec!["DE".to_owned(), "AT".to_owned()],
                industries: vec!["Manufacturing".to_owned(), "Logistics".to_owned()],
                min_employees: Some(20),
                loyal: false,
            },
        }
    );

    let earning = &program.earning;
    assert_eq!(earning.min_order, Some(Decimal::from(250)));
    assert_eq!(earning.order_cap, Some(20_000));
    assert_eq!(
        earning.period_cap,
        Some(PeriodCap {
            points: 120_000,
            period: Period::Year
        })
    );
    let multipliers: Vec<_> = earning
        .multipliers
        .iter()
        .map(|m| (m.target.clone(), m.factor.to_string()))
        .collect();
    assert_eq!(
        multipliers,
        [
            (
                MultiplierTarget::Sku("VALVE-200".to_owned()),
                "3".to_owned()
            ),
            (
                MultiplierTarget::Category("spare-parts".to_owned()),
                "2".to_owned()
            ),
            (
                MultiplierTarget::Tag("distributor".to_owned()),
                "1.25".to_owned()
            ),
        ]
    );

    let milestones: Vec<_> = program
        .milestones
        .iter()
        .map(|m| (m.id.as_str(), m.window_days, m.points))
        .collect();
    assert_eq!(
        milestones,
        [("spend-50k", 365, 5000), ("spend-250k", 730, 30_000)]
    );

    assert_eq!(program.engagement.len(), 6);
    assert_eq!(program.engagement[0].kind, EngagementKind::NpsResponse);
    assert_eq!(
        program.engagement[0].limit,
        Some(EngagementLimit {
            count: 1,
            period: Period::Quarter
        })
    );
    assert_eq!(program.engagement[2].limit, None);

    let tiers = &program.tiers;
    assert_eq!((tiers.window_days, tiers.grace_days), (180, 30));
    let levels: Vec<_> = tiers
        .tiers
        .iter()
        .map(|t| (t.id.as_str(), t.min_spend.to_string()))
        .collect();
    assert_eq!(
        levels,
        [
            ("silver", "0".to_owned()),
            ("gold", "10000".to_owned()),
            ("platinum", "50000".to_owned())
        ]
    );
    let silver = program.tier("silver").unwrap();
    assert_eq!(
        (silver.discount_percent, silver.earn_multiplier),
        (Decimal::ZERO, Decimal::ONE)
    );
    assert!(silver.perks.is_empty());
    let gold = program.tier("gold").unwrap();
    assert_eq!(
        (gold.discount_percent, gold.earn_multiplier),
        (Decimal::new(25, 1), Decimal::new(125, 2))
    );
    assert_eq!(gold.perks, ["Free shipping"]);

    let gift_card = program.reward("gift-card-100").unwrap();
    assert_eq!(gift_card.kind, RewardKind::GiftCard);
    assert_eq!(gift_card.points, 10_000);
    assert_eq!(
        gift_card.value,
        Some(Money {
            amount: Decimal::from(100),
            currency: "EUR".to_owned()
        })
    );
    assert_eq!(gift_card.stock, Some(50));
    assert_eq!(gift_card.tiers, ["gold", "platinum"]);
    assert_eq!(
        gift_card.fulfilment,
        Fulfilment::Connector("shopify".to_owned())
    );
    assert_eq!(gift_card.description, "A digital gift card.");
    let training = program.reward("training-day").unwrap();
    assert_eq!(training.fulfilment, Fulfilment::Manual);
    assert_eq!(
        (
            training.value.as_ref(),
            training.stock,
            training.tiers.len()
        ),
        (None, None, 0)
    );
    assert_eq!(training.description, "");

    assert_eq!(program.expiry, Some(Expiry { after_days: 730 }));

    let terms: Vec<_> = program
        .terms
        .iter()
        .map(|t| (t.version.as_str(), t.effective_from, t.text.as_str()))
        .collect();
    assert_eq!(
        terms,
        [
            (
                "2026-01",
                1_767_225_600_000,
                "# Terms, January 2026\n\nPoints are earned on paid orders.\n"
            ),
            (
                "2026-07",
                1_782_864_000_000,
                "Points are earned on paid orders and on referrals."
            ),
        ]
    );
    assert_eq!(
        program.terms_at(1_780_000_000_000).unwrap().version,
        "2026-01"
    );

    assert_eq!(
        config.identity,
        IdentityRules {
            match_on: vec![MatchKey::TaxId, MatchKey::ExternalRef],
            free_mail_domains: BTreeSet::from(["mailbox.example".to_owned()]),
        }
    );
}

#[test]
fn program_version_changes_with_a_rule_and_not_with_comments_or_layout() {
    set_secret_file_modes();
    let full = repo_root().join("tests/ui/valid/full.toml");
    let text = std::fs::read_to_string(&full).unwrap();
    let version = load_fixture("tests/ui/valid/full.toml").program.version;
    // Copies sit beside the original, so its relative paths still resolve.
    let variant = |name: &str, text: &str| {
        let path = repo_root().join(format!("tests/ui/valid/{name}.toml.tmp"));
        std::fs::write(&path, text).unwrap();
        let loaded = loyaltyd::config::load_with_env(&path, &fixture_env);
        std::fs::remove_file(&path).unwrap();
        loaded.unwrap().program.version
    };
    let relaid = text
        .replace("\n[", "\n# a comment\n\n[")
        .replace(" = ", "   =   ")
        .replace("order_cap = 20000", "order_cap = 20_000");
    assert_eq!(variant("relaid", &relaid), version);
    let changed = text.replace("after_days = 730", "after_days = 731");
    assert_ne!(variant("changed", &changed), version);
}

#[test]
fn the_b2b_example_validates_and_uses_every_feature() {
    // The example points at the official Shopify connector where the
    // harness builds it.
    let shopify = official_plugin("shopify");
    let example = repo_root().join("examples/b2b-program.toml");
    let env = |name: &str| match name {
        "SHOPIFY_WEBHOOK_SECRET" => Some(OsString::from("example-webhook-secret")),
        "SHOPIFY_ADMIN_TOKEN" => Some(OsString::from("example-admin-token")),
        _ => None,
    };
    let config =
        loyaltyd::config::load_with_env(&example, &env).unwrap_or_else(|errors| panic!("{errors}"));
    assert_eq!(
        config.connectors["shopify"].plugin.canonicalize().unwrap(),
        shopify.canonicalize().unwrap()
    );

    let program = &config.program;
    assert_eq!(program.currency, "EUR");
    assert!(program.exchange_rates.contains_key("USD"));
    assert!(program.effective_from.is_some());
    let earning = &program.earning;
    assert!(earning.min_order.is_some() && earning.order_cap.is_some());
    assert_eq!(earning.period_cap.map(|c| c.period), Some(Period::Year));
    let targets: Vec<_> = earning
        .multipliers
        .iter()
        .map(|m| match m.target {
            MultiplierTarget::Sku(_) => "sku",
            MultiplierTarget::Category(_) => "category",
            MultiplierTarget::Tag(_) => "tag",
        })
        .collect();
    assert_eq!(targets, ["sku", "category", "tag"]);
    assert_eq!(program.milestones.len(), 2);
    let engagement: Vec<_> = program.engagement.iter().map(|e| e.kind).collect();
    assert_eq!(
        engagement,
        [
            EngagementKind::NpsResponse,
            EngagementKind::SurveyAnswered,
            EngagementKind::EventAttended,
            EngagementKind::Referral
        ]
    );
    assert!(program.engagement.iter().all(|e| e.limit.is_some()));
    let tiers: Vec<_> = program.tiers.tiers.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(tiers, ["silver", "gold", "platinum"]);
    assert_eq!(program.tiers.grace_days, 90);
    let kinds: Vec<_> = program.rewards.iter().map(|r| r.kind).collect();
    assert_eq!(
        kinds,
        [
            RewardKind::Discount,
            RewardKind::GiftCard,
            RewardKind::ExclusiveProduct,
            RewardKind::Service,
            RewardKind::VipEvent
        ]
    );
    let through_shopify = program
        .rewards
        .iter()
        .filter(|r| r.fulfilment == Fulfilment::Connector("shopify".to_owned()))
        .count();
    assert_eq!(through_shopify, 1);
    assert_eq!(program.expiry, Some(Expiry { after_days: 730 }));
    assert_eq!(program.terms.len(), 2);
    assert!(program.terms.iter().all(|t| t.text.starts_with("# ")));
    assert_eq!(
        config.identity.free_mail_domains,
        BTreeSet::from(["werkstatt-mail.example".to_owned()])
    );
    let commissions: Vec<_> = program
        .referrals
        .commissions
        .iter()
        .map(|c| c.id.as_str())
        .collect();
    assert_eq!(
        commissions,
        ["welcome", "first-year-share", "three-a-quarter"]
    );
    assert_eq!(program.scoring.margin_rate, Some(Decimal::new(33, 2)));
    let segments: Vec<_> = config.segments.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(segments, ["gold-dach-buyers", "lapsing"]);
    assert_eq!(config.campaigns.len(), 1);
    assert_eq!(config.campaigns[0].channel, "shopify");

    // And as an operator runs it.
    let output = Command::new(loyaltyd_binary())
        .current_dir(repo_root())
        .args(["validate", "--config", "examples/b2b-program.toml"])
        .env("SHOPIFY_WEBHOOK_SECRET", "example-webhook-secret")
        .env("SHOPIFY_ADMIN_TOKEN", "example-admin-token")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        format!(
            "examples/b2b-program.toml: ok (1 connector, program version {})\n",
            program.version
        ),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn a_config_that_does_not_exist_is_one_problem() {
    let output = loyaltyd(&["validate", "--config", "tests/ui/nowhere.toml"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(output.stderr).unwrap(),
        "tests/ui/nowhere.toml: cannot read the configuration file: No such file or directory (os error 2)\n"
    );
}

#[test]
fn minimal_config_loads_with_defaults_and_paths_resolved_against_its_directory() {
    let path = repo_root().join("tests/ui/valid/minimal.toml");
    let config = loyaltyd::config::load(&path).unwrap();
    assert_eq!(config.server.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(config.server.inbox_batch_max, 64);
    assert!(config.server.admin_token_sha256.is_empty());
    assert_eq!(
        config.store,
        loyaltyd::config::StoreConfig::Sqlite {
            path: repo_root().join("tests/ui/valid/loyalty.db")
        }
    );
    assert_eq!(config.runtime.cache_dir, None);
    assert_eq!(config.program.currency, "CHF");
    assert_eq!(config.program.points_per_unit, 2.into());
    assert_eq!(config.program.rounding, Rounding::Floor);
    assert_eq!(config.program.effective_from, None);
    assert_eq!(config.program.membership, Membership::default());
    assert_eq!(config.program.earning, EarningRules::default());
    assert_eq!(
        (
            config.program.tiers.window_days,
            config.program.tiers.grace_days
        ),
        (365, 90)
    );
    assert!(config.program.tiers.tiers.is_empty());
    assert!(config.program.rewards.is_empty());
    assert_eq!(config.program.expiry, None);
    assert!(config.program.terms.is_empty());
    assert_eq!(config.identity, IdentityRules::default());
    assert!(config.connectors.is_empty());
}

/// A scratch directory for one test, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("loyalty-config-ui-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn plugins_list_shows_each_connectors_file_digest_and_contract() {
    let echo = test_component("echo");
    let scratch = Scratch::new("plugins-list");
    let config = scratch.0.join("loyalty.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[server]
public_base_url = "https://loyalty.example.com"

[store]
type = "sqlite"
path = "loyalty.db"

[program]
currency = "EUR"
points_per_unit = "1"
rounding = "floor"

[connectors.echo]
plugin = {echo:?}
allowed_hosts = ["http://127.0.0.1:9"]
secrets.webhook = {{ env = "LOYALTY_UI_SHOPIFY_WEBHOOK" }}
"#
        ),
    )
    .unwrap();
    let output = loyaltyd(&["plugins", "list", "--config", config.to_str().unwrap()]);
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(output.status.success(), "{stderr}");
    let sha256 = hex_sha256(&std::fs::read(&echo).unwrap());
    let lines: Vec<Vec<&str>> = stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        lines[0],
        ["CONNECTOR", "PLUGIN", "SHA256", "CONTRACT"],
        "{stdout}"
    );
    assert_eq!(
        lines[1],
        [
            "echo",
            echo.to_str().unwrap(),
            sha256.as_str(),
            "loyalty:connector@0.2.0"
        ],
        "{stdout}"
    );
    assert_eq!(lines.len(), 2, "{stdout}");
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
