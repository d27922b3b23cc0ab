//! oVirt API v4 representations of jobs and steps, written and read with quick-xml (serde), and the
//! same shapes as oVirt's JSON.

use app::domain::{Job, Status, Step, StepType, User};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub const API: &str = "/ovirt-engine/api";

/// oVirt's date form: `2016-12-13T02:15:42.130+00:00` (milliseconds, numeric zone).
pub fn date(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, false)
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Link {
    #[serde(rename = "@href")]
    pub href: String,
    #[serde(rename = "@rel")]
    pub rel: String,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct Ref {
    #[serde(rename = "@href")]
    pub href: String,
    #[serde(rename = "@id")]
    pub id: String,
}

/// A job's `<owner>`: the link, and with `follow=owner` the user's names as `<user>` gives them.
#[derive(Debug, Serialize, PartialEq)]
pub struct OwnerOut {
    #[serde(rename = "@href")]
    pub href: String,
    #[serde(rename = "@id")]
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct Actions {
    pub link: Vec<Link>,
}

#[derive(Debug, Serialize, PartialEq)]
#[serde(rename = "job")]
pub struct JobOut<'a> {
    #[serde(rename = "@href")]
    pub href: String,
    #[serde(rename = "@id")]
    pub id: String,
    pub actions: Actions,
    pub description: String,
    pub link: Vec<Link>,
    pub auto_cleared: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
    pub external: bool,
    pub last_updated: String,
    pub start_time: String,
    pub status: String,
    pub owner: OwnerOut,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps: Option<StepsOut<'a>>,
}

#[derive(Debug, Serialize, PartialEq)]
#[serde(rename = "jobs")]
pub struct JobsOut<'a> {
    pub job: Vec<JobOut<'a>>,
}

#[derive(Debug, Serialize, PartialEq)]
#[serde(rename = "step")]
pub struct StepOut {
    #[serde(rename = "@href")]
    pub href: String,
    #[serde(rename = "@id")]
    pub id: String,
    pub actions: Actions,
    pub description: String,
    pub link: Vec<Link>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
    pub external: bool,
    pub number: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<i16>,
    pub start_time: String,
    pub status: String,
    #[serde(rename = "type")]
    pub step_type: String,
    pub job: Ref,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_step: Option<Ref>,
}

#[derive(Debug, Serialize, PartialEq)]
#[serde(rename = "steps")]
pub struct StepsOut<'a> {
    pub step: StepItems<'a>,
}

/// Steps written one by one as they are serialised: a job may hold 100,000 of them, and their
/// written-out forms all at once (hrefs, links, dates as strings) took about a kilobyte each.
#[derive(Debug, PartialEq)]
pub struct StepItems<'a>(pub &'a [Step]);

impl Serialize for StepItems<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(StepOut::from_step))
    }
}

fn link(href: String, rel: &str) -> Link {
    Link {
        href,
        rel: rel.to_owned(),
    }
}

pub fn job_href(id: Uuid) -> String {
    format!("{API}/jobs/{id}")
}

pub fn step_href(job: Uuid, step: Uuid) -> String {
    format!("{API}/jobs/{job}/steps/{step}")
}

/// oVirt knows the plug-in phases and `unknown`; any other type the engine comes to use is
/// `unknown` to it.
fn step_type(t: StepType) -> &'static str {
    match t {
        StepType::Validating | StepType::Executing | StepType::Finalizing | StepType::Unknown => {
            t.as_str()
        }
    }
}

fn status(s: Status) -> &'static str {
    s.as_str()
}

impl<'a> JobOut<'a> {
    pub fn from_job(job: &Job, steps: Option<&'a [Step]>) -> JobOut<'a> {
        let href = job_href(job.id);
        JobOut {
            actions: Actions {
                link: vec![
                    link(format!("{href}/clear"), "clear"),
                    link(format!("{href}/end"), "end"),
                ],
            },
            description: job.description.clone(),
            link: vec![link(format!("{href}/steps"), "steps")],
            auto_cleared: job.auto_cleared,
            end_time: job.end_time.map(date),
            external: job.is_external,
            last_updated: date(job.last_updated),
            start_time: date(job.start_time),
            status: status(job.status).to_owned(),
            owner: OwnerOut {
                href: user_href(job.owner),
                id: job.owner.to_string(),
                name: None,
                principal: None,
                user_name: None,
            },
            steps: steps.map(|s| StepsOut { step: StepItems(s) }),
            id: job.id.to_string(),
            href,
        }
    }
}

impl JobOut<'_> {
    /// `follow=owner`: the owner embedded, its names as `GET /users/{id}` gives them.
    pub fn owner_followed(mut self, job: &Job) -> Self {
        self.owner.name = Some(job.owner_name.clone());
        self.owner.principal = Some(job.owner_name.clone());
        self.owner.user_name = Some(internal_user_name(&job.owner_name));
        self
    }
}

