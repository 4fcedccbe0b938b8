fn main() {
    std::process::exit(emulator::Emulator::new().run_from_args());
}
