//! `rdbkit export --format jsonl` against every `versions/*.manifest.json`: the logical
//! content of each real Redis/Valkey snapshot must match what the server held.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::OnceLock;

use common::{bytes_of, show, show_bytes, strict_bytes_of};
use serde_json::{json, Value};

/// Per file, more than this many mismatches means something systematic: the rest are counted.
const MAX_REPORTED_PER_FILE: usize = 400;

/// rdbkit's JSONL output, indexed.
#[derive(Default)]
struct Export {
    keys: BTreeMap<(u64, Vec<u8>), Value>,
    functions: Vec<String>,
    /// Malformed lines, duplicate keys, ...
    problems: Vec<String>,
}

struct FileRun {
    name: String,
    manifest: Value,
    export: Result<Export, String>,
}

fn manifests() -> Vec<PathBuf> {
    let dir = common::versions_dir();
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(".manifest.json"))
        })
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no *.manifest.json in {}", dir.display());
    v
}

fn parse_export(stdout: &[u8]) -> Export {
    let mut ex = Export::default();
    let mut lines: Vec<&[u8]> = stdout.split(|b| *b == b'\n').collect();
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    for (n, line) in lines.iter().enumerate() {
        let lineno = n + 1;
        let text = String::from_utf8_lossy(line);
        let v: Value = match serde_json::from_slice(line) {
            Ok(v) => v,
            Err(e) => {
                ex.problems.push(format!(
                    "stdout line {lineno} is not JSON ({e}): {}",
                    common::clip(&text, 200)
                ));
                continue;
            }
        };
        if !v.is_object() {
            ex.problems.push(format!(
                "stdout line {lineno} is not an object: {}",
                show(&v)
            ));
            continue;
        }
        if v.get("type").and_then(Value::as_str) == Some("function") {
            match v.get("library_code").and_then(Value::as_str) {
                Some(code) => ex.functions.push(code.to_string()),
                None => ex.problems.push(format!(
                    "line {lineno}: function without string library_code: {}",
                    show(&v)
                )),
            }
            continue;
        }
        let db = v.get("db").and_then(Value::as_u64);
        let key = v.get("key").map(strict_bytes_of);
        match (db, key) {
            (Some(db), Some(Ok(key))) => {
                if ex.keys.contains_key(&(db, key.clone())) {
                    ex.problems.push(format!(
                        "line {lineno}: key {db}:{} exported twice",
                        show_bytes(&key)
                    ));
                } else {
                    ex.keys.insert((db, key), v);
                }
            }
            (_, Some(Err(e))) => ex.problems.push(format!("line {lineno}: key: {e}")),
            _ => ex.problems.push(format!(
                "line {lineno}: key line without integer db / key: {}",
                show(&v)
            )),
        }
    }
    ex
}

fn export_file(manifest_path: &PathBuf) -> FileRun {
    let name = manifest_path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .trim_end_matches(".manifest.json")
        .to_string();
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(manifest_path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", manifest_path.display())),
    )
    .unwrap_or_else(|e| panic!("{} is not JSON: {e}", manifest_path.display()));
    let rdb = manifest_path.with_file_name(format!("{name}.rdb"));
    assert!(rdb.is_file(), "{} has no {}", name, rdb.display());
    let rdb_arg = rdb.as_os_str().to_owned();
    let export = common::run_rdbkit(
        &[
            "export".as_ref(),
            rdb_arg.as_os_str(),
            "--format".as_ref(),
            "jsonl".as_ref(),
        ],
        None,
    )
    .and_then(|out| {
        if out.code() == Some(0) {
            Ok(parse_export(&out.stdout))
        } else {
            Err(format!(
                "`rdbkit export {}` failed with {}: {}",
                rdb.display(),
                out.status_text(),
                common::clip(&out.stderr_text(), 500)
            ))
        }
    });
    FileRun {
        name,
        manifest,
        export,
    }
}

/// Every fixture is exported once per test binary, shared by the tests below.
fn runs() -> &'static [FileRun] {
    static RUNS: OnceLock<Vec<FileRun>> = OnceLock::new();
    RUNS.get_or_init(|| common::par_map(&manifests(), export_file))
}

// ---------------------------------------------------------------------------------------
// Comparison. Every function appends human-readable mismatches to `out`, prefixed by
// `at` (key label and path inside the value).

fn mm(out: &mut Vec<String>, at: &str, what: &str, expected: String, got: String) {
    out.push(format!(
        "{at}: {what}\n      expected: {expected}\n      got:      {got}"
    ));
}

fn key_label(db: u64, key: &[u8]) -> String {
    format!("{db}:{}", show_bytes(key))
}

fn field<'a>(v: &'a Value, name: &str) -> &'a Value {
    v.get(name).unwrap_or(&Value::Null)
}

fn bytes_list(v: &Value, strict: bool) -> Result<Vec<Vec<u8>>, String> {
    v.as_array()
        .ok_or_else(|| format!("not an array: {}", show(v)))?
        .iter()
        .map(|x| {
            if strict {
                strict_bytes_of(x)
            } else {
                bytes_of(x)
            }
        })
        .collect()
}

