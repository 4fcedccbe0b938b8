module emu/bench

go 1.19
