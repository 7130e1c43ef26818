//! Rule packs: the TOML format, the packs compiled into the binary, and
//! loading a directory of packs.
//!
//! This module only turns files into plain data ([`PackSpec`]) and reports
//! syntax errors with file and line. Checking that rules make sense
//! (regexes compile, bounds hold, examples pass) is [`crate::matcher`]'s job,
//! so that every error across every pack is reported in one go.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// The packs shipped inside the binary, as (file name, TOML text).
pub const BUILTIN: &[(&str, &str)] = &[
    ("payment.toml", include_str!("../patterns/payment.toml")),
    ("banking.toml", include_str!("../patterns/banking.toml")),
    ("identity.toml", include_str!("../patterns/identity.toml")),
    ("contact.toml", include_str!("../patterns/contact.toml")),
    ("secrets.toml", include_str!("../patterns/secrets.toml")),
];

/// One error found in a pack, with where it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackError {
    /// File name (a builtin pack's name, or the path it was read from).
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// Rule id, when the error belongs to one rule.
    pub rule: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for PackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(rule) = &self.rule {
            write!(f, ": rule {rule:?}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// A list of pack errors; start-up and `scrim check` print all of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackErrors(pub Vec<PackError>);

impl fmt::Display for PackErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PackErrors {}

/// A pack as read from TOML, before compilation.
#[derive(Debug, Clone)]
pub struct PackSpec {
    /// Where it came from (for error messages).
    pub file: String,
    /// The pack's name (`[pack] name`).
    pub name: String,
    /// Text rules, in priority order.
    pub rules: Vec<Located<RuleSpec>>,
    /// JSON field rules.
    pub fields: Vec<Located<FieldSpec>>,
    /// The TOML source, hashed into the pack digest.
    pub source: String,
}

/// A value with the 1-based line it started on.
#[derive(Debug, Clone)]
pub struct Located<T> {
    /// 1-based line of the table in its file.
    pub line: usize,
    /// The value.
    pub value: T,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPack {
    pack: PackHeader,
    #[serde(default)]
    rule: Vec<toml::Spanned<RuleSpec>>,
    #[serde(default)]
    field: Vec<toml::Spanned<FieldSpec>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PackHeader {
    name: String,
    #[serde(default)]
    #[allow(dead_code)]
    description: String,
}

/// A text rule as written in a pack.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Unique id, e.g. `card.pan`; metrics and audit records carry it.
    pub id: String,
    /// Category, e.g. `card`, `iban`, `balance`.
    pub category: String,
    /// Human description.
    #[serde(default)]
    pub description: String,
    /// Bounded regex (ASCII semantics; no unbounded `*`/`+`). A capture group
    /// named `value` limits masking to that part of the match.
    pub pattern: String,
    /// What a match must contain, so the gate can find candidates.
    pub trigger: TriggerSpec,
    /// Checksum or structure test applied to each candidate.
    #[serde(default)]
    pub validate: Option<String>,
    /// Words that must (or must not) be near the candidate.
    #[serde(default)]
    pub context: Option<ContextSpec>,
    /// How the value is masked.
    pub action: ActionSpec,
    /// For JSON: what a bare number that was masked becomes.
    #[serde(default)]
    pub json_number: Option<String>,
    /// Examples, run by tests, `scrim check` and the start-up self-test.
    #[serde(default)]
    pub examples: ExamplesSpec,
}

/// The gate's view of a rule: every match contains a trigger within `back`
/// bytes of its start.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TriggerSpec {
    /// ASCII digits trigger the rule.
    #[serde(default)]
    pub digits: bool,
    /// These bytes trigger the rule (ASCII only).
    #[serde(default)]
    pub bytes: String,
    /// These words (ASCII case-insensitive) trigger the rule; the match must
    /// start at most `back` bytes before one of them (at the word itself
    /// with the default `back = 0`).
    #[serde(default)]
    pub words: Vec<String>,
    /// Most bytes between a match's start and its first trigger.
    #[serde(default)]
    pub back: usize,
}

/// Context words near a candidate.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ContextSpec {
    /// At least one of these must occur nearby (case-insensitive for ASCII).
    #[serde(default)]
    pub words: Vec<String>,
    /// None of these may occur in the bytes just before the candidate.
    #[serde(default)]
    pub deny: Vec<String>,
    /// Words that name the value without being required: one nearer the
    /// value than every deny word overrides them. `words` count too.
    #[serde(default)]
    pub labels: Vec<String>,
    /// How many bytes before the candidate are searched.
    #[serde(default = "default_before")]
    pub before: usize,
    /// How many bytes after the candidate are searched.
    #[serde(default)]
    pub after: usize,
}

fn default_before() -> usize {
    40
}

/// How a value is masked.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionSpec {
    /// `mask`, `label` or `token`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `mask`: letters and digits kept at the end.
    #[serde(default)]
    pub keep_last: usize,
    /// `label`: the replacement text, e.g. `[BALANCE]`.
    #[serde(default)]
    pub label: Option<String>,
}