fn pair_list(v: &Value) -> Result<Vec<(&Value, &Value)>, String> {
    v.as_array()
        .ok_or_else(|| format!("not an array: {}", show(v)))?
        .iter()
        .map(|p| match p.as_array().map(Vec::as_slice) {
            Some([a, b]) => Ok((a, b)),
            _ => Err(format!("not a [x, y] pair: {}", show(p))),
        })
        .collect()
}

/// Reports a decoding error of either side; returns both values when both decoded.
fn both<T>(
    out: &mut Vec<String>,
    at: &str,
    e: Result<T, String>,
    g: Result<T, String>,
) -> Option<(T, T)> {
    match (e, g) {
        (Ok(e), Ok(g)) => Some((e, g)),
        (Err(e), _) => {
            out.push(format!("{at}: cannot read the manifest value: {e}"));
            None
        }
        (_, Err(g)) => {
            out.push(format!("{at}: malformed output: {g}"));
            None
        }
    }
}

/// Elements of `a` not in `b` (multiset difference of sorted vectors).
fn minus<T: Ord + Clone>(a: &[T], b: &[T]) -> Vec<T> {
    let mut counts: BTreeMap<&T, isize> = BTreeMap::new();
    for x in b {
        *counts.entry(x).or_default() += 1;
    }
    let mut rest = Vec::new();
    for x in a {
        let c = counts.entry(x).or_default();
        if *c > 0 {
            *c -= 1;
        } else {
            rest.push(x.clone());
        }
    }
    rest
}

fn show_few<T>(items: &[T], f: impl Fn(&T) -> String) -> String {
    let mut s: Vec<String> = items.iter().take(5).map(f).collect();
    if items.len() > 5 {
        s.push(format!("… ({} in all)", items.len()));
    }
    common::clip(&format!("[{}]", s.join(", ")), 300)
}

fn cmp_multiset(out: &mut Vec<String>, at: &str, mut e: Vec<Vec<u8>>, mut g: Vec<Vec<u8>>) {
    e.sort();
    g.sort();
    if e != g {
        let missing = minus(&e, &g);
        let extra = minus(&g, &e);
        out.push(format!(
            "{at}: members differ ({} expected, {} got)\n      missing: {}\n      unexpected: {}",
            e.len(),
            g.len(),
            show_few(&missing, |b| show_bytes(b)),
            show_few(&extra, |b| show_bytes(b)),
        ));
    }
}

fn cmp_string(out: &mut Vec<String>, at: &str, m: &Value, got: &Value) {
    let g = strict_bytes_of(got);
    if let Some(ev) = m.get("value") {
        if let Some((e, g)) = both(out, at, bytes_of(ev), g) {
            if e != g {
                mm(
                    out,
                    at,
                    "string value differs",
                    show_bytes(&e),
                    show_bytes(&g),
                );
            }
        }
    } else {
        // Manifests may keep only the length of big values.
        let len = m.get("value_len").and_then(Value::as_u64);
        match (len, g) {
            (Some(len), Ok(g)) if g.len() as u64 != len => mm(
                out,
                at,
                "string length differs",
                len.to_string(),
                g.len().to_string(),
            ),
            (_, Err(g)) => out.push(format!("{at}: malformed output: {g}")),
            _ => {}
        }
    }
}

fn cmp_list(out: &mut Vec<String>, at: &str, exp: &Value, got: &Value) {
    let Some((e, g)) = both(out, at, bytes_list(exp, false), bytes_list(got, true)) else {
        return;
    };
    if e == g {
        return;
    }
    let i = e.iter().zip(&g).take_while(|(a, b)| a == b).count();
    let side = |v: &[Vec<u8>]| v.get(i).map_or("<none>".to_string(), |b| show_bytes(b));
    mm(
        out,
        at,
        &format!(
            "list differs ({} elements expected, {} got); first difference at index {i}",
            e.len(),
            g.len()
        ),
        side(&e),
        side(&g),
    );
}

fn parse_score(v: &Value, strict: bool) -> Result<f64, String> {
    let s = match v {
        Value::String(s) => s.as_str(),
        Value::Number(n) if !strict => return n.as_f64().ok_or("bad number".to_string()),
        _ => return Err(format!("score is not a string: {}", show(v))),
    };
    let f: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("score {s:?} is not a float"))?;
    // -0 and 0 are the same score.
    Ok(if f == 0.0 { 0.0 } else { f })
}

type Scored = (Vec<u8>, f64);

fn scored_list(v: &Value, strict: bool) -> Result<Vec<Scored>, String> {
    pair_list(v)?
        .into_iter()
        .map(|(m, s)| {
            let m = if strict {
                strict_bytes_of(m)?
            } else {
                bytes_of(m)?
            };
            Ok((m, parse_score(s, strict)?))
        })
        .collect()
}

