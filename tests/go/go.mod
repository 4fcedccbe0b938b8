module emu/tests

go 1.19
