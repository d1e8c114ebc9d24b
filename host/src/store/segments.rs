//! Segments as the store keeps them: their definitions (from the
//! configuration or the API) and their materialized membership.

use serde::Serialize;

use crate::core::accounts::AccountId;
use crate::core::segments::{Filter, Subject, SyntaxError};

/// Where a segment was defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// `[[segments]]` in the configuration: replaced at each start, not
    /// changed through the API.
    Config,
    /// `POST /api/v1/segments`.
    Api,
}

impl Origin {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Config => "config",
            Self::Api => "api",
        }
    }

    /// Parses a stored name.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Config, Self::Api]
            .into_iter()
            .find(|o| o.as_str() == text)
    }
}

/// A segment's definition, its filters checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SegmentDefinition {
    /// Stable id, `[a-z0-9][a-z0-9_-]*`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// What it is for.
    pub description: Option<String>,
    /// Which accounts belong.
    pub filter: Filter,
    /// Which of their contacts a campaign reaches; `None`: every contact.
    pub contacts: Option<Filter>,
    /// Where it was defined.
    pub origin: Origin,
}

/// Why a definition is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DefinitionError {
    /// A bad id.
    #[error(
        "`id` `{0}` is not an id: use lower-case letters, digits, `-` and `_`, starting with a letter or digit"
    )]
    Id(String),
    /// A blank name.
    #[error("`name` must not be empty")]
    Name,
    /// The account filter does not parse.
    #[error("`filter` {0}")]
    Filter(SyntaxError),
    /// The contact filter does not parse.
    #[error("`contacts` {0}")]
    Contacts(SyntaxError),
}

/// Whether `id` is a stable id.
pub fn valid_id(id: &str) -> bool {
    id.chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

impl SegmentDefinition {
    /// Checks and parses a definition.
    pub fn new(
        id: &str,
        name: &str,
        description: Option<String>,
        filter: &str,
        contacts: Option<&str>,
        origin: Origin,
    ) -> Result<Self, DefinitionError> {
        if !valid_id(id) {
            return Err(DefinitionError::Id(id.to_owned()));
        }
        if name.trim().is_empty() {
            return Err(DefinitionError::Name);
        }
        let filter = Filter::parse(filter, Subject::Account).map_err(DefinitionError::Filter)?;
        let contacts = contacts
            .map(|text| Filter::parse(text, Subject::Contact))
            .transpose()
            .map_err(DefinitionError::Contacts)?;
        Ok(Self {
            id: id.to_owned(),
            name: name.to_owned(),
            description,
            filter,
            contacts,
            origin,
        })
    }
}

/// A segment with its materialized size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SegmentView {
    /// The definition.
    #[serde(flatten)]
    pub definition: SegmentDefinition,
    /// Members at the last refresh.
    pub size: u64,
    /// When membership was last refreshed.
    pub refreshed_at: Option<i64>,
}

/// One member of a segment, with the contacts a campaign reaches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Member {
    /// The account.
    pub account_id: AccountId,
    /// Its name.
    pub name: String,
    /// Since when it is a member.
    pub since: i64,
    /// Its contacts matching the segment's contact filter (every contact
    /// without one).
    pub contacts: Vec<i64>,
}

/// What a refresh changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RefreshReport {
    /// When it ran.
    pub at: i64,
    /// Segments refreshed.
    pub segments: usize,
    /// Memberships that began.
    pub joined: usize,
    /// Memberships that ended.
    pub left: usize,
}

/// What saving an API segment did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaveOutcome {
    /// Created.
    Created(SegmentView),
    /// Replaced an API segment of the same id.
    Updated(SegmentView),
    /// The id belongs to a configuration segment.
    ConfigOwned,
}