impl StepOut {
    pub fn from_step(step: &Step) -> StepOut {
        let href = step_href(step.job_id, step.id);
        StepOut {
            actions: Actions {
                link: vec![link(format!("{href}/end"), "end")],
            },
            description: step.description.clone(),
            link: vec![link(format!("{href}/statistics"), "statistics")],
            end_time: step.end_time.map(date),
            external: step.is_external,
            number: step.number,
            progress: step.progress,
            start_time: date(step.start_time),
            status: status(step.status).to_owned(),
            step_type: step_type(step.step_type).to_owned(),
            job: Ref {
                href: job_href(step.job_id),
                id: step.job_id.to_string(),
            },
            parent_step: step.parent_step_id.map(|p| Ref {
                href: step_href(step.job_id, p),
                id: p.to_string(),
            }),
            id: step.id.to_string(),
            href,
        }
    }
}

/// `<user>`: a job's `<owner>` leads here. Stepwise's users are local; `user_name` is the form
/// the SSO endpoint takes (`name@internal`), as oVirt's is `name@domain`.
#[derive(Debug, Serialize, PartialEq)]
#[serde(rename = "user")]
pub struct UserOut {
    #[serde(rename = "@href")]
    pub href: String,
    #[serde(rename = "@id")]
    pub id: String,
    pub name: String,
    pub principal: String,
    pub user_name: String,
}

#[derive(Debug, Serialize, PartialEq)]
#[serde(rename = "users")]
pub struct UsersOut {
    pub user: Vec<UserOut>,
}

/// The form the SSO endpoint takes a local user's name in, as oVirt's `name@domain`.
fn internal_user_name(username: &str) -> String {
    format!("{username}@internal")
}

pub fn user_href(id: Uuid) -> String {
    format!("{API}/users/{id}")
}

impl UserOut {
    pub fn from_user(user: &User) -> UserOut {
        UserOut {
            href: user_href(user.id),
            id: user.id.to_string(),
            name: user.username.clone(),
            principal: user.username.clone(),
            user_name: internal_user_name(&user.username),
        }
    }
}

/// `<job>` as a client sends it to add one.
#[derive(Debug, Deserialize, PartialEq)]
pub struct JobIn {
    pub description: Option<String>,
    pub auto_cleared: Option<bool>,
}

#[derive(Debug, Deserialize, PartialEq)]
pub struct IdIn {
    #[serde(rename = "@id", alias = "id")]
    pub id: Option<String>,
}

/// `<step>` as a client sends it to add one.
#[derive(Debug, Deserialize, PartialEq)]
pub struct StepIn {
    pub description: Option<String>,
    #[serde(rename = "type")]
    pub step_type: Option<String>,
    pub parent_step: Option<IdIn>,
    pub status: Option<String>,
    /// A running step's progress from the start (`types.Step(progress=…)`), 0 to 100.
    pub progress: Option<NumberIn>,
}

/// A number as XML gives it (text) or as JSON does (a number, or a string holding one).
#[derive(Debug, PartialEq)]
pub enum NumberIn {
    Number(i64),
    Text(String),
}