fn cmp_zset(out: &mut Vec<String>, at: &str, exp: &Value, got: &Value) {
    let Some((mut e, mut g)) = both(out, at, scored_list(exp, false), scored_list(got, true))
    else {
        return;
    };
    let order = |a: &Scored, b: &Scored| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1));
    e.sort_by(order);
    g.sort_by(order);
    let same =
        |a: &Scored, b: &Scored| a.0 == b.0 && (a.1 == b.1 || (a.1.is_nan() && b.1.is_nan()));
    if e.len() == g.len() && e.iter().zip(&g).all(|(a, b)| same(a, b)) {
        return;
    }
    // total_cmp-based keys are exact after the -0 normalisation above.
    let key = |v: &[Scored]| -> Vec<(Vec<u8>, u64)> {
        v.iter().map(|(m, s)| (m.clone(), s.to_bits())).collect()
    };
    let fmt = |p: &(Vec<u8>, u64)| format!("({}, {:?})", show_bytes(&p.0), f64::from_bits(p.1));
    let missing = minus(&key(&e), &key(&g));
    let extra = minus(&key(&g), &key(&e));
    out.push(format!(
        "{at}: zset (member, score) pairs differ ({} expected, {} got)\n      missing: {}\n      unexpected: {}",
        e.len(),
        g.len(),
        show_few(&missing, fmt),
        show_few(&extra, fmt),
    ));
}

type BytePair = (Vec<u8>, Vec<u8>);

fn byte_pairs(v: &Value, strict: bool) -> Result<Vec<BytePair>, String> {
    let dec = |x: &Value| {
        if strict {
            strict_bytes_of(x)
        } else {
            bytes_of(x)
        }
    };
    pair_list(v)?
        .into_iter()
        .map(|(a, b)| Ok((dec(a)?, dec(b)?)))
        .collect()
}

fn cmp_hash(out: &mut Vec<String>, at: &str, exp: &Value, got: &Value) {
    let Some((e, g)) = both(out, at, byte_pairs(exp, false), byte_pairs(got, true)) else {
        return;
    };
    let mut gm = BTreeMap::new();
    for (f, v) in g {
        if gm.insert(f.clone(), v).is_some() {
            out.push(format!("{at}: field {} appears twice", show_bytes(&f)));
        }
    }
    let em: BTreeMap<Vec<u8>, Vec<u8>> = e.into_iter().collect();
    let missing: Vec<&Vec<u8>> = em.keys().filter(|f| !gm.contains_key(*f)).collect();
    let extra: Vec<&Vec<u8>> = gm.keys().filter(|f| !em.contains_key(*f)).collect();
    if !missing.is_empty() || !extra.is_empty() {
        out.push(format!(
            "{at}: hash fields differ ({} expected, {} got)\n      missing: {}\n      unexpected: {}",
            em.len(),
            gm.len(),
            show_few(&missing, |b| show_bytes(b)),
            show_few(&extra, |b| show_bytes(b)),
        ));
    }
    for (f, ev) in &em {
        if let Some(gv) = gm.get(f) {
            if ev != gv {
                mm(
                    out,
                    &format!("{at}[{}]", show_bytes(f)),
                    "hash value differs",
                    show_bytes(ev),
                    show_bytes(gv),
                );
            }
        }
    }
}

fn field_ttls(v: &Value, strict: bool) -> Result<BTreeSet<(Vec<u8>, i64)>, String> {
    if v.is_null() {
        return Ok(BTreeSet::new());
    }
    pair_list(v)?
        .into_iter()
        .map(|(f, ms)| {
            let f = if strict {
                strict_bytes_of(f)?
            } else {
                bytes_of(f)?
            };
            let ms = ms
                .as_i64()
                .ok_or_else(|| format!("field TTL is not an integer: {}", show(ms)))?;
            Ok((f, ms))
        })
        .collect()
}

fn cmp_field_ttls(out: &mut Vec<String>, at: &str, m: &Value, ours: &Value) {
    let e = field_ttls(field(m, "field_expires_ms"), false);
    let g = field_ttls(field(ours, "field_expires_ms"), true);
    if let Some((e, g)) = both(out, at, e, g) {
        if e != g {
            let fmt = |s: &BTreeSet<(Vec<u8>, i64)>| {
                let v: Vec<_> = s.iter().collect();
                show_few(&v, |(f, ms)| format!("({}, {ms})", show_bytes(f)))
            };
            mm(out, at, "field_expires_ms differs", fmt(&e), fmt(&g));
        }
    }
}

fn id_str(v: &Value) -> Result<String, String> {
    v.as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("stream ID is not a string: {}", show(v)))
}

type Entry = (String, Vec<Vec<u8>>);

fn stream_entries(v: &Value, strict: bool) -> Result<Vec<Entry>, String> {
    pair_list(v)?
        .into_iter()
        .map(|(id, fv)| Ok((id_str(id)?, bytes_list(fv, strict)?)))
        .collect()
}

