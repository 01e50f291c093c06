//! How a target reads its input: fields separated by NUL bytes, each read as UTF-8 (lossily),
//! so that the seeds stay readable text files.

/// The first `n` NUL-separated fields of `data` (missing ones empty; the last takes the rest,
/// NULs included).
pub fn fields(data: &[u8], n: usize) -> Vec<String> {
    let mut out: Vec<String> = data
        .splitn(n, |b| *b == 0)
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect();
    out.resize(n, String::new());
    out
}

/// The raw NUL-separated fields of `data` (for values that must be able to hold any byte).
pub fn raw_fields(data: &[u8], n: usize) -> Vec<&[u8]> {
    let mut out: Vec<&[u8]> = data.splitn(n, |b| *b == 0).collect();
    out.resize(n, &[]);
    out
}

/// `KEY=value` lines as an environment: what `${KEY}` resolves to.
pub fn env(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
