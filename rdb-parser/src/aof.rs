//! Append-only files around a snapshot: the Redis 7+ `appendonlydir` manifest (which
//! file is the base, which are incremental) and counting the RESP commands of an AOF
//! (the incremental files, or the tail after an RDB preamble), so a reader of the
//! snapshot part can say exactly what it left out.
//!
//! Sources: `aofLoadManifestFromFile` / `getAofManifestAsString` in Redis
//! [`aof.c`](https://github.com/redis/redis/blob/7.0/src/aof.c) (lines `file NAME seq N
//! type b|h|i`), and the RESP framing of `loadSingleAppendOnlyFile` there.

use std::io::{self, BufRead, Read};

/// The files a Redis 7+ append-only manifest names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    /// The base file (`type b`): an RDB (`*.base.rdb`), or an AOF (`*.base.aof`, with or
    /// without an RDB preamble).
    pub base: Option<String>,
    /// The incremental files (`type i`), in manifest order (the order Redis replays them).
    pub incremental: Vec<String>,
}

impl Manifest {
    /// Parses the manifest text; unknown keys and history files (`type h`) are ignored.
    pub fn parse(text: &str) -> Manifest {
        let mut manifest = Manifest::default();
        for line in text.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            let field = |k: &str| words.windows(2).find(|w| w[0] == k).map(|w| w[1]);
            match (field("file"), field("type")) {
                (Some(f), Some("b")) => manifest.base = Some(f.to_string()),
                (Some(f), Some("i")) => manifest.incremental.push(f.to_string()),
                _ => {}
            }
        }
        manifest
    }
}

/// What [`count_commands`] found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommandCount {
    /// Whole commands (RESP arrays of bulk strings).
    pub commands: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Bytes at the end that are not a whole command (a write cut off by a crash, which
    /// Redis' `aof-load-truncated` also drops), or where the text stopped being RESP.
    pub unparsed: u64,
}

/// Counts the RESP commands in `input` (`*N\r\n` then `N` times `$LEN\r\nBYTES\r\n`),
/// reading it once and holding no command in memory.
pub fn count_commands<R: BufRead>(mut input: R) -> io::Result<CommandCount> {
    let mut count = CommandCount::default();
    let mut line = Vec::new();
    'commands: loop {
        let start = count.bytes;
        let Some(n) = read_header(&mut input, &mut line, b'*', &mut count.bytes)? else {
            count.unparsed = count.bytes - start;
            break;
        };
        for _ in 0..n {
            let Some(len) = read_header(&mut input, &mut line, b'$', &mut count.bytes)? else {
                count.unparsed = count.bytes - start;
                break 'commands;
            };
            let want = len.saturating_add(2);
            let skipped = io::copy(&mut Read::take(&mut input, want), &mut io::sink())?;
            count.bytes += skipped;
            if skipped < want {
                count.unparsed = count.bytes - start;
                break 'commands;
            }
        }
        count.commands += 1;
    }
    // The rest of a stream that stopped being RESP.
    let rest = io::copy(&mut input, &mut io::sink())?;
    count.unparsed += rest;
    count.bytes += rest;
    Ok(count)
}

/// Reads a `<marker>NUMBER\r\n` line; `None` at the end of input or on anything else.
fn read_header<R: BufRead>(
    input: &mut R,
    line: &mut Vec<u8>,
    marker: u8,
    bytes: &mut u64,
) -> io::Result<Option<u64>> {
    line.clear();
    // A header line is short; a longer "line" is not RESP.
    let n = Read::take(&mut *input, 32).read_until(b'\n', line)?;
    *bytes += n as u64;
    let Some(digits) = line
        .strip_prefix(&[marker])
        .and_then(|l| l.strip_suffix(b"\r\n"))
    else {
        return Ok(None);
    };
    Ok(std::str::from_utf8(digits)
        .ok()
        .and_then(|d| d.parse::<u64>().ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_names_base_and_incremental_files() {
        let m = Manifest::parse(
            "file appendonly.aof.1.base.rdb seq 1 type b\n\
             file appendonly.aof.1.incr.aof seq 1 type h\n\
             file appendonly.aof.2.incr.aof seq 2 type i\n\
             file appendonly.aof.3.incr.aof seq 3 type i\n",
        );
        assert_eq!(m.base.as_deref(), Some("appendonly.aof.1.base.rdb"));
        assert_eq!(
            m.incremental,
            ["appendonly.aof.2.incr.aof", "appendonly.aof.3.incr.aof"]
        );
    }

    #[test]
    fn counts_whole_commands_and_the_cut_off_rest() -> io::Result<()> {
        let two = b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$1\r\na\r\n$2\r\n\r\n\r\n";
        let c = count_commands(&two[..])?;
        assert_eq!((c.commands, c.unparsed, c.bytes), (2, 0, two.len() as u64));
        let cut = &two[..two.len() - 3];
        let c = count_commands(cut)?;
        assert_eq!(c.commands, 1);
        assert_eq!(c.unparsed, (cut.len() - 23) as u64);
        let c = count_commands(&b"not resp at all\n"[..])?;
        assert_eq!((c.commands, c.unparsed), (0, 16));
        Ok(())
    }
}