/// Compares two scalars: always when `exact`, else only when both sides are known.
fn cmp_opt(out: &mut Vec<String>, at: &str, name: &str, e: &Value, g: &Value, exact: bool) {
    if (exact || (!e.is_null() && !g.is_null())) && e != g {
        mm(out, at, &format!("{name} differs"), show(e), show(g));
    }
}

fn by_name<'a>(
    out: &mut Vec<String>,
    at: &str,
    what: &str,
    v: &'a Value,
    strict: bool,
) -> Option<BTreeMap<Vec<u8>, &'a Value>> {
    let arr = match v.as_array() {
        Some(a) => a,
        None => {
            out.push(format!("{at}: {what} is not an array: {}", show(v)));
            return None;
        }
    };
    let mut map = BTreeMap::new();
    for item in arr {
        let name = field(item, "name");
        let name = if strict {
            strict_bytes_of(name)
        } else {
            bytes_of(name)
        };
        match name {
            Ok(n) => {
                if map.insert(n.clone(), item).is_some() {
                    out.push(format!("{at}: {what} {} appears twice", show_bytes(&n)));
                }
            }
            Err(e) => out.push(format!("{at}: {what} name: {e}")),
        }
    }
    Some(map)
}

fn name_sets_differ<T>(
    out: &mut Vec<String>,
    at: &str,
    what: &str,
    e: &BTreeMap<Vec<u8>, T>,
    g: &BTreeMap<Vec<u8>, T>,
) {
    let ek: Vec<_> = e.keys().map(|k| show_bytes(k)).collect();
    let gk: Vec<_> = g.keys().map(|k| show_bytes(k)).collect();
    if ek != gk {
        mm(
            out,
            at,
            &format!("{what} differ"),
            ek.join(", "),
            gk.join(", "),
        );
    }
}

type PelEntry = (Vec<u8>, Value, Value);

fn pel(v: &Value, strict: bool) -> Result<BTreeMap<String, PelEntry>, String> {
    let arr = v
        .as_array()
        .ok_or_else(|| format!("pel is not an array: {}", show(v)))?;
    let mut map = BTreeMap::new();
    for p in arr {
        let id = id_str(field(p, "id"))?;
        let consumer = field(p, "consumer");
        let consumer = if strict {
            strict_bytes_of(consumer)?
        } else {
            bytes_of(consumer)?
        };
        let entry = (
            consumer,
            field(p, "delivery_time_ms").clone(),
            field(p, "delivery_count").clone(),
        );
        if map.insert(id.clone(), entry).is_some() {
            return Err(format!("PEL id {id} appears twice"));
        }
    }
    Ok(map)
}

fn id_list(v: &Value) -> Result<Vec<String>, String> {
    let mut ids = v
        .as_array()
        .ok_or_else(|| format!("consumer pel is not an array: {}", show(v)))?
        .iter()
        .map(id_str)
        .collect::<Result<Vec<_>, _>>()?;
    ids.sort();
    Ok(ids)
}

fn cmp_group(out: &mut Vec<String>, at: &str, v2: bool, e: &Value, g: &Value) {
    cmp_opt(
        out,
        at,
        "last_delivered_id",
        field(e, "last_delivered_id"),
        field(g, "last_delivered_id"),
        true,
    );
    // In v2+ files entries_read is stored (-1 = unknown = null on both sides).
    cmp_opt(
        out,
        at,
        "entries_read",
        field(e, "entries_read"),
        field(g, "entries_read"),
        v2,
    );
    if let Some((ep, gp)) = both(
        out,
        at,
        pel(field(e, "pel"), false),
        pel(field(g, "pel"), true),
    ) {
        let ek: Vec<&String> = ep.keys().collect();
        let gk: Vec<&String> = gp.keys().collect();
        if ek != gk {
            mm(
                out,
                at,
                "PEL ids differ",
                format!("{ek:?}"),
                format!("{gk:?}"),
            );
        }
        for (id, (ec, et, en)) in &ep {
            let Some((gc, gt, gn)) = gp.get(id) else {
                continue;
            };
            let pat = format!("{at}.pel[{id}]");
            if ec != gc {
                mm(
                    out,
                    &pat,
                    "consumer differs",
                    show_bytes(ec),
                    show_bytes(gc),
                );
            }
            if !et.is_null() && et != gt {
                mm(out, &pat, "delivery_time_ms differs", show(et), show(gt));
            }
            if !en.is_null() && en != gn {
                mm(out, &pat, "delivery_count differs", show(en), show(gn));
            }
        }
    }
    let ec = by_name(out, at, "consumer", field(e, "consumers"), false);
    let gc = by_name(out, at, "consumer", field(g, "consumers"), true);
    let (Some(ec), Some(gc)) = (ec, gc) else {
        return;
    };
    name_sets_differ(out, at, "consumer names", &ec, &gc);
    for (name, ev) in &ec {
        let Some(gv) = gc.get(name) else { continue };
        let cat = format!("{at}.consumers[{}]", show_bytes(name));
        for t in ["seen_time_ms", "active_time_ms"] {
            cmp_opt(out, &cat, t, field(ev, t), field(gv, t), false);
        }
        if let Some((ei, gi)) = both(
            out,
            &cat,
            id_list(field(ev, "pel")),
            id_list(field(gv, "pel")),
        ) {
            if ei != gi {
                mm(
                    out,
                    &cat,
                    "consumer PEL differs",
                    format!("{ei:?}"),
                    format!("{gi:?}"),
                );
            }
        }
    }
}

