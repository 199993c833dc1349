//! The walkthrough `accord demo` prints, run as a reader runs it: every command line pasted in
//! order into one bash (so the tokens, codes and cookie jars it captures carry over), each
//! checked against the answer the walkthrough promises under it (`#   → text … more text`, the
//! texts in that order; a note in `   (…)` after them is for people). A command with no promise
//! must print nothing. Bash runs with `set -euo pipefail`, and each line must end with status 0.
//! The `bash` blocks of `docs/guide.md` continue the walkthrough in the same shell, and are
//! checked the same way.

use std::io::{BufRead, BufReader, Write};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use crate::accord;
use crate::server::Running;

const START: &str = "═══ Walkthrough: paste these lines into bash";
const END: &str = "═══ End of the walkthrough ═══";
const PROMISE: &str = "#   → ";
/// Printed by the harness after each command, with the command's status.
const DONE: &str = "__walkthrough_step_done__";

/// One command of the walkthrough and what its answer must hold.
#[derive(Debug)]
struct Step {
    command: String,
    /// Texts the output holds, in this order; empty: the command prints nothing.
    expected: Vec<String>,
}

/// The steps between the walkthrough's start and end markers.
fn steps(printed: &[String]) -> Vec<Step> {
    let start = printed
        .iter()
        .position(|line| line.contains(START))
        .expect("the demo prints the walkthrough's start");
    let end = printed
        .iter()
        .position(|line| line.contains(END))
        .expect("the demo prints the walkthrough's end");
    parse(&printed[start + 1..end])
}

/// The steps of the guide's `bash` blocks, in order (its `sh` blocks are not run here).
fn guide_steps(guide: &str) -> Vec<Step> {
    let mut lines = Vec::new();
    let mut in_block = false;
    for line in guide.lines() {
        match line.trim_end() {
            "```bash" => in_block = true,
            "```" => in_block = false,
            _ if in_block => lines.push(line.to_owned()),
            _ => {}
        }
    }
    parse(&lines)
}

/// Commands and the promises under them.
fn parse(lines: &[String]) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    for line in lines {
        if let Some(promise) = line.strip_prefix(PROMISE) {
            let step = steps.last_mut().expect("a promise follows a command");
            assert!(step.expected.is_empty(), "one promise per command: {line}");
            let texts = promise.split("   (").next().unwrap_or_default();
            step.expected = texts
                .split(" … ")
                .map(str::trim)
                .filter(|text| !text.is_empty())
                .map(str::to_owned)
                .collect();
            assert!(!step.expected.is_empty(), "an empty promise: {line}");
        } else if !line.trim().is_empty() && !line.starts_with('#') {
            steps.push(Step {
                command: line.clone(),
                expected: Vec::new(),
            });
        }
    }
    steps
}

/// One bash, fed one command at a time; the variables each line sets carry over.
struct Bash {
    stdin: ChildStdin,
    lines: Receiver<String>,
    child: std::process::Child,
}

