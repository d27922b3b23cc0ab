//! Formatting times, durations and statuses for people.

use chrono::{DateTime, Local, Utc};

use crate::domain::Status;

/// `2026-11-24 19:57:03` in the browser's time zone.
pub fn time(t: DateTime<Utc>) -> String {
    t.with_timezone(&Local)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// `3 h 04 min`, `12 min 05 s`, `4.2 s`.
pub fn duration(start: DateTime<Utc>, end: DateTime<Utc>) -> String {
    let ms = (end - start).num_milliseconds().max(0);
    let s = ms / 1000;
    if s >= 86_400 {
        format!("{} d {} h", s / 86_400, (s % 86_400) / 3600)
    } else if s >= 3600 {
        format!("{} h {:02} min", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{} min {:02} s", s / 60, s % 60)
    } else {
        format!("{}.{} s", s, (ms % 1000) / 100)
    }
}

/// A length of time given in whole seconds, as people say it: `45 s`, `10 min`, `1 h 30 min`.
pub fn seconds(n: i64) -> String {
    let n = n.max(0);
    if n == 0 {
        return "0 s".into();
    }
    let parts = [
        (n / 86_400, "d"),
        (n % 86_400 / 3600, "h"),
        (n % 3600 / 60, "min"),
        (n % 60, "s"),
    ];
    parts
        .iter()
        .filter(|(v, _)| *v > 0)
        .map(|(v, unit)| format!("{v} {unit}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Why a job stands `unknown` when nobody said so in its outcome: only the engine puts a job there,
/// when a plug-in's lease lapses or when the Stepwise process running a command stops.
pub fn unknown_because(status: Status, is_external: bool, lease: Option<i32>) -> Option<String> {
    if status != Status::Unknown {
        return None;
    }
    match (is_external, lease) {
        (true, Some(lease)) => Some(format!(
            "Its plug-in sent no word within its lease of {}, so Stepwise no longer knows how it \
             is going. The plug-in, or someone allowed to, can still end it.",
            seconds(lease.into())
        )),
        (true, None) => None,
        (false, _) => Some(
            "The Stepwise process running this command stopped before the command ended. \
             Run it again if its work is still wanted."
                .into(),
        ),
    }
}

/// A symbol, a word and a CSS class for a status.
pub fn status(status: Status) -> (&'static str, &'static str, &'static str) {
    match status {
        Status::Started => ("▶", "Running", "st-started"),
        Status::Finished => ("✔", "Finished", "st-finished"),
        Status::Failed => ("✖", "Failed", "st-failed"),
        Status::Aborted => ("■", "Aborted", "st-aborted"),
        Status::Unknown => ("?", "Unknown", "st-unknown"),
    }
}

/// A number of some unit, the unit plural but for one: `1 day`, `90 days`.
pub fn amount(n: i64, unit: &str) -> String {
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// A count with thousands separated: `100,000`.
pub fn count(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// A piece of a job's or step's outcome as the page shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    /// The address of an export's file (`/api/exports/{id}`): a download link.
    Download(String),
}

/// Where an export's file is served; a result naming such an address offers it for download.
const EXPORTS: &str = "/api/exports/";

/// An outcome split into text and download links (`Exported 3 job(s): /api/exports/…`).
pub fn outcome(text: &str) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(EXPORTS) {
        let len = rest[at..]
            .find(char::is_whitespace)
            .unwrap_or(rest.len() - at);
        let before = rest[..at].trim_end();
        let before = before.strip_suffix(':').unwrap_or(before);
        if !before.is_empty() {
            pieces.push(Piece::Text(before.to_owned()));
        }
        pieces.push(Piece::Download(rest[at..at + len].to_owned()));
        rest = &rest[at + len..];
    }
    if !rest.trim().is_empty() {
        pieces.push(Piece::Text(rest.to_owned()));
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exports_address_becomes_a_download_and_other_text_stays() {
        let id = "01938a3c-0000-7000-8000-000000000001";
        assert_eq!(
            outcome(&format!("Exported 3 job(s): /api/exports/{id}")),
            [
                Piece::Text("Exported 3 job(s)".into()),
                Piece::Download(format!("/api/exports/{id}"))
            ]
        );
        assert_eq!(
            outcome("Deleted 2 ended job(s)"),
            [Piece::Text("Deleted 2 ended job(s)".into())]
        );
        assert_eq!(
            outcome(&format!("/api/exports/{id} then more")),
            [
                Piece::Download(format!("/api/exports/{id}")),
                Piece::Text(" then more".into())
            ]
        );
        assert!(outcome("").is_empty());
    }

    #[test]
    fn durations_read_naturally() {
        let t0 = DateTime::<Utc>::from_timestamp(0, 0).unwrap();
        let at = |s: i64| DateTime::<Utc>::from_timestamp(s, 0).unwrap();
        assert_eq!(duration(t0, at(4)), "4.0 s");
        assert_eq!(duration(t0, at(125)), "2 min 05 s");
        assert_eq!(duration(t0, at(3 * 3600 + 240)), "3 h 04 min");
    }

    #[test]
    fn a_lease_reads_as_people_say_it() {
        for (n, text) in [
            (0, "0 s"),
            (45, "45 s"),
            (600, "10 min"),
            (5400, "1 h 30 min"),
            (86_400 + 61, "1 d 1 min 1 s"),
        ] {
            assert_eq!(seconds(n), text);
        }
    }

    #[test]
    fn only_a_job_the_engine_made_unknown_is_explained() {
        let lapsed = unknown_because(Status::Unknown, true, Some(90)).unwrap();
        assert!(lapsed.contains("lease of 1 min 30 s"), "{lapsed}");
        let stopped = unknown_because(Status::Unknown, false, None).unwrap();
        assert!(stopped.contains("process running this command stopped"));
        assert_eq!(unknown_because(Status::Started, true, Some(90)), None);
        assert_eq!(unknown_because(Status::Failed, false, None), None);
        assert_eq!(unknown_because(Status::Unknown, true, None), None);
    }

    #[test]
    fn counts_are_grouped_by_thousands() {
        for (n, text) in [
            (0, "0"),
            (999, "999"),
            (1000, "1,000"),
            (100_000, "100,000"),
            (1_234_567, "1,234,567"),
        ] {
            assert_eq!(count(n), text);
        }
    }

    #[test]
    fn an_amount_of_one_is_singular() {
        assert_eq!(amount(1, "day"), "1 day");
        assert_eq!(amount(90, "day"), "90 days");
        assert_eq!(amount(0, "hour"), "0 hours");
    }
}