impl<'de> Deserialize<'de> for NumberIn {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<NumberIn, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = NumberIn;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a whole number")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<NumberIn, E> {
                Ok(NumberIn::Number(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<NumberIn, E> {
                Ok(NumberIn::Number(i64::try_from(v).unwrap_or(i64::MAX)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<NumberIn, E> {
                Ok(NumberIn::Text(v.to_owned()))
            }
            /// An XML element as quick-xml hands it over when asked for anything: its text.
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<NumberIn, A::Error> {
                let mut text = String::new();
                while let Some(key) = map.next_key::<String>()? {
                    let value: String = map.next_value()?;
                    if key == "$text" || key == "$value" {
                        text = value;
                    }
                }
                Ok(NumberIn::Text(text))
            }
        }
        d.deserialize_any(Visitor)
    }
}

impl NumberIn {
    /// The whole number it holds; `None` for empty text.
    pub fn whole(&self) -> Result<Option<i64>, String> {
        match self {
            NumberIn::Number(n) => Ok(Some(*n)),
            NumberIn::Text(t) if t.trim().is_empty() => Ok(None),
            NumberIn::Text(t) => t
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| format!("`{}` is not a whole number", t.trim())),
        }
    }
}

/// `<action>` as a client sends it.
#[derive(Debug, Default, Deserialize, PartialEq)]
pub struct ActionIn {
    pub force: Option<bool>,
    pub succeeded: Option<bool>,
}

/// Serialise as XML (no declaration needed; one is added for old clients' comfort).
/// Written straight after the declaration, not copied behind it: a list of a full job's steps is
/// some 80 MB of XML.
pub fn to_xml<T: Serialize>(value: &T) -> Result<String, quick_xml::SeError> {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n");
    quick_xml::se::to_writer(&mut out, value)?;
    Ok(out)
}

/// The same value as oVirt's JSON, where attributes are plain keys: written straight to bytes (a
/// full job's steps are some 30 MB of it, and as a `serde_json::Value` tree ten times that), then
/// each `"@name":` key made `"name":` in place. In this output a quote, `@`, a name and `":` can
/// only open one of our attribute keys: inside a string every quote is escaped (so no name is
/// directly followed by a quote there), only keys are followed by a colon, and every key here is a
/// field name of ours, which holds no quote.
pub fn to_json<T: Serialize>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = serde_json::to_vec(value)?;
    let (mut read, mut write) = (0, 0);
    while read < out.len() {
        let byte = out[read];
        out[write] = byte;
        read += 1;
        write += 1;
        if byte == b'"' && out.get(read) == Some(&b'@') && opens_attribute_key(&out[read + 1..]) {
            read += 1;
        }
    }
    out.truncate(write);
    Ok(out)
}

/// Whether `rest` (just after `"@`) is a name and the `":` closing a key.
fn opens_attribute_key(rest: &[u8]) -> bool {
    let name = rest
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
        .count();
    name > 0 && rest[name..].starts_with(b"\":")
}

/// Read a request body as XML or (when the client says so) JSON. Unknown elements are ignored; the
/// XML document's element must be `root` (a `<step>` sent to make a job is refused, as oVirt does).
pub fn from_body<T: serde::de::DeserializeOwned>(
    body: &[u8],
    json: bool,
    root: &str,
) -> Result<T, String> {
    let text = std::str::from_utf8(body).map_err(|_| "the body is not UTF-8".to_owned())?;
    if json {
        let mut de = serde_json::Deserializer::from_str(text);
        let value = serde_path_to_error::deserialize(&mut de)
            .map_err(|e| at_field(e, root, "JSON", |e| e.is_syntax() || e.is_eof()))?;
        de.end()
            .map_err(|e| format!("the JSON body is not valid: {e}"))?;
        Ok(value)
    } else {
        match root_element(text) {
            Some(name) if name != root => {
                return Err(format!("the XML body must be a <{root}>, not a <{name}>"))
            }
            _ => {}
        }
        let mut de = quick_xml::de::Deserializer::from_str(text);
        serde_path_to_error::deserialize(&mut de).map_err(|e| {
            at_field(e, root, "XML", |e| {
                matches!(
                    e,
                    quick_xml::DeError::InvalidXml(_) | quick_xml::DeError::UnexpectedEof
                )
            })
        })
    }
}

/// A body error naming the element at fault (`job.auto_cleared: ...`), or the body when the fault is
/// not in one element (a document that is not well-formed).
fn at_field<E: std::fmt::Display>(
    e: serde_path_to_error::Error<E>,
    root: &str,
    format: &str,
    not_well_formed: impl Fn(&E) -> bool,
) -> String {
    let path = e.path().to_string();
    let inner = e.into_inner();
    if path == "." || not_well_formed(&inner) {
        format!("the {format} body is not valid: {inner}")
    } else {
        format!("{root}.{path}: {inner}")
    }
}

/// The name of a document's first element, if it has one that can be read.
fn root_element(text: &str) -> Option<String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(text);
    loop {
        match reader.read_event().ok()? {
            Event::Start(e) | Event::Empty(e) => {
                return Some(String::from_utf8_lossy(e.name().as_ref()).into_owned())
            }
            Event::Eof => return None,
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(description: &str) -> Job {
        Job {
            id: Uuid::nil(),
            description: description.to_owned(),
            status: Status::Started,
            is_external: true,
            auto_cleared: false,
            owner: Uuid::from_u128(7),
            owner_name: "admin".into(),
            correlation_id: None,
            start_time: DateTime::<Utc>::from_timestamp_millis(1_481_588_142_130).unwrap(),
            end_time: None,
            last_updated: DateTime::<Utc>::from_timestamp_millis(1_481_588_142_130).unwrap(),
            progress: None,
            result: None,
            timeout_seconds: None,
            steps: None,
        }
    }

    #[test]
    fn a_job_is_written_with_attributes_links_and_ovirt_dates() {
        let xml = to_xml(&JobOut::from_job(&job("Backup"), None)).unwrap();
        assert!(xml.contains("<job href=\"/ovirt-engine/api/jobs/00000000-0000-0000-0000-000000000000\" id=\"00000000-0000-0000-0000-000000000000\">"), "{xml}");
        assert!(
            xml.contains("<start_time>2016-12-13T00:15:42.130+00:00</start_time>"),
            "{xml}"
        );
        assert!(xml.contains("<link href=\"/ovirt-engine/api/jobs/00000000-0000-0000-0000-000000000000/steps\" rel=\"steps\"/>"), "{xml}");
        assert!(
            xml.contains("<status>started</status>") && xml.contains("<external>true</external>")
        );
        assert!(!xml.contains("end_time"), "unset fields are left out");
    }

    #[test]
    fn any_description_is_escaped_and_round_trips() {
        let text = "<b>\"x\" & 'y'</b> ✓ \u{1F600}";
        let xml = to_xml(&JobOut::from_job(&job(text), None)).unwrap();
        assert!(xml.contains("&lt;b&gt;"));
        #[derive(Deserialize)]
        struct Back {
            description: String,
        }
        let back: Back = quick_xml::de::from_str(xml.split_once('\n').unwrap().1).unwrap();
        assert_eq!(back.description, text);
    }

    #[test]
    fn an_empty_list_is_an_empty_element() {
        let xml = to_xml(&JobsOut { job: vec![] }).unwrap();
        assert!(
            xml.ends_with("<jobs/>") || xml.ends_with("<jobs></jobs>"),
            "{xml}"
        );
    }

    #[test]
    fn a_step_is_read_with_its_parent_and_unknown_elements_are_ignored() {
        let step: StepIn = from_body(
            b"<step><description>Copy &amp; verify</description><type>executing</type><parent_step id=\"abc\"/><weird><x/></weird></step>",
            false,
            "step",
        )
        .unwrap();
        assert_eq!(step.description.as_deref(), Some("Copy & verify"));
        assert_eq!(step.step_type.as_deref(), Some("executing"));
        assert_eq!(step.parent_step.unwrap().id.as_deref(), Some("abc"));
    }

    #[test]
    fn an_action_is_read_from_xml_and_json() {
        let a: ActionIn = from_body(
            b"<action><force>true</force><succeeded>false</succeeded></action>",
            false,
            "action",
        )
        .unwrap();
        assert_eq!(
            a,
            ActionIn {
                force: Some(true),
                succeeded: Some(false)
            }
        );
        let a: ActionIn = from_body(b"<action/>", false, "action").unwrap();
        assert_eq!(a, ActionIn::default());
        let a: ActionIn = from_body(br#"{"force": true}"#, true, "action").unwrap();
        assert_eq!(a.force, Some(true));
    }

    #[test]
    fn malformed_xml_is_refused() {
        assert!(from_body::<JobIn>(b"<job><description>x</job>", false, "job").is_err());
    }

    #[test]
    fn the_document_element_must_be_the_expected_one() {
        let wrong = from_body::<JobIn>(
            b"<?xml version=\"1.0\"?><!-- c --><step><description>x</description></step>",
            false,
            "job",
        );
        assert_eq!(
            wrong.unwrap_err(),
            "the XML body must be a <job>, not a <step>"
        );
        let right = from_body::<JobIn>(
            b"<?xml version=\"1.0\"?>\n<job><description>x</description></job>",
            false,
            "job",
        )
        .unwrap();
        assert_eq!(right.description.as_deref(), Some("x"));
    }

    #[test]
    fn json_has_plain_keys() {
        let json = |description: &str| -> serde_json::Value {
            let bytes = to_json(&JobOut::from_job(&job(description), None)).unwrap();
            serde_json::from_slice(&bytes).unwrap()
        };
        let v = json("J");
        assert_eq!(v["id"], "00000000-0000-0000-0000-000000000000");
        assert_eq!(v["owner"]["id"], "00000000-0000-0000-0000-000000000007");
        assert_eq!(
            v["owner"]["href"],
            format!("{API}/users/00000000-0000-0000-0000-000000000007")
        );
        assert_eq!(v["link"][0]["rel"], "steps");
        assert!(
            v.get("@id").is_none() && v["owner"].get("@href").is_none(),
            "{v}"
        );
        // What looks like an attribute key inside a text stays as it was.
        for text in [
            r#"say "@href": hi"#,
            r#"\"@id":"#,
            r#""@rel":""#,
            "@id",
            r#"x\"#,
        ] {
            assert_eq!(json(text)["description"], text, "{text}");
        }
    }
}