/// Examples attached to a rule or field rule.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ExamplesSpec {
    /// Texts in which this rule must redact something.
    #[serde(default, rename = "match")]
    pub must_match: Vec<String>,
    /// Texts in which this rule must redact nothing.
    #[serde(default)]
    pub no_match: Vec<String>,
    /// Exact input → output pairs (text format, all packs loaded).
    #[serde(default)]
    pub redact: Vec<[String; 2]>,
}

/// A JSON field rule: values under these keys are masked whatever they hold.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    /// Unique id.
    pub id: String,
    /// Category.
    pub category: String,
    /// Keys, compared after lowercasing ASCII and dropping `_`, `-`, `.` and spaces.
    pub keys: Vec<String>,
    /// Key endings: a key whose last words, from a word boundary (after a
    /// non-alphanumeric byte, or at a camelCase step), or the whole key,
    /// normalise to one of these matches too (`customer_ssn`, `cardCvv` for
    /// `ssn`, `cvv`). A Salesforce `__c` / `__pc` ending is left out first.
    #[serde(default)]
    pub suffixes: Vec<String>,
    /// How the value is masked.
    pub action: ActionSpec,
    /// What a masked bare number becomes: `string` (default) or `null`.
    #[serde(default)]
    pub json_number: Option<String>,
    /// A string or number value with fewer ASCII digits than this is not
    /// the field's value (`{"pan":"left"}`, `{"tel":"n/a"}`): it gets the
    /// text rules instead. 0 (the default): every value is masked.
    #[serde(default)]
    pub min_digits: usize,
    /// Exact JSON input → output pairs.
    #[serde(default)]
    pub examples: ExamplesSpec,
}

fn line_of(src: &str, offset: usize) -> usize {
    src.as_bytes()[..offset.min(src.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Parses one pack's TOML text; `file` names it in errors.
pub fn parse(file: &str, source: &str) -> Result<PackSpec, PackError> {
    let raw: RawPack = toml::from_str(source).map_err(|e| PackError {
        file: file.to_string(),
        line: e.span().map(|s| line_of(source, s.start)),
        rule: None,
        message: e.message().to_string(),
    })?;
    let locate = |span: std::ops::Range<usize>| line_of(source, span.start);
    Ok(PackSpec {
        file: file.to_string(),
        name: raw.pack.name,
        rules: raw
            .rule
            .into_iter()
            .map(|s| Located {
                line: locate(s.span()),
                value: s.into_inner(),
            })
            .collect(),
        fields: raw
            .field
            .into_iter()
            .map(|s| Located {
                line: locate(s.span()),
                value: s.into_inner(),
            })
            .collect(),
        source: source.to_string(),
    })
}

/// The packs compiled into the binary.
pub fn builtin() -> Result<Vec<PackSpec>, PackErrors> {
    collect(
        BUILTIN
            .iter()
            .map(|(f, s)| parse(&format!("builtin:{f}"), s)),
    )
}

/// Loads every `*.toml` file of `dir`, in file-name order.
pub fn load_dir(dir: &Path) -> Result<Vec<PackSpec>, PackErrors> {
    let io_err = |p: &Path, e: std::io::Error| {
        PackErrors(vec![PackError {
            file: p.display().to_string(),
            line: None,
            rule: None,
            message: format!("cannot read: {e}"),
        }])
    };
    let mut files: BTreeMap<PathBuf, ()> = BTreeMap::new();
    for entry in std::fs::read_dir(dir).map_err(|e| io_err(dir, e))? {
        let path = entry.map_err(|e| io_err(dir, e))?.path();
        if path.extension().is_some_and(|x| x == "toml") {
            files.insert(path, ());
        }
    }
    if files.is_empty() {
        return Err(PackErrors(vec![PackError {
            file: dir.display().to_string(),
            line: None,
            rule: None,
            message: "no *.toml rule packs in this directory".into(),
        }]));
    }
    let mut results = Vec::new();
    for path in files.into_keys() {
        let name = path.display().to_string();
        match std::fs::read_to_string(&path) {
            Ok(src) => results.push(parse(&name, &src)),
            Err(e) => results.push(Err(PackError {
                file: name,
                line: None,
                rule: None,
                message: format!("cannot read: {e}"),
            })),
        }
    }
    collect(results)
}

fn collect(
    results: impl IntoIterator<Item = Result<PackSpec, PackError>>,
) -> Result<Vec<PackSpec>, PackErrors> {
    let mut ok = Vec::new();
    let mut errs = Vec::new();
    for r in results {
        match r {
            Ok(p) => ok.push(p),
            Err(e) => errs.push(e),
        }
    }
    if errs.is_empty() {
        Ok(ok)
    } else {
        Err(PackErrors(errs))
    }
}