fn cmp_stream(out: &mut Vec<String>, at: &str, rdb_type: Option<u64>, exp: &Value, got: &Value) {
    if !got.is_object() {
        mm(
            out,
            at,
            "stream value is not an object",
            show(exp),
            show(got),
        );
        return;
    }
    // STREAM_LISTPACKS_2 (19) / _3 (21) store these fields; older ones don't.
    let v2 = matches!(rdb_type, Some(19 | 21));
    cmp_opt(
        out,
        at,
        "length",
        field(exp, "length"),
        field(got, "length"),
        true,
    );
    cmp_opt(
        out,
        at,
        "last_generated_id",
        field(exp, "last_generated_id"),
        field(got, "last_generated_id"),
        true,
    );
    for name in [
        "max_deleted_entry_id",
        "entries_added",
        "recorded_first_entry_id",
    ] {
        let (e, g) = (field(exp, name), field(got, name));
        if v2 && g.is_null() {
            mm(
                out,
                at,
                &format!("{name} is null although a v2+ stream stores it"),
                show(e),
                show(g),
            );
        } else {
            cmp_opt(out, at, name, e, g, false);
        }
    }
    let ee = stream_entries(field(exp, "entries"), false);
    let ge = stream_entries(field(got, "entries"), true);
    if let Some((ee, ge)) = both(out, at, ee, ge) {
        if ee != ge {
            let i = ee.iter().zip(&ge).take_while(|(a, b)| a == b).count();
            let side = |v: &[Entry]| {
                v.get(i).map_or("<none>".to_string(), |(id, fv)| {
                    let fv: Vec<Value> = fv.iter().map(|b| common::bytes_to_json(b)).collect();
                    show(&json!([id, fv]))
                })
            };
            mm(
                out,
                at,
                &format!(
                    "stream entries differ ({} expected, {} got); first difference at index {i}",
                    ee.len(),
                    ge.len()
                ),
                side(&ee),
                side(&ge),
            );
        }
    }
    let eg = by_name(out, at, "group", field(exp, "groups"), false);
    let gg = by_name(out, at, "group", field(got, "groups"), true);
    let (Some(eg), Some(gg)) = (eg, gg) else {
        return;
    };
    name_sets_differ(out, at, "group names", &eg, &gg);
    for (name, ev) in &eg {
        if let Some(gv) = gg.get(name) {
            cmp_group(
                out,
                &format!("{at}.groups[{}]", show_bytes(name)),
                v2,
                ev,
                gv,
            );
        }
    }
}

fn cmp_key(out: &mut Vec<String>, at: &str, m: &Value, ours: &Value) {
    let (mt, gt) = (field(m, "type"), field(ours, "type"));
    if mt != gt {
        mm(out, at, "type differs", show(mt), show(gt));
        return;
    }
    let (me, ge) = (field(m, "expire_at_ms"), ours.get("expire_at_ms"));
    match ge {
        None => out.push(format!("{at}: expire_at_ms missing from the output")),
        Some(ge) if ge != me => mm(out, at, "expire_at_ms differs", show(me), show(ge)),
        Some(_) => {}
    }
    let Some(gv) = ours.get("value") else {
        out.push(format!("{at}: value missing from the output"));
        return;
    };
    let ev = field(m, "value");
    let vat = format!("{at}.value");
    match mt.as_str().unwrap_or_default() {
        "string" => cmp_string(out, &vat, m, gv),
        "list" => cmp_list(out, &vat, ev, gv),
        "set" => {
            if let Some((e, g)) = both(out, &vat, bytes_list(ev, false), bytes_list(gv, true)) {
                cmp_multiset(out, &vat, e, g);
            }
        }
        "zset" => cmp_zset(out, &vat, ev, gv),
        "hash" => {
            cmp_hash(out, &vat, ev, gv);
            cmp_field_ttls(out, at, m, ours);
        }
        "stream" => cmp_stream(out, &vat, m.get("rdb_type").and_then(Value::as_u64), ev, gv),
        other => {
            if ev != gv {
                mm(
                    out,
                    &vat,
                    &format!("{other} value differs"),
                    show(ev),
                    show(gv),
                );
            }
        }
    }
}

