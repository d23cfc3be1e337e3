//! Module values (type 7, `MODULE_2`) and the module opcode stream they share with
//! `MODULE_AUX` records.
//!
//! A module value is `len module_id` followed by opcodes (`RDB_MODULE_OPCODE_*` in
//! `rdb.h`: 1 SINT, 2 UINT, 3 FLOAT, 4 DOUBLE, 5 STRING) until opcode 0 (EOF), which is
//! what lets a reader skip a value without the module (`rdbLoadCheckModuleValue`).
//! Module IDs are 9 characters of a 64-symbol set plus a 10-bit encoding version
//! (`moduleTypeNameByID` in Redis `module.c`).

use std::fmt;

use crate::error::{Error, ErrorKind, Result};
use crate::reader::Cursor;

const CHARSET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// A module value, kept as raw bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ModuleValue<'a> {
    /// The 64-bit module type ID.
    pub module_id: u64,
    /// The value's bytes after the type byte (module ID and opcode stream).
    pub raw: &'a [u8],
}

impl fmt::Debug for ModuleValue<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModuleValue")
            .field("name", &self.name())
            .field("encver", &self.encoding_version())
            .field("len", &self.raw.len())
            .finish()
    }
}

/// The 9-character type name encoded in a module ID.
pub fn module_name(module_id: u64) -> String {
    let mut id = module_id >> 10;
    let mut name = [0u8; 9];
    for slot in name.iter_mut().rev() {
        *slot = CHARSET[(id & 63) as usize];
        id >>= 6;
    }
    String::from_utf8_lossy(&name).into_owned()
}

impl<'a> ModuleValue<'a> {
    pub(crate) fn read(cur: &mut Cursor<'a>) -> Result<ModuleValue<'a>> {
        let start = cur.position();
        let module_id = cur.read_len("module ID")?;
        skip_opcodes(cur)?;
        Ok(ModuleValue {
            module_id,
            raw: cur.since(start),
        })
    }

    /// The module type name (`ReJSON-RL`, `hellotype`, ...).
    pub fn name(&self) -> String {
        module_name(self.module_id)
    }

    /// The module's encoding version for this value.
    pub fn encoding_version(&self) -> u64 {
        self.module_id & 1023
    }
}

/// Skips a module opcode stream up to and including its EOF opcode.
pub(crate) fn skip_opcodes(cur: &mut Cursor<'_>) -> Result<()> {
    loop {
        let at = cur.offset();
        match cur.read_len("module opcode")? {
            0 => return Ok(()),
            1 | 2 => {
                cur.read_len("module integer")?;
            }
            3 => cur.skip(4, "module float")?,
            4 => cur.skip(8, "module double")?,
            5 => cur.skip_string("module string")?,
            _ => return Err(Error::new(ErrorKind::Corrupt, at, "module opcode (0-5)")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        // "hellotype", encver 0 as written by the example module.
        let name = b"hellotype";
        let mut id: u64 = 0;
        for &c in name {
            let idx = CHARSET.iter().position(|&x| x == c).unwrap_or(0) as u64;
            id = (id << 6) | idx;
        }
        let id = (id << 10) | 3;
        assert_eq!(module_name(id), "hellotype");
        let v = ModuleValue {
            module_id: id,
            raw: &[],
        };
        assert_eq!(v.encoding_version(), 3);
    }
}
