//! serde's words for bad input, said as a person would read them, the same wherever JSON arrives
//! (request bodies, a command's parameters).

/// The field at fault and what is wrong with it, for a serde data error (not a syntax error) at
/// `path` (serde_path_to_error's path, `.` for the top level): a missing field is named itself ("is
/// required", where serde reports it at its parent), Rust's type names are said in plain words, and
/// the position serde_json appends is dropped. What is wrong with the body as a whole is `body`'s.
pub fn json_data_error(path: &str, message: &str) -> (String, String) {
    let message = in_plain_types(strip_position(message));
    match (path, missing_field(&message)) {
        (".", Some(name)) => (name.to_owned(), "is required".to_owned()),
        (path, Some(name)) => (format!("{path}.{name}"), "is required".to_owned()),
        (".", None) => ("body".to_owned(), message),
        (path, None) => (path.to_owned(), message),
    }
}

/// The uuid crate's words ("UUID parsing failed: invalid length: found 0") as a person says them.
pub fn plain_uuid(message: &str) -> Option<String> {
    message
        .starts_with("UUID parsing failed")
        .then(|| "is not a valid id (a UUID)".to_owned())
}

/// serde names Rust's types ("expected i32", "expected struct JobFilter", "expected string or map"
/// for an enum); a person expects "a whole number", "an object", "a string".
fn in_plain_types(message: String) -> String {
    if let Some(plain) = plain_uuid(&message) {
        return plain;
    }
    const INTEGERS: [&str; 10] = [
        "i8", "i16", "i32", "i64", "isize", "u8", "u16", "u32", "u64", "usize",
    ];
    match message.rsplit_once(", expected ") {
        Some((head, ty)) if INTEGERS.contains(&ty) => format!("{head}, expected a whole number"),
        Some((head, ty)) if ty.starts_with("struct ") || ty == "a map" => {
            format!("{head}, expected an object")
        }
        Some((head, "string or map")) => format!("{head}, expected a string"),
        _ => message,
    }
}

/// The name in serde's "missing field `name`".
fn missing_field(message: &str) -> Option<&str> {
    message.strip_prefix("missing field `")?.split('`').next()
}

/// serde_json appends " at line 1 column 9" to data errors; the field name says more.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_field_is_named_itself() {
        assert_eq!(
            json_data_error(".", "missing field `format`"),
            ("format".into(), "is required".into())
        );
        assert_eq!(
            json_data_error("filter", "missing field `x` at line 1 column 9"),
            ("filter.x".into(), "is required".into())
        );
    }

    #[test]
    fn rust_type_names_are_said_in_plain_words() {
        for (message, plain) in [
            (
                "invalid type: string \"a\", expected i32 at line 1 column 9",
                "invalid type: string \"a\", expected a whole number",
            ),
            (
                "invalid type: integer `5`, expected struct JobFilter",
                "invalid type: integer `5`, expected an object",
            ),
            (
                "invalid type: integer `5`, expected string or map",
                "invalid type: integer `5`, expected a string",
            ),
            (
                "UUID parsing failed: invalid length: found 3",
                "is not a valid id (a UUID)",
            ),
        ] {
            assert_eq!(json_data_error("f", message), ("f".into(), plain.into()));
        }
        assert_eq!(
            json_data_error(".", "invalid type: integer `1`, expected a map"),
            (
                "body".into(),
                "invalid type: integer `1`, expected an object".into()
            )
        );
    }
}
