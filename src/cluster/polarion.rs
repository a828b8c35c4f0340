//! The `[polarion]` table of `vstp.toml`: the test-run properties Polarion's XUnit importer
//! reads from the JUnit (project, test run, author, status, the run's custom fields, the
//! message-bus response selector). The environment names are the ones the CNV QE jobs already
//! export for the downstream suite (`POLARION_TESTRUN_ID`, `POLARION_CUSTOM_PLANNEDIN`,
//! `POLARION_TIER`, `POLARION_OS`), so one job feeds both.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Table {
    project_id: Option<String>,
    testrun_id: Option<String>,
    user_id: Option<String>,
    testrun_status_id: Option<String>,
    is_automated: Option<bool>,
    planned_in: Option<String>,
    env_tier: Option<String>,
    env_os: Option<String>,
    #[serde(default)]
    response: BTreeMap<String, String>,
}

/// The run-level properties of a Polarion import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolarionRun {
    pub project_id: String,
    /// Without one the importer makes a new test run.
    pub testrun_id: Option<String>,
    pub user_id: Option<String>,
    pub testrun_status_id: String,
    pub is_automated: bool,
    pub planned_in: Option<String>,
    pub env_tier: Option<String>,
    pub env_os: Option<String>,
    /// `polarion-response-<name>`: the selector of the importer's message-bus reply.
    pub responses: Vec<(String, String)>,
}

impl Default for PolarionRun {
    /// The project CNV, an automated run in progress: what the downstream suite writes.
    fn default() -> PolarionRun {
        PolarionRun {
            project_id: "CNV".into(),
            testrun_id: None,
            user_id: None,
            testrun_status_id: "inprogress".into(),
            is_automated: true,
            planned_in: None,
            env_tier: None,
            env_os: None,
            responses: Vec::new(),
        }
    }
}

impl PolarionRun {
    /// `(name, value)` in the importer's vocabulary; unset ones are left out rather than written
    /// empty.
    pub fn properties(&self) -> Vec<(String, String)> {
        let automated = if self.is_automated { "True" } else { "False" };
        let named = [
            ("polarion-project-id", Some(self.project_id.clone())),
            ("polarion-testrun-id", self.testrun_id.clone()),
            ("polarion-user-id", self.user_id.clone()),
            (
                "polarion-testrun-status-id",
                Some(self.testrun_status_id.clone()),
            ),
            ("polarion-custom-isautomated", Some(automated.to_string())),
            ("polarion-custom-plannedin", self.planned_in.clone()),
            ("polarion-custom-env_tier", self.env_tier.clone()),
            ("polarion-custom-env_os", self.env_os.clone()),
        ];
        let responses = self
            .responses
            .iter()
            .map(|(name, value)| (format!("polarion-response-{name}"), value.clone()));
        named
            .into_iter()
            .filter_map(|(name, value)| Some((name.to_string(), value?)))
            .chain(responses)
            .collect()
    }
}

/// The environment variable a table key may come from, as the CNV QE jobs name it.
const FROM_ENV: &[(&str, &str)] = &[
    ("project_id", "VSTP_POLARION_PROJECT"),
    ("testrun_id", "POLARION_TESTRUN_ID"),
    ("planned_in", "POLARION_CUSTOM_PLANNEDIN"),
    ("env_tier", "POLARION_TIER"),
    ("env_os", "POLARION_OS"),
];

/// Whether `key` is an environment variable this table reads.
pub(super) fn reads_env(key: &str) -> bool {
    FROM_ENV.iter().any(|(_, var)| *var == key)
}

impl Table {
    /// `value` of the environment variable `key`; an empty one (an unset job parameter) is
    /// ignored.
    pub(super) fn override_with(&mut self, key: &str, value: &str) {
        if value.is_empty() {
            return;
        }
        let v = Some(value.to_string());
        match key {
            "VSTP_POLARION_PROJECT" => self.project_id = v,
            "POLARION_TESTRUN_ID" => self.testrun_id = v,
            "POLARION_CUSTOM_PLANNEDIN" => self.planned_in = v,
            "POLARION_TIER" => self.env_tier = v,
            "POLARION_OS" => self.env_os = v,
            _ => {}
        }
    }

    /// The properties, with `legacy_project` (the top-level `polarion_project`) as the
    /// project when the table names none.
    pub(super) fn build(self, legacy_project: Option<String>) -> Result<PolarionRun, String> {
        let defaults = PolarionRun::default();
        let project_id = match (self.project_id, legacy_project) {
            (Some(new), Some(old)) if new != old => {
                return Err(format!(
                    "polarion_project = {old:?} and polarion.project_id = {new:?}: give the \
                     project once, as [polarion] project_id"
                ))
            }
            (Some(p), _) | (None, Some(p)) => p,
            (None, None) => defaults.project_id,
        };
        let mut responses = Vec::new();
        for (name, value) in self.response {
            let key = format!("polarion.response.{name}");
            check(&key, &name, Shape::Id)?;
            check(&key, &value, Shape::Text)?;
            responses.push((name, value));
        }
        Ok(PolarionRun {
            project_id: checked("project_id", project_id, Shape::Id)?,
            testrun_id: optional("testrun_id", self.testrun_id, Shape::TestRun)?,
            user_id: optional("user_id", self.user_id, Shape::Word)?,
            testrun_status_id: checked(
                "testrun_status_id",
                self.testrun_status_id.unwrap_or(defaults.testrun_status_id),
                Shape::Id,
            )?,
            is_automated: self.is_automated.unwrap_or(defaults.is_automated),
            planned_in: optional("planned_in", self.planned_in, Shape::Id)?,
            env_tier: optional("env_tier", self.env_tier, Shape::Text)?,
            env_os: optional("env_os", self.env_os, Shape::Text)?,
            responses,
        })
    }
}