/// All mismatches between one manifest and one export.
fn compare(manifest: &Value, ex: &Export) -> Vec<String> {
    let mut out = ex.problems.clone();
    let mut expected: BTreeMap<(u64, Vec<u8>), &Value> = BTreeMap::new();
    for k in field(manifest, "keys").as_array().into_iter().flatten() {
        let db = k.get("db").and_then(Value::as_u64);
        let key = k.get("key").map(bytes_of);
        match (db, key) {
            (Some(db), Some(Ok(key))) => {
                expected.insert((db, key), k);
            }
            _ => out.push(format!("manifest key entry unreadable: {}", show(k))),
        }
    }
    for ((db, key), m) in &expected {
        let at = key_label(*db, key);
        match ex.keys.get(&(*db, key.clone())) {
            Some(ours) => cmp_key(&mut out, &at, m, ours),
            None => out.push(format!(
                "{at}: missing from the export (manifest type {})",
                show(field(m, "type"))
            )),
        }
    }
    for ((db, key), ours) in &ex.keys {
        if !expected.contains_key(&(*db, key.clone())) {
            out.push(format!(
                "{}: exported but not in the manifest: {}",
                key_label(*db, key),
                show(ours)
            ));
        }
    }
    let mf: BTreeSet<&str> = field(manifest, "functions")
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f.get("library_code").and_then(Value::as_str))
        .collect();
    let gf: BTreeSet<&str> = ex.functions.iter().map(String::as_str).collect();
    if ex.functions.len() != gf.len() {
        out.push("functions: a library was exported twice".to_string());
    }
    if mf != gf {
        let fmt = |s: &BTreeSet<&str>| {
            let v: Vec<_> = s.iter().collect();
            show_few(&v, |c| show(&json!(c)))
        };
        mm(
            &mut out,
            "functions",
            "library_code set differs",
            fmt(&mf),
            fmt(&gf),
        );
    }
    out
}

fn report(name: &str, mismatches: &[String]) -> String {
    let mut s = format!("== {name}: {} mismatch(es)\n", mismatches.len());
    for m in mismatches.iter().take(MAX_REPORTED_PER_FILE) {
        s.push_str("  - ");
        s.push_str(m);
        s.push('\n');
    }
    if mismatches.len() > MAX_REPORTED_PER_FILE {
        s.push_str(&format!(
            "  … {} more\n",
            mismatches.len() - MAX_REPORTED_PER_FILE
        ));
    }
    s
}

#[test]
fn export_matches_every_manifest() {
    let mut failures = Vec::new();
    for run in runs() {
        let mismatches = match &run.export {
            Ok(ex) => compare(&run.manifest, ex),
            Err(e) => vec![e.clone()],
        };
        if !mismatches.is_empty() {
            failures.push(report(&run.name, &mismatches));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} fixtures differ from their manifests:\n{}",
        failures.len(),
        runs().len(),
        failures.join("\n")
    );
}

