//! ABI table files (`--abi-table`), with the built-in tables to start from.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(table) = abi_tables::parse(text, "fuzzed", &|name| abi_tables::builtin(name).cloned().ok_or_else(String::new)) {
            let _ = abi_tables::matrix(&table, abi_tables::MatrixStyle::Text);
            let _ = abi_tables::c_header(&table);
        }
    }
});