impl Bash {
    /// A bash whose `mktemp` files (the cookie jars) go into `scratch`.
    fn start(scratch: &std::path::Path) -> Bash {
        let mut child = Command::new("bash")
            .args(["--noprofile", "--norc"])
            .env("TMPDIR", scratch)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("bash runs");
        let stdout = child.stdout.take().expect("piped stdout");
        let (sender, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let mut stdin = child.stdin.take().expect("piped stdin");
        writeln!(stdin, "set -euo pipefail").expect("bash reads");
        Bash {
            stdin,
            lines,
            child,
        }
    }

    /// Runs one line (stderr joined to stdout); its output and exit status. `None` when bash
    /// ended (`set -e` on a failing command).
    fn run(&mut self, command: &str) -> Option<(String, i32)> {
        // A group, not a subshell, so assignments stay; the newline ends any trailing comment.
        writeln!(
            self.stdin,
            "{{ {command}\n}} 2>&1; printf '\\n{DONE} %s\\n' \"$?\""
        )
        .ok()?;
        let mut output = Vec::new();
        loop {
            // A deadline for failure (the webhook wait is at most 10 s), not a timing assertion.
            let line = self.lines.recv_timeout(Duration::from_secs(60)).ok()?;
            if let Some(status) = line.strip_prefix(DONE) {
                let status = status.trim().parse().unwrap_or(-1);
                return Some((output.join("\n").trim().to_owned(), status));
            }
            output.push(line);
        }
    }
}

impl Drop for Bash {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether `output` holds every text in order.
fn holds_in_order(output: &str, expected: &[String]) -> bool {
    let mut rest = output;
    expected.iter().all(|text| match rest.find(text.as_str()) {
        Some(at) => {
            rest = &rest[at + text.len()..];
            true
        }
        None => false,
    })
}

#[test]
fn the_demo_walkthrough_runs_line_by_line_in_bash_and_every_answer_is_the_promised_one() {
    let dir = tempfile::tempdir().unwrap();
    let running = Running::start(
        accord()
            .current_dir(dir.path())
            .args(["demo", "--bind", "127.0.0.1:0"]),
        END,
    );
    let steps = steps(&running.banner);
    // The story the issue asks for is all there, in order.
    let script: Vec<&str> = steps.iter().map(|s| s.command.as_str()).collect();
    let script = script.join("\n");
    let mut at = 0;
    for part in [
        "/readyz",
        "grant_type=account_credentials&account_id=devworks",
        "/oauth/authorize/sign-in",
        "decision=approve",
        "grant_type=authorization_code",
        "ann@acme.test",
        "client_id=meeting-sync",
        "sam@acme.test",
        "-X DELETE \"$URL/v2/marketplace/apps/meeting-sync\"",
        "/_demo/webhooks/meeting-sync?event=app_deauthorized",
    ] {
        let found = script[at..]
            .find(part)
            .unwrap_or_else(|| panic!("the walkthrough lacks {part:?} (in order): {script}"));
        at += found + part.len();
    }
    for forbidden in ["jq ", "python"] {
        assert!(!script.contains(forbidden), "{forbidden} is not needed");
    }

    let guide = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/guide.md"),
    )
    .expect("docs/guide.md");
    let guide = guide_steps(&guide);
    assert!(guide.len() >= 20, "the guide's demo commands: {guide:?}");

    let mut bash = Bash::start(dir.path());
    // What the walkthrough says it needs: missing tools fail here, plainly.
    let (found, status) = bash
        .run("for tool in curl sed grep mktemp; do command -v \"$tool\" >/dev/null || echo \"missing: $tool\"; done")
        .expect("bash runs");
    assert_eq!((found.as_str(), status), ("", 0), "the walkthrough's tools");
    let mut checked = 0;
    for (number, step) in steps.iter().chain(&guide).enumerate() {
        let (output, status) = bash.run(&step.command).unwrap_or_else(|| {
            panic!(
                "bash ended at step {} (a command failed under set -e): {}",
                number + 1,
                step.command
            )
        });
        assert_eq!(
            status,
            0,
            "step {} failed: {}\n{output}",
            number + 1,
            step.command
        );
        if step.expected.is_empty() {
            assert_eq!(
                output,
                "",
                "step {} promises no output: {}",
                number + 1,
                step.command
            );
        } else {
            assert!(
                holds_in_order(&output, &step.expected),
                "step {}: {}\nexpected {:?} in order, got:\n{output}",
                number + 1,
                step.command,
                step.expected
            );
            checked += 1;
        }
    }
    assert!(checked >= 50, "only {checked} answers checked");
    // The terminal printed the uninstall's delivery too.
    let line = running.wait_for_line("webhook  app_deauthorized  app meeting-sync");
    assert!(line.contains("signature verified"), "{line}");
    running.stop();
}

#[test]
fn a_promise_is_a_list_of_texts_in_order_with_an_optional_note() {
    let printed: Vec<String> = [
        "# ═══ Walkthrough: paste these lines into bash, in order ═══",
        "# a comment",
        "X=1",
        "curl -s \"$URL/readyz\"",
        "#   → \"status\":\"ready\" … \"database\"   (a note)",
        "# ═══ End of the walkthrough ═══",
    ]
    .map(str::to_owned)
    .to_vec();
    let steps = steps(&printed);
    assert_eq!(steps.len(), 2);
    assert!(steps[0].expected.is_empty());
    assert_eq!(steps[1].expected, ["\"status\":\"ready\"", "\"database\""]);
    assert!(!holds_in_order(
        r#"{"database":"SQLite","status":"ready"}"#,
        &steps[1].expected
    ));
    assert!(holds_in_order(
        r#"{"status":"ready","database":"SQLite"}"#,
        &steps[1].expected
    ));
}