#[test]
fn per_db_key_counts_match_manifests() {
    let mut failures = Vec::new();
    for run in runs() {
        let ex = match &run.export {
            Ok(ex) => ex,
            Err(e) => {
                failures.push(format!("{}: {e}", run.name));
                continue;
            }
        };
        let mut got: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
        for ((db, _), v) in &ex.keys {
            let c = got.entry(*db).or_default();
            c.0 += 1;
            if !field(v, "expire_at_ms").is_null() {
                c.1 += 1;
            }
        }
        let mut expected: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
        for (db, c) in field(&run.manifest, "dbs")
            .as_object()
            .into_iter()
            .flatten()
        {
            let db: u64 = db
                .parse()
                .unwrap_or_else(|_| panic!("{}: db {db:?}", run.name));
            let n = |k: &str| c.get(k).and_then(Value::as_u64).unwrap_or(0);
            expected.insert(db, (n("keys"), n("expires")));
        }
        if got != expected {
            failures.push(format!(
                "{}: per-db (keys, expires) expected {expected:?}, got {got:?}",
                run.name
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---------------------------------------------------------------------------------------
// Self-test of the comparator: a faithful rendering of a manifest must compare clean, and
// each deliberate corruption of it must be caught. Guards against a test that always passes.

/// The manifest rendered the way the CLI contract says rdbkit prints it.
fn contract_lines(manifest: &Value) -> Vec<Value> {
    let mut lines = Vec::new();
    for k in field(manifest, "keys").as_array().into_iter().flatten() {
        let ty = field(k, "type").as_str().unwrap_or_default();
        let mut value = field(k, "value").clone();
        if ty == "zset" {
            if let Some(canon) = k.get("scores_canonical").and_then(Value::as_array) {
                for (pair, s) in value.as_array_mut().unwrap().iter_mut().zip(canon) {
                    pair[1] = s.clone();
                }
            }
        }
        if ty == "stream" {
            let o = value.as_object_mut().unwrap();
            for drop in ["internals", "groups_source"] {
                o.remove(drop);
            }
            for f in [
                "max_deleted_entry_id",
                "entries_added",
                "recorded_first_entry_id",
            ] {
                o.entry(f).or_insert(Value::Null);
            }
            for g in o["groups"].as_array_mut().unwrap() {
                let g = g.as_object_mut().unwrap();
                g.remove("lag");
                g.entry("entries_read").or_insert(Value::Null);
                for c in g["consumers"].as_array_mut().unwrap() {
                    let c = c.as_object_mut().unwrap();
                    c.remove("seen_time_ms_approx");
                    c.entry("active_time_ms").or_insert(Value::Null);
                }
            }
        }
        let mut line = json!({
            "db": k["db"], "key": k["key"], "type": ty,
            "expire_at_ms": k["expire_at_ms"], "value": value,
        });
        if ty == "hash" {
            line["field_expires_ms"] = k.get("field_expires_ms").cloned().unwrap_or(json!([]));
        }
        lines.push(line);
    }
    for f in field(manifest, "functions")
        .as_array()
        .into_iter()
        .flatten()
    {
        lines.push(json!({"type": "function", "library_code": f["library_code"]}));
    }
    lines
}

fn to_jsonl(lines: &[Value]) -> Vec<u8> {
    let mut s = String::new();
    for l in lines {
        s.push_str(&l.to_string());
        s.push('\n');
    }
    s.into_bytes()
}

fn find_line<'a>(lines: &'a mut [Value], key: &str) -> &'a mut Value {
    lines
        .iter_mut()
        .find(|l| l["db"] == 0 && l["key"] == key)
        .unwrap_or_else(|| panic!("self-test: no key {key}"))
}

fn stream_v(lines: &mut [Value]) -> &mut Value {
    &mut find_line(lines, "stream:basic")["value"]
}

#[test]
fn comparator_accepts_faithful_output_and_catches_corruption() {
    let paths = manifests();
    for p in &paths {
        let m: Value = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
        let found = compare(&m, &parse_export(&to_jsonl(&contract_lines(&m))));
        assert!(
            found.is_empty(),
            "{}: faithful output flagged:\n{}",
            p.display(),
            found.join("\n")
        );
    }

    let path = paths
        .iter()
        .find(|p| p.ends_with("redis-7.4.1.manifest.json"))
        .expect("redis-7.4.1 manifest");
    let m: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let base = contract_lines(&m);
    type Mutation = (&'static str, bool, fn(&mut Vec<Value>));
    // (what, must be flagged, mutation)
    let cases: Vec<Mutation> = vec![
        ("drop a key", true, |l| {
            l.remove(0);
        }),
        ("duplicate a key", true, |l| {
            let x = l[3].clone();
            l.push(x);
        }),
        ("extra key", true, |l| {
            let mut x = l[3].clone();
            x["key"] = json!("not-in-manifest");
            l.push(x);
        }),
        ("string value", true, |l| {
            find_line(l, "str:ascii")["value"] = json!("other");
        }),
        ("binary string one byte off", true, |l| {
            let v = &mut find_line(l, "str:random:100")["value"]["hex"];
            let s = v.as_str().unwrap().to_string();
            *v = json!(format!("{}00", &s[..s.len() - 2]));
        }),
        ("valid UTF-8 key written as hex", true, |l| {
            find_line(l, "str:ascii")["key"] = json!({"hex": "7374723a6173636969"});
        }),
        ("db number", true, |l| {
            find_line(l, "str:ascii")["db"] = json!(2);
        }),
        ("type", true, |l| {
            find_line(l, "list:ints")["type"] = json!("set");
        }),
        ("expire_at_ms", true, |l| {
            find_line(l, "ttl:str:ms")["expire_at_ms"] = json!(4102568256788_i64);
        }),
        ("expire_at_ms dropped", true, |l| {
            find_line(l, "ttl:str:ms")["expire_at_ms"] = Value::Null;
        }),
        ("list order", true, |l| {
            find_line(l, "list:small")["value"]
                .as_array_mut()
                .unwrap()
                .swap(0, 1);
        }),
        ("list element dropped", true, |l| {
            find_line(l, "list:large")["value"]
                .as_array_mut()
                .unwrap()
                .pop();
        }),
        ("set member dropped", true, |l| {
            find_line(l, "set:small:strings")["value"]
                .as_array_mut()
                .unwrap()
                .pop();
        }),
        ("set member replaced", true, |l| {
            find_line(l, "set:intset:int64")["value"][0] = json!("-2");
        }),
        ("zset score one ulp off", true, |l| {
            let v = &mut find_line(l, "zset:small")["value"];
            for p in v.as_array_mut().unwrap() {
                if p[0] == "tenth" {
                    p[1] = json!("0.10000000000000002");
                }
            }
        }),
        ("zset inf sign", true, |l| {
            let v = &mut find_line(l, "zset:small")["value"];
            for p in v.as_array_mut().unwrap() {
                if p[0] == "pos-inf" {
                    p[1] = json!("-inf");
                }
            }
        }),
        ("zset score as a number", true, |l| {
            find_line(l, "zset:intmembers")["value"][0][1] = json!(-10.0);
        }),
        ("zset %.17g spelling is the same score", false, |l| {
            let v = &mut find_line(l, "zset:small")["value"];
            for p in v.as_array_mut().unwrap() {
                if p[0] == "tenth" {
                    p[1] = json!("0.10000000000000001");
                }
                if p[0] == "huge" {
                    p[1] = json!("1e308");
                }
            }
        }),
        ("-0 equals 0", false, |l| {
            find_line(l, "zset:negzero")["value"][0][1] = json!("-0");
        }),
        ("zset order is free", false, |l| {
            find_line(l, "zset:small")["value"]
                .as_array_mut()
                .unwrap()
                .reverse();
        }),
        ("set and hash order is free", false, |l| {
            find_line(l, "set:large:strings")["value"]
                .as_array_mut()
                .unwrap()
                .reverse();
            find_line(l, "hash:small")["value"]
                .as_array_mut()
                .unwrap()
                .reverse();
        }),
        ("hash value", true, |l| {
            find_line(l, "hash:small")["value"][0][1] = json!("x");
        }),
        ("hash field dropped", true, |l| {
            find_line(l, "hash:large")["value"]
                .as_array_mut()
                .unwrap()
                .pop();
        }),
        ("field TTL dropped", true, |l| {
            find_line(l, "hash:hfe:small")["field_expires_ms"]
                .as_array_mut()
                .unwrap()
                .pop();
        }),
        ("field TTL value", true, |l| {
            find_line(l, "hash:hfe:all")["field_expires_ms"][0][1] = json!(1);
        }),
        ("field_expires_ms absent on a hash with TTLs", true, |l| {
            find_line(l, "hash:hfe:small")
                .as_object_mut()
                .unwrap()
                .remove("field_expires_ms");
        }),
        (
            "field_expires_ms absent on a hash without TTLs",
            false,
            |l| {
                find_line(l, "hash:small")
                    .as_object_mut()
                    .unwrap()
                    .remove("field_expires_ms");
            },
        ),
        ("stream entry value", true, |l| {
            stream_v(l)["entries"][1][1][1] = json!("entry-x");
        }),
        ("stream length", true, |l| {
            stream_v(l)["length"] = json!(10);
        }),
        ("stream last_generated_id", true, |l| {
            stream_v(l)["last_generated_id"] = json!("1700000009999-8");
        }),
        ("stream entries_added", true, |l| {
            stream_v(l)["entries_added"] = json!(49);
        }),
        ("v3 stream max_deleted_entry_id null", true, |l| {
            stream_v(l)["max_deleted_entry_id"] = Value::Null;
        }),
        ("group entries_read", true, |l| {
            stream_v(l)["groups"][2]["entries_read"] = json!(3);
        }),
        ("group entries_read unknown vs known", true, |l| {
            stream_v(l)["groups"][0]["entries_read"] = json!(0);
        }),
        ("group dropped", true, |l| {
            stream_v(l)["groups"].as_array_mut().unwrap().pop();
        }),
        ("PEL delivery_count", true, |l| {
            stream_v(l)["groups"][0]["pel"][1]["delivery_count"] = json!(9);
        }),
        ("PEL delivery_time_ms", true, |l| {
            stream_v(l)["groups"][0]["pel"][1]["delivery_time_ms"] = json!(1);
        }),
        ("PEL consumer", true, |l| {
            stream_v(l)["groups"][0]["pel"][1]["consumer"] = json!("c2");
        }),
        ("consumer PEL", true, |l| {
            stream_v(l)["groups"][0]["consumers"][0]["pel"]
                .as_array_mut()
                .unwrap()
                .pop();
        }),
        ("consumer seen_time_ms", true, |l| {
            stream_v(l)["groups"][0]["consumers"][0]["seen_time_ms"] = json!(5);
        }),
        ("consumer dropped", true, |l| {
            stream_v(l)["groups"][0]["consumers"]
                .as_array_mut()
                .unwrap()
                .pop();
        }),
        ("function dropped", true, |l| {
            let i = l.iter().position(|x| x["type"] == "function").unwrap();
            l.remove(i);
        }),
        ("function code", true, |l| {
            let i = l.iter().position(|x| x["type"] == "function").unwrap();
            l[i]["library_code"] = json!("#!lua name=x\n");
        }),
    ];
    let mut wrong = Vec::new();
    for (what, must_flag, mutate) in cases {
        let mut lines = base.clone();
        mutate(&mut lines);
        let found = compare(&m, &parse_export(&to_jsonl(&lines)));
        if must_flag && found.is_empty() {
            wrong.push(format!("not caught: {what}"));
        }
        if !must_flag && !found.is_empty() {
            wrong.push(format!("wrongly flagged: {what}: {}", found.join("; ")));
        }
    }
    let mut lines = base.clone();
    lines.push(json!("not an object"));
    let mut bytes = to_jsonl(&lines);
    bytes.extend_from_slice(b"{truncated\n");
    if compare(&m, &parse_export(&bytes)).len() < 2 {
        wrong.push("malformed lines not caught".to_string());
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
