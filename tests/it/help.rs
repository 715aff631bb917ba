//! `--help` is written for people: every command shows an example, each
//! on its own line, and the exit-code list is the one ksec returns (the man
//! page and the README show the same table).

use crate::common;

use clap::CommandFactory;
use common::{code, ksec, stdout};
use ksec::error::{Code, Outcome};

/// Every command path: `["init"]`, `["recipients", "add"]`, …
fn command_paths() -> Vec<Vec<String>> {
    fn walk(cmd: &clap::Command, prefix: &[String], out: &mut Vec<Vec<String>>) {
        for sub in cmd.get_subcommands() {
            let mut path = prefix.to_vec();
            path.push(sub.get_name().to_string());
            out.push(path.clone());
            walk(sub, &path, out);
        }
    }
    let mut out = Vec::new();
    walk(&ksec::cli::Cli::command(), &[], &mut out);
    out
}

fn help(path: &[String]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = ksec(dir.path())
        .args(path)
        .arg("--help")
        .env("COLUMNS", "100")
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(0), "{path:?}");
    stdout(&out)
}

/// The lines of the `Example:`/`Examples:` paragraph.
fn examples(text: &str) -> Option<Vec<&str>> {
    let mut lines = text.lines();
    lines.find(|l| l.trim_start().starts_with("Example"))?;
    Some(lines.take_while(|l| !l.trim().is_empty()).collect())
}

/// How many commands a line runs: `ksec` words not inside `$(…)`.
fn commands_on(line: &str) -> usize {
    line.match_indices("ksec ")
        .filter(|(i, _)| !line[..*i].ends_with("$("))
        .filter(|(i, _)| *i == 0 || !line[..*i].ends_with(|c: char| c.is_alphanumeric()))
        .count()
}

#[test]
fn every_command_has_examples_one_per_line() {
    let paths = command_paths();
    assert!(paths.len() > 20, "{paths:?}");
    let mut problems = Vec::new();
    for path in paths
        .iter()
        .filter(|p| p.last().is_some_and(|n| n != "help"))
    {
        let text = help(path);
        let Some(lines) = examples(&text) else {
            problems.push(format!("ksec {} --help has no example", path.join(" ")));
            continue;
        };
        if lines.is_empty() {
            problems.push(format!("ksec {} --help: empty example", path.join(" ")));
        }
        // an example of this command, not only of its neighbours
        let own = format!("ksec {}", path.join(" "));
        if !lines.iter().any(|l| {
            l.match_indices(&own)
                .any(|(i, _)| matches!(l[i + own.len()..].chars().next(), None | Some(' ')))
        }) {
            problems.push(format!("{own} --help: no example runs {own}"));
        }
        for line in lines {
            // one command per line: none means a wrapped or run-on line
            if !line.starts_with("  ") || commands_on(line) != 1 {
                problems.push(format!(
                    "ksec {} --help: example not on a line of its own: {line:?}",
                    path.join(" ")
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The first word of each row of the `Commands:` section.
fn listed_commands(text: &str) -> Vec<String> {
    text.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("        "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

#[test]
fn help_lists_every_command_and_subcommand_clap_defines() {
    let root = ksec::cli::Cli::command();
    let mut parents = vec![Vec::new()];
    parents.extend(command_paths());
    let mut checked = 0;
    for path in parents {
        let mut cmd = &root;
        for name in &path {
            cmd = cmd.find_subcommand(name).unwrap();
        }
        if !cmd.has_subcommands() || path.last().is_some_and(|n| n == "help") {
            continue;
        }
        let mut wanted: Vec<String> = cmd
            .get_subcommands()
            .map(|c| c.get_name().to_string())
            .collect();
        wanted.push("help".into());
        let text = help(&path);
        assert_eq!(
            listed_commands(&text),
            wanted,
            "ksec {path:?} --help:\n{text}"
        );
        checked += 1;
    }
    // the top level and recipients, git, namespace, hook at least
    assert!(checked >= 5, "{checked}");
}

#[test]
fn the_exit_code_list_in_help_is_the_code_table() {
    let text = help(&[]);
    let listed: Vec<String> = text
        .lines()
        .skip_while(|l| !l.starts_with("Exit codes:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .map(|l| l.trim().to_string())
        .collect();
    let mut wanted = vec!["0  success".to_string()];
    for c in Code::ALL {
        wanted.push(format!("{}  {}: {}", c.exit_code(), c.name(), c.meaning()));
    }
    let drift = Outcome::Drift;
    let drift = format!("1  {}: {}", drift.name().unwrap(), drift.meaning());
    wanted.insert(1, drift);
    assert_eq!(listed, wanted, "{text}");
}

#[test]
fn the_exit_code_table_in_the_readme_is_the_code_table() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let table = readme
        .split_once("## Exit codes\n\n")
        .map(|(_, rest)| rest)
        .expect("README.md has an Exit codes section");
    let wanted = ksec::error::exit_codes_markdown();
    assert!(
        table.starts_with(&wanted),
        "README.md's exit-code table differs from the code's; it should read:\n{wanted}"
    );
}

#[test]
fn the_man_page_lists_the_exit_codes_of_help() {
    let dir = tempfile::tempdir().unwrap();
    let out = ksec(dir.path()).arg("man").output().unwrap();
    assert_eq!(code(&out), Some(0));
    // roff escapes the minus signs
    let page = stdout(&out).replace("\\-", "-");
    for line in ksec::error::exit_codes_help().lines() {
        assert!(page.contains(line), "the man page lacks {line:?}");
    }
}