/// What a value may look like.
#[derive(Clone, Copy)]
enum Shape {
    /// A Polarion ID (project, plan, status, enumeration option): letters, digits, `_`, `-`, `.`.
    Id,
    /// A user ID: no blanks.
    Word,
    /// A test run ID: Polarion refuses the characters it keeps for paths and queries.
    TestRun,
    /// Free text on one line.
    Text,
}

const TESTRUN_FORBIDDEN: &[char] = &['/', '\\', ':', '*', '?', '"', '<', '>', '|', '#'];

fn checked(key: &str, value: String, shape: Shape) -> Result<String, String> {
    check(&format!("polarion.{key}"), &value, shape).map(|()| value)
}

fn optional(key: &str, value: Option<String>, shape: Shape) -> Result<Option<String>, String> {
    value.map(|v| checked(key, v, shape)).transpose()
}

/// Why `value` cannot be the importer's `key`, naming the environment variable it may come from.
fn check(key: &str, value: &str, shape: Shape) -> Result<(), String> {
    let env = FROM_ENV
        .iter()
        .find(|(k, _)| key.strip_prefix("polarion.") == Some(*k))
        .map_or(String::new(), |(_, var)| format!(" (or {var})"));
    let problem = if value.trim().is_empty() {
        Some("is empty: give a value, or leave the key out")
    } else if value.trim() != value || value.chars().any(char::is_control) {
        Some("has blanks at an end or a line break")
    } else {
        match shape {
            Shape::Id
                if !value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')) =>
            {
                Some("is not a Polarion ID: use letters, digits, `_`, `-` and `.`")
            }
            Shape::Word if value.contains(char::is_whitespace) => {
                Some("is not a user ID: it has blanks")
            }
            Shape::TestRun if value.contains(TESTRUN_FORBIDDEN) => {
                Some("is not a test run ID: it may not hold / \\ : * ? \" < > | #")
            }
            _ => None,
        }
    };
    match problem {
        Some(why) => Err(format!("{key}{env} = {value:?} {why}")),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> Table {
        toml::from_str(text).expect("a [polarion] table")
    }

    #[test]
    fn without_settings_the_run_is_an_automated_cnv_run_in_progress() {
        let props = Table::default().build(None).unwrap().properties();
        assert_eq!(
            props,
            [
                ("polarion-project-id", "CNV"),
                ("polarion-testrun-status-id", "inprogress"),
                ("polarion-custom-isautomated", "True"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
        );
    }

    #[test]
    fn every_key_becomes_its_importer_property() {
        let run = table(
            r#"
            project_id = "CNVQE"
            testrun_id = "CNV 4.20 network tier2"
            user_id = "cnvqe"
            testrun_status_id = "finished"
            is_automated = false
            planned_in = "CNV_4_20_0"
            env_tier = "tier2"
            env_os = "rhel9.6"
            response = { myproduct = "cnv-test-run" }
            "#,
        )
        .build(None)
        .unwrap();
        let props = run.properties();
        for (k, v) in [
            ("polarion-project-id", "CNVQE"),
            ("polarion-testrun-id", "CNV 4.20 network tier2"),
            ("polarion-user-id", "cnvqe"),
            ("polarion-testrun-status-id", "finished"),
            ("polarion-custom-isautomated", "False"),
            ("polarion-custom-plannedin", "CNV_4_20_0"),
            ("polarion-custom-env_tier", "tier2"),
            ("polarion-custom-env_os", "rhel9.6"),
            ("polarion-response-myproduct", "cnv-test-run"),
        ] {
            assert!(
                props.contains(&(k.to_string(), v.to_string())),
                "{k}={v} in {props:?}"
            );
        }
    }

    #[test]
    fn the_jobs_environment_overrides_the_file_and_an_empty_variable_is_unset() {
        let mut t = table("testrun_id = \"from-file\"\nenv_os = \"rhel9\"");
        t.override_with("POLARION_TESTRUN_ID", "from-job");
        t.override_with("POLARION_OS", "");
        t.override_with("POLARION_TIER", "tier1");
        let run = t.build(None).unwrap();
        assert_eq!(run.testrun_id.as_deref(), Some("from-job"));
        assert_eq!(run.env_os.as_deref(), Some("rhel9"));
        assert_eq!(run.env_tier.as_deref(), Some("tier1"));
    }

    #[test]
    fn bad_values_name_the_key_the_variable_and_what_is_allowed() {
        let err = |text: &str| table(text).build(None).unwrap_err();
        let run = err("testrun_id = \"nightly/4.20\"");
        assert!(
            run.contains("polarion.testrun_id (or POLARION_TESTRUN_ID)")
                && run.contains("may not hold /"),
            "{run}"
        );
        let project = err("project_id = \"CNV QE\"");
        assert!(project.contains("is not a Polarion ID"), "{project}");
        let empty = err("user_id = \"\"");
        assert!(
            empty.contains("polarion.user_id = \"\" is empty"),
            "{empty}"
        );
        let response = err("response = { \"my product\" = \"x\" }");
        assert!(
            response.contains("polarion.response.my product"),
            "{response}"
        );
        let newline = err("env_os = \"rhel9\\n\"");
        assert!(newline.contains("line break"), "{newline}");
        let twice = table("project_id = \"CNV\"")
            .build(Some("CNVQE".into()))
            .unwrap_err();
        assert!(twice.contains("give the project once"), "{twice}");
    }
}
