#!/bin/sh
# Seeds the fuzzers' corpora from what the project builds and ships: the
# test guests (built by the test suite into target/) and the ABI tables.
# Nothing here is committed (see .gitignore).
set -eu
cd "$(dirname "$0")"
guests=../target/x86_64-unknown-linux-gnu/guests
[ -d "$guests" ] || { echo "build the test guests first: cargo test --test runtime" >&2; exit 1; }
mkdir -p corpus/elf_headers corpus/elf_load corpus/table_parse
for g in "$guests"/*; do
    [ -f "$g" ] && [ -x "$g" ] || continue
    cp "$g" corpus/elf_headers/
    cp "$g" corpus/elf_load/
done
printf '#!/bin/sh -x\n' > corpus/elf_headers/script
cp ../abi-tables/linux-x86_64 ../abi-tables/examples/linux-shuffled corpus/table_parse/
