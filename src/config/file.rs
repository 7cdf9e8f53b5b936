//! `--config hookrelay.toml`: every `serve` flag may also be set in a TOML file, by its
//! long name (`listen = "0.0.0.0:8080"`, `retry-schedule = "5s,5m"`; `_` works for `-`).
//! Precedence: a flag, then its `HOOKRELAY_*` variable, then the file, then the default.
//!
//! The file's settings become flags placed before the command line's own, which override
//! them (clap keeps the last occurrence), and are left out where the environment variable
//! is set, since that ranks above the file.

use std::collections::HashSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

/// Where `--config` (or `HOOKRELAY_CONFIG`) points, if anywhere.
fn config_path(args: &[OsString]) -> Option<PathBuf> {
    let mut words = args.iter().map(|a| a.to_string_lossy().into_owned());
    while let Some(word) = words.next() {
        if word == "--config" {
            return words.next().map(PathBuf::from);
        }
        if let Some(path) = word.strip_prefix("--config=") {
            return Some(PathBuf::from(path));
        }
    }
    std::env::var_os("HOOKRELAY_CONFIG").map(PathBuf::from)
}

/// The flags a TOML file stands for. `known` lists the flags the command takes (their
/// long names); `env_set` says whether a flag's environment variable is set.
pub fn flags_from_toml(
    text: &str,
    known: &HashSet<String>,
    env_set: impl Fn(&str) -> bool,
) -> anyhow::Result<Vec<String>> {
    let table: toml::Table = text.parse().context("not valid TOML")?;
    let mut flags = Vec::new();
    for (key, value) in table {
        let name = key.replace('_', "-");
        if name == "config" || !known.contains(&name) {
            bail!(
                "unknown setting `{key}` (settings are the long names of `hookrelay serve --help`)"
            );
        }
        if env_set(&name) {
            continue;
        }
        match value {
            toml::Value::Boolean(true) => flags.push(format!("--{name}")),
            toml::Value::Boolean(false) => {}
            toml::Value::String(s) => flags.push(format!("--{name}={s}")),
            toml::Value::Integer(n) => flags.push(format!("--{name}={n}")),
            toml::Value::Float(n) => flags.push(format!("--{name}={n}")),
            other => bail!("setting `{key}`: {other} is not a string, number or boolean"),
        }
    }
    Ok(flags)
}

fn read(path: &Path, known: &HashSet<String>) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the configuration file {}", path.display()))?;
    let env_set = |name: &str| {
        let var = format!("HOOKRELAY_{}", name.replace('-', "_").to_ascii_uppercase());
        std::env::var_os(var).is_some()
    };
    flags_from_toml(&text, known, env_set).with_context(|| path.display().to_string())
}

/// The command line with a configuration file's settings put in: right after the
/// subcommand (`serve`, or `config check`), before the flags typed, which win.
pub fn expand(args: Vec<OsString>, known: &HashSet<String>) -> anyhow::Result<Vec<OsString>> {
    let Some(path) = config_path(&args) else {
        return Ok(args);
    };
    let flags = read(&path, known)?;
    let at = args
        .iter()
        .position(|a| a == "serve" || a == "check")
        .map_or(args.len(), |i| i + 1);
    let mut expanded = args;
    expanded.splice(at..at, flags.into_iter().map(OsString::from));
    Ok(expanded)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> HashSet<String> {
        [
            "listen",
            "retry-schedule",
            "allow-private-targets",
            "max-in-flight",
        ]
        .into_iter()
        .map(String::from)
        .collect()
    }

    #[test]
    fn settings_become_flags_unless_their_variable_is_set() {
        let text = "listen = \"0.0.0.0:9000\"\nretry_schedule = \"1s,2s\"\nallow-private-targets = true\nmax-in-flight = 64\n";
        let flags = flags_from_toml(text, &known(), |name| name == "max-in-flight").unwrap();
        assert_eq!(
            flags,
            [
                "--allow-private-targets",
                "--listen=0.0.0.0:9000",
                "--retry-schedule=1s,2s"
            ]
        );
    }

    #[test]
    fn unknown_settings_and_bad_toml_are_refused() {
        let e = flags_from_toml("lisen = \"x\"", &known(), |_| false).unwrap_err();
        assert!(e.to_string().contains("unknown setting `lisen`"), "{e}");
        assert!(flags_from_toml("listen = ", &known(), |_| false).is_err());
        let e = flags_from_toml("listen = [1]", &known(), |_| false).unwrap_err();
        assert!(e.to_string().contains("not a string"), "{e}");
    }

    #[test]
    fn file_flags_go_right_after_the_subcommand() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("h.toml");
        std::fs::write(&file, "listen = \"127.0.0.1:1\"\n").unwrap();
        let args: Vec<OsString> = [
            "hookrelay",
            "serve",
            "--config",
            file.to_str().unwrap(),
            "--listen=127.0.0.1:2",
        ]
        .into_iter()
        .map(OsString::from)
        .collect();
        let out = expand(args, &known()).unwrap();
        assert_eq!(out[2], "--listen=127.0.0.1:1");
        assert_eq!(
            out.last().unwrap(),
            "--listen=127.0.0.1:2",
            "the typed flag comes last and wins"
        );
    }
}
