//! Reviewed snapshots: a file checked in beside the code (e.g. `openapi.json`) that a test compares
//! with what the code produces now. A difference fails the test and writes `FILE.new` to review;
//! `ACCORD_UPDATE_SNAPSHOTS=1` accepts it — on a developer's machine only. Under CI (`CI` set to
//! anything but `false`/`0`, as every CI service does and `.ci/run` does) accepting is refused, so
//! a forgotten variable can never turn a changed document into a passing run.

use std::path::Path;

/// The variable that accepts a changed snapshot.
pub const UPDATE_ENV: &str = "ACCORD_UPDATE_SNAPSHOTS";

/// What a snapshot check did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The file already holds `current`.
    Unchanged,
    /// The file differed and was rewritten (accepted outside CI).
    Accepted,
}

/// Compares `current` with the snapshot at `path`, reading the two variables through `env` (the
/// process environment in tests: [`check`]). `Err` carries the message to fail with.
pub fn check_with_env(
    path: &Path,
    current: &str,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Outcome, String> {
    let reviewed = std::fs::read_to_string(path).unwrap_or_default();
    if current == reviewed {
        return Ok(Outcome::Unchanged);
    }
    let set = |name: &str| env(name).is_some_and(|v| !v.is_empty() && v != "0" && v != "false");
    let in_ci = set("CI");
    if set(UPDATE_ENV) && !in_ci {
        std::fs::write(path, current)
            .map_err(|e| format!("cannot rewrite the snapshot {}: {e}", path.display()))?;
        return Ok(Outcome::Accepted);
    }
    let pending = format!("{}.new", path.display());
    let _ = std::fs::write(&pending, current);
    let first_difference = current
        .lines()
        .zip(reviewed.lines())
        .position(|(a, b)| a != b)
        .unwrap_or_else(|| current.lines().count().min(reviewed.lines().count()));
    let how = if in_ci {
        format!(
            "CI is set, so {UPDATE_ENV} cannot accept it here: review and commit the new snapshot"
        )
    } else {
        format!("accept it with {UPDATE_ENV}=1")
    };
    Err(format!(
        "{} changed (first difference at line {}). Review `diff {} {pending}`, then {how}.",
        path.display(),
        first_difference + 1,
        path.display(),
    ))
}

/// [`check_with_env`] with the process environment.
pub fn check(path: &Path, current: &str) -> Result<Outcome, String> {
    check_with_env(path, current, |name| std::env::var(name).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    fn snapshot(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let path = dir.path().join("doc.json");
        std::fs::write(&path, text).expect("write");
        (dir, path)
    }

    #[test]
    fn an_unchanged_snapshot_passes_whatever_the_environment() {
        let (_dir, path) = snapshot("same\n");
        let vars = [("CI", "true"), (UPDATE_ENV, "1")];
        assert_eq!(
            check_with_env(&path, "same\n", env(&vars)),
            Ok(Outcome::Unchanged)
        );
    }

    #[test]
    fn a_change_fails_and_leaves_a_file_to_review() {
        let (_dir, path) = snapshot("a\nb\n");
        let error = check_with_env(&path, "a\nc\n", env(&[])).unwrap_err();
        assert!(error.contains("line 2"), "{error}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a\nb\n");
        let pending = format!("{}.new", path.display());
        assert_eq!(std::fs::read_to_string(pending).unwrap(), "a\nc\n");
    }

    #[test]
    fn a_developer_may_accept_a_change() {
        let (_dir, path) = snapshot("old\n");
        let vars = [(UPDATE_ENV, "1"), ("CI", "false")];
        assert_eq!(
            check_with_env(&path, "new\n", env(&vars)),
            Ok(Outcome::Accepted)
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new\n");
    }

    #[test]
    fn ci_never_accepts_a_change_even_when_asked_to() {
        let (_dir, path) = snapshot("old\n");
        for ci in ["true", "1", "yes"] {
            let vars = [(UPDATE_ENV, "1"), ("CI", ci)];
            let error = check_with_env(&path, "new\n", env(&vars)).unwrap_err();
            assert!(error.contains("CI is set"), "{error}");
            assert_eq!(std::fs::read_to_string(&path).unwrap(), "old\n");
        }
    }
}
